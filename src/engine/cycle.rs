//! One engine cycle: finish an interrupted run, or start the next one. The
//! execution plane promotes the next task; the research plane takes the
//! next ready work item of the families its mode allows (see [`research`]).

use serde_json::json;

use crate::compile::plan::FrozenPlan;
use crate::defs::stage_kind::Plane;
use crate::interp::{run, Runtime};
use crate::store::events::{EventKind, PlaneEvent};
use crate::store::lock::{FileLock, OwnerPurpose};
use crate::store::runs;
use crate::store::workspace::Workspace;

use super::research::{self, Ready};
use super::{plan, EngineError};

/// What a cycle did.
#[derive(Debug)]
pub enum Cycle {
    /// Nothing to do: no interrupted run, empty backlog.
    Idle,
    Ran(run::RunReport),
    Resumed(run::RunReport),
}

/// Whether an execution cycle would have something to do.
pub fn has_work(ws: &Workspace, rt: &Runtime) -> Result<bool, EngineError> {
    if runs::active(&ws.agents)
        .map_err(EngineError::io("active_run.json"))?
        .is_some()
    {
        return Ok(true);
    }
    Ok(rt.queue.active()?.is_some()
        || rt.queue.backlog_depth()? > 0
        || update_on_empty_due(ws, rt)?.is_some())
}

/// `execution.run_update_on_empty`: an update with no task is due once per
/// drained backlog — nothing active or queued, nothing frozen, and the
/// archive changed since the last one (v0.2.0 runs one every idle cycle,
/// which spends on every poll).
/// The archive size to record when one is due.
fn update_on_empty_due(ws: &Workspace, rt: &Runtime) -> Result<Option<u64>, EngineError> {
    if !ws.config.execution.run_update_on_empty {
        return Ok(None);
    }
    Ok(research::drained(ws, &rt.queue)?.filter(|a| *a != last_update_on_empty(ws)))
}

fn update_on_empty_path(ws: &Workspace) -> std::path::PathBuf {
    crate::defs::layout::Layout::of(&ws.agents).rel(crate::defs::layout::UPDATE_ON_EMPTY)
}

/// The archive size the last update-on-empty ran for (0: none yet).
fn last_update_on_empty(ws: &Workspace) -> u64 {
    crate::store::safe::read_text(&update_on_empty_path(ws), 4096)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["archive_bytes"].as_u64())
        .unwrap_or(0)
}

/// The current plan, compiled (or reused) the first time a cycle needs it;
/// `slot` keeps it for the next cycle of the same start.
fn current(ws: &Workspace, slot: &mut Option<FrozenPlan>) -> Result<FrozenPlan, EngineError> {
    if slot.is_none() {
        *slot = Some(plan::current(ws, true)?);
    }
    Ok(slot.clone().expect("just set"))
}

/// Runs one execution cycle. `plan` holds the current plan when the caller
/// already checked it (the daemon does, at every run boundary).
pub fn run_one(
    ws: &Workspace,
    rt: &Runtime,
    plan: &mut Option<FrozenPlan>,
) -> Result<Cycle, EngineError> {
    if let Some(active) = runs::active(&ws.agents).map_err(EngineError::io("active_run.json"))? {
        if let Some(report) = run::resume(rt, Plane::Execution, &active.run_id)? {
            return Ok(Cycle::Resumed(report));
        }
    }
    let plan = current(ws, plan)?;
    tracing::debug!(plan = %plan.plan_id, "plan ready");
    let next = rt.queue.active_or_promote()?;
    match next {
        None => {
            rt.event(
                EventKind::execution(PlaneEvent::BacklogEmpty),
                json!({"backlog_depth": 0, "run_update_on_empty": ws.config.execution.run_update_on_empty}),
            );
            let Some(archived) = update_on_empty_due(ws, rt)? else {
                return Ok(Cycle::Idle);
            };
            // Recorded before the run: at most one update per drain (a
            // crash in between skips it rather than paying twice; a crash
            // during the run resumes it like any other).
            let record = json!({"archive_bytes": archived, "at": crate::defs::clock::now_iso()});
            crate::store::atomic::write(&update_on_empty_path(ws), record.to_string().as_bytes())
                .map_err(EngineError::io("update_on_empty.json"))?;
            match run::start_update_on_empty(rt, &plan)? {
                Some(report) => Ok(Cycle::Ran(report)),
                None => Ok(Cycle::Idle),
            }
        }
        Some((card, promoted)) => {
            if promoted {
                rt.event(
                    EventKind::execution(PlaneEvent::TaskPromoted),
                    json!({"task_id": card.id, "title": card.title}),
                );
            } else {
                close_v020_run(ws, rt, &card.id, &plan)?;
            }
            Ok(Cycle::Ran(run::start(rt, &plan, card)?))
        }
    }
}

