//! `start --once`: finish an interrupted run, or promote the next task and
//! run it to a terminal state.

use serde::Serialize;
use serde_json::json;

use crate::engine::cycle::{self, Cycle};
use crate::engine::owner;
use crate::interp::{run, Runtime};
use crate::runner::process;
use crate::store::events::{EngineEvent, EventKind};
use crate::store::lock::{Owner, OwnerPurpose};

use super::{Result, Workspace};

/// What `start --once` did.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StartReport {
    /// `ran`, `resumed` or `idle` (nothing to do).
    pub outcome: &'static str,
    pub run: Option<run::RunReport>,
    pub backlog_depth: usize,
    /// A dead owner whose stale workspace lock was reclaimed.
    pub reclaimed_lock_from: Option<Owner>,
}

pub fn once(ws: &Workspace) -> Result<StartReport> {
    let lock = owner::own(ws, OwnerPurpose::Once)?;
    process::become_subreaper();
    let rt = Runtime::new(ws.root.clone(), ws.agents.clone(), ws.config.clone());
    rt.event(
        EventKind::Engine(EngineEvent::Started),
        json!({"mode": "once", "config_hash": ws.config.hash()}),
    );
    let result = cycle::run_one(ws, &rt, None);
    rt.event(
        EventKind::Engine(EngineEvent::Stopped),
        json!({"mode": "once", "paused": false}),
    );
    let (outcome, run) = match result? {
        Cycle::Idle => ("idle", None),
        Cycle::Ran(r) => ("ran", Some(r)),
        Cycle::Resumed(r) => ("resumed", Some(r)),
    };
    Ok(StartReport {
        outcome,
        run,
        backlog_depth: rt.queue.backlog_depth()?,
        reclaimed_lock_from: lock.reclaimed_from.clone(),
    })
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
