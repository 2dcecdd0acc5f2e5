//! `status`: runtime state, queue, plan currentness and the last run.

use serde::Serialize;

use crate::compile::plan::FrozenPlan;

use crate::defs::stage_kind::Plane;
use crate::engine;
use crate::store::cards::TaskView;
use crate::store::lock::{Owner, OwnerPurpose};
use crate::store::queue::Queue;
use crate::store::runs::{self, ActiveRun, RunDir, RunMeta};
use crate::store::status as status_file;

use crate::defs::records::AttemptClass;
use crate::store::runs::TransitionEvent;

use super::{environment_hint, Result, Workspace};

/// A run paused by a budget cap, as its history records it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct BudgetPause {
    pub run_id: String,
    /// The node the run continues at.
    pub node: String,
    /// What was spent, the cap and how to raise it.
    pub message: String,
    pub since: String,
}

/// The budget pause the run's history ends with, if it does.
pub fn budget_pause(ws: &Workspace, run_id: &str) -> Option<BudgetPause> {
    let history = RunDir::open_any(&ws.agents, run_id)?.history().ok()?;
    let last = history.last()?;
    (last.event == TransitionEvent::RunPaused).then(|| BudgetPause {
        run_id: run_id.to_string(),
        node: last.node.clone().unwrap_or_default(),
        message: last.failure.clone().unwrap_or_default(),
        since: last.timestamp.clone(),
    })
}

/// The environment fault the run's history ends with, if it does.
pub fn waiting(ws: &Workspace, run_id: &str) -> Option<Waiting> {
    let history = RunDir::open_any(&ws.agents, run_id)?.history().ok()?;
    let last = history
        .iter()
        .rev()
        .find(|t| t.event != TransitionEvent::RunInterrupted)?;
    if last.event != TransitionEvent::StageFaulted {
        return None;
    }
    let class = last.class?;
    let runner = last.bound.as_ref().map_or("", |b| b.runner.as_str());
    Some(Waiting {
        run_id: run_id.to_string(),
        node: last.node.clone().unwrap_or_default(),
        class,
        message: last.failure.clone().unwrap_or_default(),
        since: last.timestamp.clone(),
        transient: class.is_transient(),
        hint: environment_hint(class, runner),
    })
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StatusReport {
    pub runtime: Runtime,
    /// The daemon's own report (`agents/.runtime/state.json`), only while a
    /// live daemon owns the workspace.
    pub daemon: Option<engine::state::RuntimeState>,
    pub plan: PlanState,
    /// Why the active run is waiting on its environment, when it is.
    pub waiting: Option<Waiting>,
    /// The budget cap an active run (of either plane) is paused at.
    pub budget_pause: Option<BudgetPause>,
    /// What the active execution run can still spend at most: its loop's
    /// proved bound less the stages it ran, times the stage ceilings.
    pub remaining_worst_case: Option<crate::compile::cost::WorstCase>,
    /// The stage the active execution run is in (or last started), with its
    /// attempt and when the run and the stage started.
    pub active_stage: Option<ActiveStage>,
    pub last_run: Option<RunMeta>,
    pub config_path: String,
    pub workspace_root: String,
    /// With `--detail` only: problems in the task stores' text.
    pub queue_warnings: Vec<String>,
    /// With `--detail` only.
    pub active_task: Option<TaskView>,
    pub next_task: Option<TaskView>,
    /// A run Python Millrace v0.2.0 left unfinished on the active task:
    /// the next `start` closes it as `abandoned (v0.2.0 run)` and restarts
    /// the task at its loop's entry.
    pub unfinished_v020_run: Option<crate::store::v020::Unfinished>,
    /// v0.2.0's keys beside ours.
    #[serde(flatten)]
    pub compat: super::status_compat::Compat,
}

/// Where the active run is: its current stage attempt.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ActiveStage {
    pub run_id: String,
    pub run_started_at: String,
    pub node: Option<String>,
    pub stage_kind: Option<String>,
    pub attempt: Option<u32>,
    /// When the current attempt started; none between stages.
    pub stage_started_at: Option<String>,
    /// Stage attempts the run finished so far.
    pub stages_finished: u64,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Runtime {
    /// True only while a live process holds the workspace lock.
    pub process_running: bool,
    pub owner: Option<Owner>,
    pub execution_status: String,
    pub research_status: String,
    pub active_task_id: Option<String>,
    pub backlog_depth: usize,
    /// Batches frozen for research (`millrace queue thaw` returns them).
    pub frozen_batches: Vec<crate::store::queue::FrozenBatch>,
    /// An interrupted or running run; the next `start` finishes it.
    pub active_run: Option<ActiveRun>,
    /// `[research] mode` (`stub` records requests without running them).
    pub research_mode: crate::defs::config::ResearchMode,
    /// The research run in progress or interrupted, if any.
    pub active_research_run: Option<ActiveRun>,
    /// The latest audit decision (`PASS`, `FAIL`), if any.
    pub completion_decision: Option<String>,
    pub config_hash: String,
    /// v0.2.0's runtime-state fields, from the daemon's state (the last
    /// one written when no daemon runs).
    #[serde(flatten)]
    pub state: StateFields,
}

/// v0.2.0's `RuntimeState` fields that `status` reports beside ours.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StateFields {
    pub paused: bool,
    pub pause_reason: Option<String>,
    pub pause_run_id: Option<String>,
    pub deferred_queue_size: usize,
    pub uptime_seconds: f64,
    pub asset_bundle_version: String,
    pub pending_config_hash: Option<String>,
    pub previous_config_hash: Option<String>,
    pub pending_config_boundary: Option<String>,
    pub pending_config_fields: Vec<String>,
    pub rollback_armed: bool,
    pub started_at: Option<String>,
    pub updated_at: Option<String>,
    /// `once` or `daemon`.
    pub mode: String,
}

