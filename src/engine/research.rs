//! Scheduling the research plane: which families the configuration and
//! the mode allow, which have work ready (ideas, incidents, audit requests,
//! or a drained backlog to audit), which one runs next, what `stub` mode
//! records instead of running, and whether `AUTONOMY_COMPLETE` is to be
//! obeyed.

use std::path::Path;

use serde::Serialize;
use serde_json::json;

use crate::compile::plan::FrozenPlan;
use crate::defs::clock;
use crate::defs::config::ResearchMode;
use crate::defs::layout::{self, Layout, StopMarker};
use crate::defs::research::ResearchFamily;
use crate::interp::Runtime;
use crate::store::events::{EventKind, HandoffEvent, PlaneEvent};
use crate::store::queue::Queue;
use crate::store::research::{self as items, Rejected, WorkItem};
use crate::store::workspace::Workspace;
use crate::store::{atomic, runs};

use super::EngineError;

/// What the research plane would do now.
pub enum Ready {
    Run {
        item: WorkItem,
        reason: &'static str,
    },
    Nothing,
}

/// One family's intake, as scanned.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FamilyScan {
    pub family: ResearchFamily,
    /// Whether the research mode (or the plan's mode) lets it run.
    pub enabled: bool,
    pub ready: bool,
    pub item_count: usize,
    pub first_item: Option<WorkItem>,
    /// The pending items in the order they run (the first
    /// [`LISTED_ITEMS`]).
    pub items: Vec<WorkItem>,
    /// For audits: whether a drained backlog is due for an audit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_due: Option<bool>,
    /// Files in the intake that cannot be taken in.
    pub rejected: Vec<Rejected>,
    /// Where the family's work lives, relative to the workspace.
    pub contract_paths: Vec<String>,
    /// The same, absolute (v0.2.0's key).
    pub queue_paths: Vec<String>,
    /// Always `research`: the research plane owns the family's queue.
    pub queue_owner: String,
    /// Always empty: one research run at a time holds the plane's lock
    /// (v0.2.0 recorded per-item ownerships).
    pub ownerships: Vec<String>,
}

/// Which families may run, and why: the plan holds a loop for exactly the
/// families `[research] mode` (or, in `stub` mode, the plan's mode) lets
/// run; without a plan the config alone decides.
pub fn enabled(ws: &Workspace, plan: Option<&FrozenPlan>) -> (Vec<ResearchFamily>, &'static str) {
    let why = match ws.config.research.mode {
        ResearchMode::Auto => "auto",
        ResearchMode::Stub => "mode-selects-research-loop",
        _ => "forced-by-config",
    };
    let families = match plan {
        Some(p) => p.content.research.keys().copied().collect(),
        None => match ws.config.research.mode {
            ResearchMode::Auto => ResearchFamily::ALL.to_vec(),
            ResearchMode::Goalspec => vec![ResearchFamily::Goalspec],
            ResearchMode::Incident => vec![ResearchFamily::Incident],
            ResearchMode::Audit => vec![ResearchFamily::Audit],
            ResearchMode::Stub => Vec::new(),
        },
    };
    // `auto` order: incidents, ideas, audits.
    let families = ResearchFamily::ALL
        .into_iter()
        .filter(|f| families.contains(f))
        .collect();
    (families, why)
}

/// Every family's intake now.
/// How many pending items a scan lists.
pub const LISTED_ITEMS: usize = 20;

pub fn scan(
    ws: &Workspace,
    queue: &Queue,
    plan: Option<&FrozenPlan>,
) -> Result<Vec<FamilyScan>, EngineError> {
    let (on, _) = enabled(ws, plan);
    let mut out = Vec::new();
    for family in ResearchFamily::ALL {
        let (pending, rejected) = items::pending(&ws.agents, family);
        let paths = contract_paths(family);
        let mut scan = FamilyScan {
            family,
            enabled: on.contains(&family),
            ready: !pending.is_empty(),
            item_count: pending.len(),
            items: pending.iter().take(LISTED_ITEMS).cloned().collect(),
            first_item: pending.into_iter().next(),
            audit_due: None,
            rejected,
            queue_paths: paths
                .iter()
                .map(|p| ws.root.join(p).display().to_string())
                .collect(),
            queue_owner: "research".into(),
            ownerships: Vec::new(),
            contract_paths: paths,
        };
        if family == ResearchFamily::Audit {
            let due = audit_due(ws, queue)?;
            scan.audit_due = Some(due);
            if scan.first_item.is_none() && due {
                scan.ready = true;
                scan.item_count = 1;
                scan.first_item = Some(items::automatic_audit());
                scan.items = scan.first_item.iter().cloned().collect();
            }
        }
        out.push(scan);
    }
    Ok(out)
}

