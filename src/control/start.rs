//! `start --once`: finish an interrupted run, or promote the next task and
//! run it to a terminal state.

use serde::Serialize;
use serde_json::json;

use crate::interp::{run, Runtime};
use crate::runner::process;
use crate::store::lock::{FileLock, LockError, Owner};
use crate::store::runs;

use super::{ControlError, Result, Workspace};

/// What `start --once` did.
#[derive(Debug, Serialize)]
pub struct StartReport {
    /// `ran`, `resumed` or `idle` (nothing to do).
    pub outcome: &'static str,
    pub run: Option<run::RunReport>,
    pub backlog_depth: usize,
    /// A dead owner whose stale workspace lock was reclaimed.
    pub reclaimed_lock_from: Option<Owner>,
}

/// Path of the workspace ownership lock held by `start`.
pub fn engine_lock_path(ws: &Workspace) -> std::path::PathBuf {
    ws.agents.join(".locks").join("engine.lock")
}

/// Takes the workspace ownership lock or explains who holds it.
pub fn own_workspace(ws: &Workspace, purpose: &str) -> Result<FileLock> {
    FileLock::try_acquire(&engine_lock_path(ws), purpose).map_err(|e| match e {
        LockError::Held { owner, .. } => ControlError::Busy {
            message: format!(
                "another millrace process owns this workspace: pid {} on {} ({}, since {})",
                owner.pid, owner.host, owner.purpose, owner.started_at
            ),
            hint: Some("wait for it to finish, or stop it; a lock left by a dead process is reclaimed automatically".into()),
        },
        other => ControlError::Runtime(other.to_string()),
    })
}

pub fn once(ws: &Workspace) -> Result<StartReport> {
    let lock = own_workspace(ws, "start --once")?;
    if let Some(dead) = &lock.reclaimed_from {
        tracing::warn!(
            pid = dead.pid,
            "reclaimed the workspace lock of a dead process"
        );
    }
    process::become_subreaper();
    let rt = Runtime::new(ws.root.clone(), ws.agents.clone(), ws.config.clone());
    rt.event(
        "engine.started",
        "engine",
        json!({"mode": "once", "config_hash": ws.config.hash()}),
    );
    let result = drive(ws, &rt);
    rt.event(
        "engine.stopped",
        "engine",
        json!({"mode": "once", "paused": false}),
    );
    let (outcome, run) = result?;
    tracing::debug!("run finished");
    Ok(StartReport {
        outcome,
        run,
        backlog_depth: rt.queue.backlog_depth()?,
        reclaimed_lock_from: lock.reclaimed_from.clone(),
    })
}

fn drive(ws: &Workspace, rt: &Runtime) -> Result<(&'static str, Option<run::RunReport>)> {
    if let Some(active) = runs::active(&ws.agents).map_err(ControlError::io(&ws.agents))? {
        let report = run::resume(rt, &active.run_id)?;
        return Ok(("resumed", Some(report)));
    }
    let plan = super::plan::current(ws, true)?;
    tracing::debug!(plan = %plan.plan_id, "plan ready");
    let next = rt.queue.active_or_promote()?;
    tracing::debug!(task = ?next.as_ref().map(|(c, _)| &c.id), "queue checked");
    match next {
        None => {
            rt.event(
                "execution.backlog.empty",
                "execution",
                json!({"backlog_depth": 0, "run_update_on_empty": ws.config.execution.run_update_on_empty}),
            );
            Ok(("idle", None))
        }
        Some((card, promoted)) => {
            if promoted {
                rt.event(
                    "execution.task.promoted",
                    "execution",
                    json!({"task_id": card.id, "title": card.title}),
                );
            }
            Ok(("ran", Some(run::start(rt, &plan, card)?)))
        }
    }
}