impl StateFields {
    /// From the live daemon's state, or else the last one written (a
    /// pause is a live daemon's only: none when no daemon runs).
    pub(super) fn of(
        ws: &Workspace,
        live: Option<&engine::state::RuntimeState>,
        stored: Option<&engine::state::RuntimeState>,
    ) -> StateFields {
        let d = engine::state::RuntimeState::default();
        let s = live.or(stored).unwrap_or(&d);
        let paused = live.is_some_and(|l| l.paused);
        let text = |t: &str| Some(t.to_string()).filter(|t| !t.is_empty());
        StateFields {
            paused,
            pause_reason: s.pause_reason.clone().filter(|_| paused),
            pause_run_id: s.pause_run_id.clone().filter(|_| paused),
            deferred_queue_size: crate::engine::research::deferred(&ws.agents).len(),
            uptime_seconds: s.uptime_seconds as f64,
            asset_bundle_version: text(&s.asset_bundle_version)
                .unwrap_or_else(|| crate::store::workspace::BUNDLE_VERSION.into()),
            pending_config_hash: s.pending_config_hash.clone(),
            previous_config_hash: s.previous_config_hash.clone(),
            pending_config_boundary: s.pending_config_boundary.clone(),
            pending_config_fields: s.pending_config_fields.clone(),
            rollback_armed: s.rollback_armed,
            started_at: text(&s.started_at),
            updated_at: text(&s.updated_at),
            mode: text(&s.mode).unwrap_or_else(|| "once".into()),
        }
    }
}

/// An active run stopped by a fault of its environment.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Waiting {
    pub run_id: String,
    /// The node it waits at (retried there).
    pub node: String,
    pub class: AttemptClass,
    pub message: String,
    /// When the fault was recorded.
    pub since: String,
    /// Transient faults (NET_WAIT) clear by themselves; the others need a
    /// person (ENV_BLOCKED).
    pub transient: bool,
    pub hint: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PlanState {
    pub mode: String,
    /// Plan compiled from the current inputs (`None` when they do not compile).
    pub plan_id: Option<String>,
    pub content_hash: Option<String>,
    pub error_count: usize,
    /// Plan persisted at `agents/state/compiled_plan.json`.
    pub persisted_plan_id: Option<String>,
    /// Whether the persisted plan was compiled from the current inputs.
    pub current: bool,
}

