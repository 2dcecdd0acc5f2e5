//! One engine cycle: finish an interrupted run, or promote the next task and
//! run it to a terminal state.

use serde_json::json;

use crate::compile::plan::FrozenPlan;
use crate::interp::{run, Runtime};
use crate::store::events::{EventKind, PlaneEvent};
use crate::store::runs;
use crate::store::workspace::Workspace;

use super::{plan, EngineError};

/// What a cycle did.
#[derive(Debug)]
pub enum Cycle {
    /// Nothing to do: no interrupted run, empty backlog.
    Idle,
    Ran(run::RunReport),
    Resumed(run::RunReport),
}

/// Whether a cycle would have something to do.
pub fn has_work(ws: &Workspace, rt: &Runtime) -> Result<bool, EngineError> {
    if runs::active(&ws.agents)
        .map_err(EngineError::io("active_run.json"))?
        .is_some()
    {
        return Ok(true);
    }
    Ok(rt.queue.active()?.is_some() || rt.queue.backlog_depth()? > 0)
}

/// Runs one cycle. `plan` is the current plan when the caller already
/// checked it (the daemon does, at every run boundary).
pub fn run_one(
    ws: &Workspace,
    rt: &Runtime,
    plan: Option<FrozenPlan>,
) -> Result<Cycle, EngineError> {
    if let Some(active) = runs::active(&ws.agents).map_err(EngineError::io("active_run.json"))? {
        if let Some(report) = run::resume(rt, &active.run_id)? {
            return Ok(Cycle::Resumed(report));
        }
    }
    let plan = match plan {
        Some(p) => p,
        None => plan::current(ws, true)?,
    };
    tracing::debug!(plan = %plan.plan_id, "plan ready");
    let next = rt.queue.active_or_promote()?;
    match next {
        None => {
            rt.event(
                EventKind::execution(PlaneEvent::BacklogEmpty),
                json!({"backlog_depth": 0, "run_update_on_empty": ws.config.execution.run_update_on_empty}),
            );
            Ok(Cycle::Idle)
        }
        Some((card, promoted)) => {
            if promoted {
                rt.event(
                    EventKind::execution(PlaneEvent::TaskPromoted),
                    json!({"task_id": card.id, "title": card.title}),
                );
            }
            Ok(Cycle::Ran(run::start(rt, &plan, card)?))
        }
    }
}
