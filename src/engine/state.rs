//! `agents/.runtime/state.json`: the daemon's runtime state (spec §7.3 plus
//! the plan's identity and currentness), rewritten atomically when it
//! changes. It is a report, not a liveness signal: `status` decides whether
//! a process runs from the workspace lock.

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

pub fn read(agents: &Path) -> Option<RuntimeState> {
    serde_json::from_str(&crate::store::safe::read_text(&path(agents), 1 << 20).ok()?).ok()
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
    let text = serde_json::to_string_pretty(state).expect("state serialises") + "\n";
    atomic::write_volatile(&path(agents), text.as_bytes())?;
    *last = Some(state.clone());
    Ok(())
}