/// What `status` shows of the queue. With `detail`, one read of the
/// backlog in which only the cards shown are built; headings without a
/// title are cheap to find, duplicate ids need every card built, which
/// `queue inspect` and `health` do.
fn queue_part(queue: &Queue, detail: bool) -> Result<QueuePart> {
    Ok(if detail {
        let (depth, next, warnings) = queue.backlog_head()?;
        QueuePart {
            active: queue.active()?.map(|c| c.view()),
            next,
            depth,
            warnings,
        }
    } else {
        QueuePart {
            active: None,
            next: None,
            depth: queue.backlog_depth()?,
            warnings: queue.untitled_warnings()?,
        }
    })
}

/// The cards `status` shows (with `--detail`), the backlog depth and the
/// stores' warnings.
struct QueuePart {
    active: Option<TaskView>,
    next: Option<TaskView>,
    depth: usize,
    warnings: Vec<String>,
}

pub fn status(ws: &Workspace, detail: bool) -> Result<StatusReport> {
    let queue = Queue::new(&ws.agents);
    let QueuePart {
        active: active_task,
        next: next_task,
        depth: backlog_depth,
        warnings: queue_warnings,
    } = queue_part(&queue, detail)?;
    let active_task_id = match &active_task {
        Some(t) => Some(t.task_id.clone()),
        None => queue.active()?.map(|c| c.id),
    };
    let owner = engine::owner::live_owner(ws);
    let process_running = engine::owner::is_owned(ws);
    let read_status = |plane| {
        status_file::read(&ws.agents, plane)
            .map_or_else(|e| format!("INVALID ({e})"), |m| m.to_string())
    };
    let (plan, preview) = plan_state(ws);
    let last_run = last_run(ws);
    let stored = engine::state::read(&ws.agents);
    let live = owner
        .as_ref()
        .is_some_and(|o| o.purpose == OwnerPurpose::Daemon);
    let daemon = if owner
        .as_ref()
        .is_some_and(|o| o.purpose == OwnerPurpose::Daemon)
    {
        stored.clone()
    } else {
        None
    };
    let active_run = runs::active(&ws.agents).ok().flatten();
    let unfinished_v020_run = match (&active_run, &active_task_id) {
        (None, Some(task)) => crate::store::v020::unfinished(&ws.agents, task),
        _ => None,
    };
    let waiting = active_run.as_ref().and_then(|a| waiting(ws, &a.run_id));
    let progress = active_run.as_ref().and_then(|a| progress(ws, a));
    let (active_stage, remaining_worst_case) = match progress {
        Some((s, w)) => (Some(s), Some(w)),
        None => (None, None),
    };
    let state = StateFields::of(ws, daemon.as_ref(), stored.as_ref());
    let budget_pause = any_budget_pause(ws, active_run.as_ref());
    Ok(StatusReport {
        queue_warnings,
        waiting,
        budget_pause,
        remaining_worst_case,
        active_stage,
        daemon,
        runtime: Runtime {
            process_running,
            owner,
            execution_status: read_status(Plane::Execution),
            research_status: read_status(Plane::Research),
            active_task_id,
            backlog_depth,
            frozen_batches: queue.frozen_batches()?,
            active_run,
            research_mode: ws.config.research.mode,
            active_research_run: runs::active_in(&ws.agents, Plane::Research).ok().flatten(),
            completion_decision: crate::store::research::completion_decision(&ws.agents)
                .and_then(|d| d["decision"].as_str().map(str::to_string)),
            config_hash: ws.config.hash(),
            state,
        },
        unfinished_v020_run,
        compat: super::status_compat::compat(ws, &queue, preview.as_ref(), live, detail)?,
        plan,
        last_run,
        config_path: ws.config_path.display().to_string(),
        workspace_root: ws.root.display().to_string(),
        active_task,
        next_task,
    })
}

