//! `research` and `research history`: what the research plane is set to
//! do, what is ready in each family, what it deferred, the research run in
//! progress, the latest completion decision, and the research runs so far.

use serde::Serialize;
use serde_json::Value;

use crate::defs::config::ResearchMode;
use crate::defs::layout;
use crate::defs::research::ResearchFamily;
use crate::defs::stage_kind::Plane;
pub use crate::engine::research::FamilyScan;
use crate::engine::research::{self, Completion};
use crate::store::queue::Queue;
use crate::store::research::{self as items, AuditSummary, EffectsApplied, WorkItem};
use crate::store::runs::{self, ActiveRun, RunDir};
use crate::store::status as status_file;

use super::{Result, Workspace};

/// `research --json`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ResearchReport {
    pub config_path: String,
    pub configured_mode: ResearchMode,
    pub configured_idle_mode: crate::defs::config::IdleMode,
    /// The families allowed to run, and why (`auto`, `forced-by-config`,
    /// `mode-selects-research-loop`; none in `stub` mode).
    pub enabled_families: Vec<ResearchFamily>,
    pub enabled_reason: String,
    /// The research status marker.
    pub status: String,
    /// Per family (incident, goalspec, audit — `auto`'s order).
    pub queue_families: Vec<FamilyScan>,
    pub active_run: Option<ActiveRun>,
    /// Breadcrumbs of requests `stub` mode recorded instead of running.
    pub deferred_requests: Vec<String>,
    pub deferred_breadcrumb_count: usize,
    pub latest_completion_decision: Option<Value>,
    pub audit_summary: AuditSummary,
    pub audit_summary_path: String,
    pub audit_history_path: String,
    pub completion_state: Completion,
    /// Set when the plan does not compile (families then read as disabled
    /// unless the config alone enables them).
    pub plan_problem: Option<String>,
    /// Always `live`: the report is read from the stores now (v0.2.0 could
    /// answer from a snapshot).
    pub source_kind: String,
    /// Always null: audit gate decisions are part of the audit's
    /// completion decision (`latest_completion_decision`).
    pub latest_gate_decision: Option<Value>,
    /// Always null: an audit FAIL's remediation is the incident it files
    /// (v0.2.0 wrote a separate remediation record).
    pub latest_audit_remediation: Option<Value>,
    /// v0.2.0's research governors, each `not_applicable` here.
    pub governance: super::research_compat::Governance,
    /// v0.2.0's research runtime snapshot, from the facts above.
    pub runtime: super::research_compat::Runtime,
}

pub fn report(ws: &Workspace) -> Result<ResearchReport> {
    let queue = Queue::new(&ws.agents);
    let (plan, plan_problem) = match crate::engine::plan::current(ws, false) {
        Ok(p) => (Some(p), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let (enabled_families, why) = research::enabled(ws, plan.as_ref());
    let queue_families = research::scan(ws, &queue, plan.as_ref())?;
    let deferred: Vec<String> = research::deferred(&ws.agents)
        .into_iter()
        .map(|n| format!("agents/{}/{n}", layout::DEFERRED))
        .collect();
    let active_run = runs::active_in(&ws.agents, Plane::Research).ok().flatten();
    let enabled_reason = if enabled_families.is_empty() {
        "stub: requests are recorded as deferred, not run".to_string()
    } else {
        why.to_string()
    };
    let runtime = super::research_compat::runtime(
        &crate::defs::serde_name(&ws.config.research.mode),
        &enabled_reason,
        &queue_families,
        &deferred,
        active_run.as_ref().map(|r| r.run_id.clone()),
        queue.has_cards(crate::defs::layout::TaskStore::Blocker),
    );
    Ok(ResearchReport {
        config_path: ws.config_path.display().to_string(),
        configured_mode: ws.config.research.mode,
        configured_idle_mode: ws.config.research.idle_mode,
        enabled_reason,
        enabled_families,
        status: status_file::read(&ws.agents, Plane::Research)
            .map_or_else(|e| format!("INVALID ({e})"), |m| m.to_string()),
        queue_families,
        active_run,
        deferred_breadcrumb_count: deferred.len(),
        deferred_requests: deferred,
        latest_completion_decision: items::completion_decision(&ws.agents),
        audit_summary: items::audit_summary(&ws.agents),
        audit_summary_path: format!("agents/{}", layout::AUDIT_SUMMARY),
        audit_history_path: format!("agents/{}", layout::AUDIT_HISTORY),
        completion_state: research::completion(ws, &queue),
        plan_problem,
        source_kind: "live".into(),
        latest_gate_decision: None,
        latest_audit_remediation: None,
        governance: super::research_compat::governance(),
        runtime,
    })
}

/// `research history --json`: research runs, newest first.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ResearchHistory {
    pub runs: Vec<ResearchRunSummary>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ResearchRunSummary {
    pub run_id: String,
    pub loop_id: String,
    pub item: Option<WorkItem>,
    /// `running`, or the terminal state the run ended in.
    pub state: String,
    pub terminal_class: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub effects: Option<EffectsApplied>,
}

pub fn history(ws: &Workspace, limit: usize) -> Result<ResearchHistory> {
    let ids = runs::list(&ws.agents).unwrap_or_default();
    let mut out = Vec::new();
    for id in ids {
        // Research run ids name their family (`<stamp>__<family>-<item>`):
        // only those run directories are opened.
        let research_id = ResearchFamily::ALL
            .iter()
            .any(|f| id.contains(&format!("__{}-", f.as_str())));
        if !research_id {
            continue;
        }
        let Some(meta) = RunDir::open_any(&ws.agents, &id).and_then(|d| d.meta().ok()) else {
            continue;
        };
        if meta.plane != Plane::Research {
            continue;
        }
        out.push(ResearchRunSummary {
            effects: items::applied(&ws.agents, &id),
            run_id: meta.run_id,
            loop_id: meta.loop_id,
            item: meta.item,
            state: meta.state,
            terminal_class: meta.terminal_class,
            started_at: meta.started_at,
            finished_at: meta.finished_at,
        });
        if out.len() >= limit {
            break;
        }
    }
    Ok(ResearchHistory { runs: out })
}