fn contract_paths(family: ResearchFamily) -> Vec<String> {
    let dirs: &[&str] = match family {
        ResearchFamily::Goalspec => &[
            layout::IDEAS_RAW,
            layout::IDEAS_FINISHED,
            layout::IDEAS_BLOCKED,
            layout::SPECS,
        ],
        ResearchFamily::Incident => &[
            layout::INCIDENTS_INCOMING,
            layout::INCIDENTS_ARCHIVED,
            layout::INCIDENTS_BLOCKED,
        ],
        ResearchFamily::Audit => &[
            layout::AUDIT_INCOMING,
            layout::AUDIT_PASSED,
            layout::AUDIT_FAILED,
            layout::COMPLETION_DECISION,
        ],
    };
    dirs.iter().map(|d| format!("agents/{d}")).collect()
}

/// The archive's size when the execution plane has drained its work:
/// nothing active, queued, running or frozen, and something archived. What
/// an audit and `execution.run_update_on_empty` wait for; each compares
/// the size with the one it last ran for.
pub fn drained(ws: &Workspace, queue: &Queue) -> Result<Option<u64>, EngineError> {
    // Cheapest first: this runs before every task (the backlog depth is
    // remembered, the rest are a stat or a small read).
    if queue.backlog_depth()? > 0 {
        return Ok(None);
    }
    let archived = items::archive_bytes(&ws.agents);
    if archived == 0 || queue.active()?.is_some() {
        return Ok(None);
    }
    // Nothing was ever done: there is nothing to look at.
    let drained = queue.archive_has_cards()
        && runs::active(&ws.agents)
            .map_err(EngineError::io("active_run.json"))?
            .is_none()
        && queue.frozen_batches()?.is_empty();
    Ok(drained.then_some(archived))
}

/// Whether the execution plane has drained work that no audit has looked
/// at (the archive changed since the last audit), and the failures in a
/// row are under the bound.
fn audit_due(ws: &Workspace, queue: &Queue) -> Result<bool, EngineError> {
    let cfg = &ws.config.research;
    if !cfg.audit_on_empty {
        return Ok(false);
    }
    let Some(archived) = drained(ws, queue)? else {
        return Ok(false);
    };
    let summary = items::audit_summary(&ws.agents);
    Ok(summary.consecutive_failures < cfg.audit_max_failures
        && (!summary.last_outcome.decided() || summary.last_outcome.archive_bytes != archived))
}

/// The next research item to run, or nothing; in `stub` mode (with no
/// research loop in the plan's mode) ready items are recorded as deferred.
pub fn select(
    ws: &Workspace,
    rt: &Runtime,
    plan: &FrozenPlan,
    trigger: &str,
) -> Result<Ready, EngineError> {
    let scans = scan(ws, &rt.queue, Some(plan))?;
    let ready: Vec<&FamilyScan> = scans.iter().filter(|s| s.ready).collect();
    if ready.is_empty() {
        return Ok(Ready::Nothing);
    }
    let (_, why) = enabled(ws, Some(plan));
    if ready.iter().any(|s| s.enabled) {
        // Reported only when it leads to a run: an idle `stub` workspace
        // scans at every start and must not fill the log.
        rt.event(
            EventKind::research(PlaneEvent::ScanCompleted),
            json!({
                "trigger": trigger,
                "goalspec_ready": scans.iter().any(|s| s.family == ResearchFamily::Goalspec && s.ready),
                "incident_ready": scans.iter().any(|s| s.family == ResearchFamily::Incident && s.ready),
                "audit_ready": scans.iter().any(|s| s.family == ResearchFamily::Audit && s.ready),
            }),
        );
    }
    match ready.iter().find(|s| s.enabled) {
        Some(s) => {
            let item = s.first_item.clone().expect("a ready family has an item");
            if item.family == ResearchFamily::Audit && item.path.is_none() {
                rt.event(
                    EventKind::Handoff(HandoffEvent::BacklogEmptyAudit),
                    json!({"backlog_depth": 0, "archive_bytes": items::archive_bytes(&ws.agents)}),
                );
            }
            let reason = match (why, item.family) {
                ("forced-by-config", _) => "forced-by-config",
                ("mode-selects-research-loop", _) => "mode-selects-research-loop",
                (_, ResearchFamily::Incident) => "incident-queue-ready",
                (_, ResearchFamily::Goalspec) => "goal-or-spec-queue-ready",
                (_, ResearchFamily::Audit) => "audit-queue-ready",
            };
            Ok(Ready::Run { item, reason })
        }
        None => {
            for s in ready {
                if let Some(item) = &s.first_item {
                    defer(ws, rt, item)?;
                }
            }
            Ok(Ready::Nothing)
        }
    }
}