/// Closes the run Python Millrace v0.2.0 left unfinished on the active
/// task, if any: its frozen plan is v0.2.0's, so it cannot be resumed here;
/// it is closed as `abandoned (v0.2.0 run)` (a file beside its records,
/// which stay as they are), said on stderr and in the event log, and the
/// task restarts at its loop's entry.
fn close_v020_run(
    ws: &Workspace,
    rt: &Runtime,
    task_id: &str,
    plan: &FrozenPlan,
) -> Result<(), EngineError> {
    use crate::store::v020;
    let Some((run_id, dir, records)) = v020::unfinished_for(&ws.agents, task_id) else {
        return Ok(());
    };
    let entry = plan
        .content
        .planes
        .get(&Plane::Execution)
        .and_then(|l| l.entries.get("task").or_else(|| l.entries.values().next()))
        .cloned()
        .unwrap_or_else(|| "its loop's entry".into());
    let reason = format!(
        "Millrace v0.2.0 stopped during this run; its frozen plan is v0.2.0's and is not resumed by millrace, so task {task_id} restarts at {entry} under a new run"
    );
    let closure = v020::close(&dir, &records, task_id, &reason)
        .map_err(EngineError::io("millrace_closed.json"))?;
    tracing::warn!(
        "closed run {run_id} that Millrace v0.2.0 left unfinished{} as `{}`; task {task_id} restarts at {entry}",
        closure.last_node.as_deref().map(|n| format!(" at {n}")).unwrap_or_default(),
        v020::ABANDONED
    );
    rt.event(
        EventKind::execution(PlaneEvent::RunAbandoned),
        json!({"run_id": run_id, "task_id": task_id, "state": v020::ABANDONED, "last_node": closure.last_node, "restarts_at": entry, "source": "v0.2.0"}),
    );
    Ok(())
}

/// Runs one research cycle: resumes the interrupted research run, or
/// starts one for the next ready item. `Idle` when nothing is ready (in
/// `stub` mode ready items are recorded as deferred instead).
pub fn research_one(
    ws: &Workspace,
    rt: &Runtime,
    plan: &mut Option<FrozenPlan>,
    trigger: &str,
) -> Result<Cycle, EngineError> {
    if let Some(active) = runs::active_in(&ws.agents, Plane::Research)
        .map_err(EngineError::io("active_research_run.json"))?
    {
        let _lock = research_lock(ws, rt)?;
        if let Some(report) = run::resume(rt, Plane::Research, &active.run_id)? {
            return Ok(Cycle::Resumed(report));
        }
    }
    let plan = current(ws, plan)?;
    let Ready::Run { item, reason } = research::select(ws, rt, &plan, trigger)? else {
        return Ok(Cycle::Idle);
    };
    rt.event(
        EventKind::research(PlaneEvent::ModeSelected),
        json!({"trigger": trigger, "runtime_mode": item.family.as_str().to_ascii_uppercase(), "selected_family": item.family, "reason": reason, "item_id": item.id}),
    );
    let _lock = research_lock(ws, rt)?;
    let lp = &plan.content.research[&item.family];
    rt.event(
        EventKind::research(PlaneEvent::DispatchCompiled),
        json!({"plan_id": plan.plan_id, "loop_id": lp.loop_id, "family": item.family, "item_id": item.id, "max_stage_runs": lp.max_stage_runs}),
    );
    Ok(Cycle::Ran(run::start_research(rt, &plan, item)?))
}

/// `agents/.locks/research_loop.lock`: one research run at a time, also
/// against a tool outside this engine; released when dropped.
fn research_lock<'a>(ws: &Workspace, rt: &'a Runtime) -> Result<ResearchLock<'a>, EngineError> {
    let path = crate::defs::layout::Layout::of(&ws.agents).research_lock();
    let lock = FileLock::try_acquire(&path, OwnerPurpose::Other("research run".into()))?;
    rt.event(
        EventKind::research(PlaneEvent::LockAcquired),
        json!({"path": path.display().to_string(), "scope": "plane_run"}),
    );
    Ok(ResearchLock {
        _lock: lock,
        rt,
        path,
    })
}

struct ResearchLock<'a> {
    _lock: FileLock,
    rt: &'a Runtime,
    path: std::path::PathBuf,
}

impl Drop for ResearchLock<'_> {
    fn drop(&mut self) {
        self.rt.event(
            EventKind::research(PlaneEvent::LockReleased),
            json!({"path": self.path.display().to_string()}),
        );
    }
}
