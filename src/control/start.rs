//! `start --once`: finish an interrupted run, or promote the next task and
//! run it to a terminal state.

use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::defs::layout::Layout;
use crate::engine::cycle::{self, Cycle};
use crate::engine::owner;
use crate::interp::{run, RunControl, Runtime};
use crate::runner::process;
use crate::store::events::{EngineEvent, EventKind};
use crate::store::lock::{Owner, OwnerPurpose};

use super::{Result, Workspace};

/// What `start --once` did.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StartReport {
    /// Execution: `ran`, `resumed` or `idle` (nothing to do).
    pub outcome: &'static str,
    pub run: Option<run::RunReport>,
    /// Research: `ran`, `resumed` or `idle` (nothing ready or allowed).
    pub research_outcome: &'static str,
    pub research_run: Option<run::RunReport>,
    pub backlog_depth: usize,
    /// A dead owner whose stale workspace lock was reclaimed.
    pub reclaimed_lock_from: Option<Owner>,
    /// v0.2.0 printed its final runtime state: the same fields.
    #[serde(flatten)]
    pub state: FinalState,
}

/// v0.2.0's `RuntimeState` as `start --once` leaves it (`backlog_depth` is
/// the report's own).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct FinalState {
    /// False: the pass is over.
    pub process_running: bool,
    pub execution_status: String,
    pub research_status: String,
    pub active_task_id: Option<String>,
    pub config_hash: String,
    #[serde(flatten)]
    pub fields: super::status::StateFields,
}

impl FinalState {
    fn of(
        ws: &Workspace,
        rt: &Runtime,
        started_at: String,
        started: std::time::Instant,
    ) -> FinalState {
        use crate::defs::stage_kind::Plane;
        let status = |plane| {
            crate::store::status::read(&ws.agents, plane)
                .map_or_else(|e| format!("INVALID ({e})"), |m| m.to_string())
        };
        let state = crate::engine::state::RuntimeState {
            uptime_seconds: started.elapsed().as_secs(),
            started_at,
            updated_at: crate::defs::clock::now_iso(),
            mode: "once".into(),
            ..Default::default()
        };
        FinalState {
            process_running: false,
            execution_status: status(Plane::Execution),
            research_status: status(Plane::Research),
            active_task_id: rt.queue.active().ok().flatten().map(|c| c.id),
            config_hash: ws.config.hash(),
            fields: super::status::StateFields::of(ws, None, Some(&state)),
        }
    }
}

pub fn once(ws: &Workspace) -> Result<StartReport> {
    let (started_at, started) = (crate::defs::clock::now_iso(), std::time::Instant::now());
    let lock = owner::own(ws, OwnerPurpose::Once)?;
    process::become_subreaper();
    let mut rt = Runtime::new(ws.root.clone(), ws.agents.clone(), ws.config.clone());
    rt.config_path = ws.config_path.clone();
    rt.control = Arc::new(RunControl::recording(Layout::of(&ws.agents).stage_group()));
    forward_signals(
        rt.control.clone(),
        Duration::from_secs(ws.config.engine.stop_grace_seconds),
    );
    rt.event(
        EventKind::Engine(EngineEvent::Started),
        json!({"mode": "once", "config_hash": ws.config.hash()}),
    );
    // One pass of each plane: research first, so that cards it makes (or
    // a batch it thaws) are run by the execution pass of the same start.
    let notify = !ws.config.notify.command.is_empty();
    if notify {
        // Also starts the cursor, so that this run's events are sent.
        if let Err(e) = crate::engine::notify::deliver(ws) {
            tracing::warn!("cannot deliver notifications: {e}");
        }
    }
    let mut plan = None;
    let research = match cycle::research_one(ws, &rt, &mut plan, "engine-start") {
        // A plan that does not compile must not keep an interrupted task
        // run from finishing on its frozen copy; the execution pass reports it.
        Err(crate::engine::EngineError::Plan(_)) => Ok(Cycle::Idle),
        other => other,
    };
    let result = match research {
        Ok(r) if !rt.control.stop_requested() => cycle::run_one(ws, &rt, &mut plan).map(|e| (r, e)),
        Ok(r) => Ok((r, Cycle::Idle)),
        Err(e) => Err(e),
    };
    rt.event(
        EventKind::Engine(EngineEvent::Stopped),
        json!({"mode": "once", "paused": false}),
    );
    if notify {
        if let Err(e) = crate::engine::notify::deliver(ws) {
            tracing::warn!("cannot deliver notifications: {e}");
        }
    }
    let (research, execution) = result?;
    let split = |c: Cycle| match c {
        Cycle::Idle => ("idle", None),
        Cycle::Ran(r) => ("ran", Some(r)),
        Cycle::Resumed(r) => ("resumed", Some(r)),
    };
    let (outcome, run) = split(execution);
    let (research_outcome, research_run) = split(research);
    Ok(StartReport {
        outcome,
        run,
        research_outcome,
        research_run,
        backlog_depth: rt.queue.backlog_depth()?,
        reclaimed_lock_from: lock.reclaimed_from.clone(),
        state: FinalState::of(ws, &rt, started_at, started),
    })
}

/// SIGINT and SIGTERM during `start --once` act like the daemon's `stop`:
/// the run stops between stages, the running stage's process group gets
/// SIGTERM and `grace`, then SIGKILL; the run resumes on the next start. A
/// second signal kills the stage at once.
fn forward_signals(control: Arc<RunControl>, grace: Duration) {
    use tokio::signal::unix::SignalKind;
    let kinds = vec![SignalKind::terminate(), SignalKind::interrupt()];
    super::signals::on_signals(kinds, move |n| {
        if n == 1 {
            tracing::warn!("stop requested by signal; the run resumes on the next start");
            control.request_stop();
            let group = control.stage_group().clone();
            std::thread::spawn(move || group.terminate(grace));
            true
        } else {
            tracing::warn!("second signal: ending the stage now");
            control.stage_group().kill();
            false
        }
    });
}

/// `start --daemon`: runs until stopped.
pub fn daemon(
    ws: &Workspace,
    listener: Option<crate::interp::EventListener>,
) -> Result<crate::engine::daemon::DaemonReport> {
    Ok(crate::engine::daemon::run(
        ws.clone(),
        crate::engine::daemon::Options {
            listener,
            adapter: None,
        },
    )?)
}
