//! `agents/.runtime/state.json`: the daemon's runtime state (spec §7.3),
//! rewritten atomically when it changes, plus what v0.2.0's state has no
//! field for (the plan's identity and currentness, the pid, waits) in
//! `state_millrace.json` beside it. `state.json` holds exactly v0.2.0's
//! fields with values v0.2.0 accepts, so a workspace can go back to
//! v0.2.0 after running ours. It is a report, not a liveness signal:
//! `status` decides whether a process runs from the workspace lock.

use crate::defs::layout::Layout;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::store::atomic;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RuntimeState {
    pub process_running: bool,
    pub paused: bool,
    pub pause_reason: Option<String>,
    pub pause_run_id: Option<String>,
    pub execution_status: String,
    pub research_status: String,
    pub active_task_id: Option<String>,
    pub backlog_depth: usize,
    pub deferred_queue_size: usize,
    pub uptime_seconds: u64,
    pub config_hash: String,
    pub asset_bundle_version: String,
    pub pending_config_hash: Option<String>,
    pub previous_config_hash: Option<String>,
    pub pending_config_boundary: Option<String>,
    pub pending_config_fields: Vec<String>,
    pub rollback_armed: bool,
    pub started_at: String,
    pub updated_at: String,
    /// `once` or `daemon`.
    pub mode: String,
    pub pid: u32,
    pub stop_requested: bool,
    pub active_run_id: Option<String>,
    pub plan_id: Option<String>,
    /// Whether the plan runs start from matches the current inputs.
    pub plan_current: bool,
    /// Why new runs are not starting, when they are not (stale plan,
    /// invalid config).
    pub plan_problem: Option<String>,
    /// Waits on a transient environment fault since the last good stage.
    #[serde(default)]
    pub net_waits: u32,
    /// When the waiting stage is retried next.
    #[serde(default)]
    pub retry_at: Option<String>,
}

pub fn path(agents: &Path) -> PathBuf {
    Layout::of(agents).state_json()
}

/// The whole state, ours (`state_millrace.json`); v0.2.0's `state.json`
/// (with our fields at their defaults) when ours was never written.
pub fn read(agents: &Path) -> Option<RuntimeState> {
    let read = |p: &Path| crate::store::safe::read_text(p, 1 << 20).ok();
    read(&Layout::of(agents).state_millrace_json())
        .and_then(|t| serde_json::from_str(&t).ok())
        .or_else(|| {
            serde_json::from_str::<V020State>(&read(&path(agents))?)
                .ok()
                .map(V020State::into_state)
        })
}

/// v0.2.0's execution statuses (`ExecutionStatus`); ours outside this set
/// are written to `state.json` as their nearest v0.2.0 status.
const V020_EXECUTION: &[&str] = &[
    "IDLE",
    "BUILDER_RUNNING",
    "BUILDER_COMPLETE",
    "HOTFIX_COMPLETE",
    "INTEGRATION_RUNNING",
    "INTEGRATION_COMPLETE",
    "QA_RUNNING",
    "QA_COMPLETE",
    "QUICKFIX_NEEDED",
    "HOTFIX_RUNNING",
    "DOUBLECHECK_RUNNING",
    "TROUBLESHOOT_RUNNING",
    "TROUBLESHOOT_COMPLETE",
    "CONSULT_RUNNING",
    "CONSULT_COMPLETE",
    "NEEDS_RESEARCH",
    "BLOCKED",
    "UPDATE_RUNNING",
    "UPDATE_COMPLETE",
    "NET_WAIT",
    "LARGE_PLAN_COMPLETE",
    "LARGE_EXECUTE_COMPLETE",
    "LARGE_REASSESS_COMPLETE",
    "LARGE_REFACTOR_COMPLETE",
];
/// v0.2.0's research statuses (`ResearchStatus`).
const V020_RESEARCH: &[&str] = &[
    "IDLE",
    "BLOCKED",
    "GOALSPEC_RUNNING",
    "INCIDENT_RUNNING",
    "GOAL_INTAKE_RUNNING",
    "COMPLETION_MANIFEST_RUNNING",
    "OBJECTIVE_PROFILE_SYNC_RUNNING",
    "SPEC_SYNTHESIS_RUNNING",
    "SPEC_REVIEW_RUNNING",
    "CLARIFY_RUNNING",
    "TASKMASTER_RUNNING",
    "TASKAUDIT_RUNNING",
    "CRITIC_RUNNING",
    "DESIGNER_RUNNING",
    "INCIDENT_INTAKE_RUNNING",
    "INCIDENT_RESOLVE_RUNNING",
    "INCIDENT_ARCHIVE_RUNNING",
    "AUDIT_INTAKE_RUNNING",
    "AUDIT_VALIDATE_RUNNING",
    "AUDIT_RUNNING",
    "AUDIT_PASS",
    "AUDIT_FAIL",
    "NET_WAIT",
];
const V020_BOUNDARIES: &[&str] = &[
    "live_immediate",
    "stage_boundary",
    "cycle_boundary",
    "startup_only",
];