/// The key a deferred request is recorded under, so that it is recorded
/// once: the item's file, or for an automatic audit the archive it audits.
fn defer_key(ws: &Workspace, item: &WorkItem) -> String {
    match &item.path {
        Some(_) => format!("{}-{}", item.family, item.id),
        None => format!("audit-{}", items::archive_bytes(&ws.agents)),
    }
}

/// Records a request the research plane does not run (`stub` mode, spec
/// §5.7): a breadcrumb in `agents/.deferred/` and two events, once.
fn defer(ws: &Workspace, rt: &Runtime, item: &WorkItem) -> Result<(), EngineError> {
    let key = defer_key(ws, item);
    let dir = Layout::of(&ws.agents).rel(layout::DEFERRED);
    let suffix = format!("__{key}.json");
    if deferred(&ws.agents).iter().any(|d| d.ends_with(&suffix)) {
        return Ok(());
    }
    let event_type = match item.family {
        ResearchFamily::Goalspec => "handoff.idea_submitted",
        ResearchFamily::Incident => "handoff.needs_research",
        ResearchFamily::Audit => "handoff.backlog_empty_audit",
    };
    let name = format!(
        "{}{suffix}",
        crate::defs::clock::now().strftime("%Y-%m-%dT%H-%M-%SZ")
    );
    let path = dir.join(&name);
    let breadcrumb = json!({
        "event_type": event_type,
        "received_at": clock::now_iso(),
        "status": "deferred",
        "queue_family": item.family,
        "handoff": {"source_plane": "execution", "target_plane": "research"},
        "payload": item,
    });
    atomic::write(
        &path,
        (serde_json::to_string_pretty(&breadcrumb).expect("serialises") + "\n").as_bytes(),
    )
    .map_err(EngineError::io(format!("cannot write {}", path.display())))?;
    rt.event(
        EventKind::research(PlaneEvent::Received),
        json!({"source_event": event_type, "queue_family": item.family, "item_id": item.id}),
    );
    rt.event(
        EventKind::research(PlaneEvent::Deferred),
        json!({
            "source_event": event_type,
            "breadcrumb_path": format!("agents/{}/{name}", layout::DEFERRED),
            "storage_kind": "breadcrumb",
            "pending_count": deferred(&ws.agents).len(),
            "queue_family": item.family,
        }),
    );
    Ok(())
}

/// Breadcrumb file names in `agents/.deferred/`, oldest first.
pub fn deferred(agents: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(Layout::of(agents).rel(layout::DEFERRED))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Whether `AUTONOMY_COMPLETE` is to be obeyed, and why (spec §5.7: the
/// marker counts only with a PASS decision behind it).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Completion {
    pub marker_path: String,
    pub marker_present: bool,
    /// The latest decision (`PASS`, `FAIL`), if any.
    pub latest_decision: Option<String>,
    /// Whether the latest decision allows completion (it is PASS).
    pub completion_allowed: bool,
    /// Marker present, latest decision PASS, and no task active or queued.
    pub marker_honored: bool,
    /// `honored`, `marker_missing`, `decision_missing`, `decision_not_pass`
    /// or `work_pending`.
    pub reason: String,
}

pub fn completion(ws: &Workspace, queue: &Queue) -> Completion {
    let agents = &ws.agents;
    let marker_present = Layout::of(agents)
        .stop_marker(StopMarker::AutonomyComplete)
        .exists();
    let latest_decision =
        items::completion_decision(agents).and_then(|d| d["decision"].as_str().map(str::to_string));
    let pending =
        || queue.active().ok().flatten().is_some() || queue.backlog_depth().unwrap_or(0) > 0;
    let reason = match (&latest_decision, marker_present) {
        (_, false) => "marker_missing",
        (None, true) => "decision_missing",
        (Some(d), true) if d != "PASS" => "decision_not_pass",
        _ if pending() => "work_pending",
        _ => "honored",
    };
    Completion {
        marker_path: format!("agents/{}", StopMarker::AutonomyComplete.file_name()),
        marker_present,
        completion_allowed: latest_decision.as_deref() == Some("PASS"),
        latest_decision,
        marker_honored: reason == "honored",
        reason: reason.to_string(),
    }
}