/// The budget cap an active run of either plane is paused at.
fn any_budget_pause(ws: &Workspace, execution: Option<&ActiveRun>) -> Option<BudgetPause> {
    let research = runs::active_in(&ws.agents, Plane::Research).ok().flatten();
    execution
        .into_iter()
        .chain(research.as_ref())
        .find_map(|a| budget_pause(ws, &a.run_id))
}

/// The plan the config compiles to, and whether the persisted one is it
/// (a current persisted plan answers without compiling).
/// Also returns the plan (compiled, or persisted when it does not
/// compile) for the previews that read it.
fn plan_state(ws: &Workspace) -> (PlanState, Option<FrozenPlan>) {
    let reusable = engine::plan::reusable(ws);
    let compiled = match &reusable {
        Some(p) => Ok(p.clone()),
        None => engine::plan::show(ws, None),
    };
    let persisted = reusable.or_else(|| engine::plan::persisted(ws));
    let state = match &compiled {
        Ok(p) => PlanState {
            mode: p.content.mode.id.clone(),
            plan_id: Some(p.plan_id.clone()),
            content_hash: Some(p.content_hash.clone()),
            error_count: 0,
            persisted_plan_id: persisted.as_ref().map(|q| q.plan_id.clone()),
            current: persisted
                .as_ref()
                .is_some_and(|q| q.fingerprint == p.fingerprint),
        },
        Err(e) => PlanState {
            mode: ws.config.plan.mode.clone(),
            plan_id: None,
            content_hash: None,
            error_count: match e {
                engine::EngineError::Plan(d) => d.error_count(),
                _ => 1,
            },
            persisted_plan_id: persisted.as_ref().map(|q| q.plan_id.clone()),
            current: false,
        },
    };
    (state, compiled.ok().or(persisted))
}

/// The pointer the last finished run left; listing `runs/` only when it
/// is missing (an older workspace) or stale.
fn last_run(ws: &Workspace) -> Option<RunMeta> {
    runs::last(&ws.agents)
        .and_then(|id| RunDir::open_any(&ws.agents, &id)?.meta().ok())
        .or_else(|| {
            runs::list(&ws.agents).ok().and_then(|ids| {
                ids.into_iter()
                    .find_map(|id| RunDir::open_any(&ws.agents, &id)?.meta().ok())
            })
        })
}

/// Where the active run is and what it can still spend, from one read of
/// its history.
fn progress(
    ws: &Workspace,
    a: &runs::ActiveRun,
) -> Option<(ActiveStage, crate::compile::cost::WorstCase)> {
    let dir = RunDir::open(&ws.agents, &a.run_id)?;
    let (plan, meta) = (dir.plan().ok()?, dir.meta().ok()?);
    let lp = plan.content.loop_plan(meta.plane, &meta.loop_id)?;
    let history = dir.history().ok()?;
    let ran = history
        .iter()
        .filter(|t| t.event == TransitionEvent::StageFinished)
        .count() as u64;
    let current = history.iter().rev().find(|t| {
        matches!(
            t.event,
            TransitionEvent::StageStarted
                | TransitionEvent::StageFinished
                | TransitionEvent::StageFaulted
        )
    });
    let in_stage = current.filter(|t| t.event == TransitionEvent::StageStarted);
    let stage = ActiveStage {
        run_id: a.run_id.clone(),
        run_started_at: meta.started_at.clone(),
        node: current.and_then(|t| t.node.clone()),
        stage_kind: current.and_then(|t| t.stage_kind.clone()),
        attempt: current.and_then(|t| t.attempt),
        stage_started_at: in_stage.map(|t| t.timestamp.clone()),
        stages_finished: ran,
    };
    let worst =
        crate::compile::cost::worst_case(lp, &ws.config, lp.max_stage_runs.saturating_sub(ran));
    Some((stage, worst))
}

/// Whether a live process (daemon or `start --once`) owns the workspace:
/// one lock probe, for views that poll only this.
pub fn process_running(ws: &Workspace) -> bool {
    engine::owner::is_owned(ws)
}