/// A status as v0.2.0 can read it: itself when v0.2.0 has it; a wait on
/// the environment (`ENV_BLOCKED`, `NET_WAIT`) as `NET_WAIT`; a running
/// stage of ours as `BLOCKED` (a custom stage v0.2.0 has no status for);
/// anything else as `IDLE`.
fn v020_status(ours: &str, known: &[&str]) -> String {
    if known.contains(&ours) {
        ours.to_string()
    } else if ours.starts_with("ENV_") || ours.contains("WAIT") {
        "NET_WAIT".into()
    } else if ours.ends_with("_RUNNING") {
        "BLOCKED".into()
    } else {
        "IDLE".into()
    }
}

/// `state.json` as v0.2.0 reads it (its `RuntimeState`: these fields,
/// no others, in this order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct V020State {
    process_running: bool,
    paused: bool,
    pause_reason: Option<String>,
    pause_run_id: Option<String>,
    execution_status: String,
    research_status: String,
    active_task_id: Option<String>,
    backlog_depth: usize,
    deferred_queue_size: usize,
    uptime_seconds: Option<f64>,
    config_hash: String,
    asset_bundle_version: Option<String>,
    pending_config_hash: Option<String>,
    previous_config_hash: Option<String>,
    pending_config_boundary: Option<String>,
    #[serde(default)]
    pending_config_fields: Vec<String>,
    #[serde(default)]
    rollback_armed: bool,
    started_at: Option<String>,
    updated_at: String,
    #[serde(default = "once")]
    mode: String,
}

fn once() -> String {
    "once".into()
}

impl V020State {
    fn of(s: &RuntimeState) -> V020State {
        V020State {
            process_running: s.process_running,
            paused: s.paused,
            pause_reason: s.pause_reason.clone(),
            pause_run_id: s.pause_run_id.clone(),
            execution_status: v020_status(&s.execution_status, V020_EXECUTION),
            research_status: v020_status(&s.research_status, V020_RESEARCH),
            active_task_id: s.active_task_id.clone(),
            backlog_depth: s.backlog_depth,
            deferred_queue_size: s.deferred_queue_size,
            uptime_seconds: Some(s.uptime_seconds as f64),
            config_hash: s.config_hash.clone(),
            asset_bundle_version: Some(s.asset_bundle_version.clone()),
            pending_config_hash: s.pending_config_hash.clone(),
            previous_config_hash: s.previous_config_hash.clone(),
            pending_config_boundary: s
                .pending_config_boundary
                .clone()
                .filter(|b| V020_BOUNDARIES.contains(&b.as_str())),
            pending_config_fields: s.pending_config_fields.clone(),
            rollback_armed: s.rollback_armed,
            started_at: Some(s.started_at.clone()).filter(|t| !t.is_empty()),
            updated_at: s.updated_at.clone(),
            mode: if s.mode == "daemon" { "daemon" } else { "once" }.into(),
        }
    }

    fn into_state(self) -> RuntimeState {
        RuntimeState {
            process_running: self.process_running,
            paused: self.paused,
            pause_reason: self.pause_reason,
            pause_run_id: self.pause_run_id,
            execution_status: self.execution_status,
            research_status: self.research_status,
            active_task_id: self.active_task_id,
            backlog_depth: self.backlog_depth,
            deferred_queue_size: self.deferred_queue_size,
            uptime_seconds: self.uptime_seconds.unwrap_or(0.0).max(0.0) as u64,
            config_hash: self.config_hash,
            asset_bundle_version: self.asset_bundle_version.unwrap_or_default(),
            pending_config_hash: self.pending_config_hash,
            previous_config_hash: self.previous_config_hash,
            pending_config_boundary: self.pending_config_boundary,
            pending_config_fields: self.pending_config_fields,
            rollback_armed: self.rollback_armed,
            started_at: self.started_at.unwrap_or_default(),
            updated_at: self.updated_at,
            mode: self.mode,
            ..RuntimeState::default()
        }
    }
}

/// Writes the state if anything but the clock fields changed since `last`.
pub fn write_if_changed(
    agents: &Path,
    state: &RuntimeState,
    last: &mut Option<RuntimeState>,
) -> std::io::Result<()> {
    let comparable = |s: &RuntimeState| RuntimeState {
        uptime_seconds: 0,
        updated_at: String::new(),
        ..s.clone()
    };
    if last.as_ref().map(comparable) == Some(comparable(state)) {
        return Ok(());
    }
    // Ours first: a reader that finds both prefers it.
    let text = serde_json::to_string_pretty(state).expect("state serialises") + "\n";
    atomic::write_volatile(&Layout::of(agents).state_millrace_json(), text.as_bytes())?;
    let v020 =
        serde_json::to_string_pretty(&V020State::of(state)).expect("state serialises") + "\n";
    atomic::write_volatile(&path(agents), v020.as_bytes())?;
    *last = Some(state.clone());
    Ok(())
}
