//! The run driver: starting, resuming and walking a run.
//!
//! A run is one work item through one frozen plan, copied into
//! `agents/runs/<run_id>/` at start. Each stage attempt is recorded twice in
//! `transition_history.jsonl` (fsynced): `stage.started` before the agent is
//! called and `stage.finished` — with the routing decision, counters and
//! attempts — before the run moves on. Resuming replays that history: a
//! stage that was in flight is run again as a new attempt; a decided route
//! is followed; a reached terminal state has its (idempotent) queue effect
//! applied again.
//!
//! This module owns the run's state and its records; one stage attempt is
//! [`super::attempt`], the terminal queue effects are [`super::terminal`].

use serde_json::Value;

use crate::compile::plan::{FrozenPlan, LoopPlan, Target};
use crate::defs::clock;
use crate::defs::loop_def::TaskSize;
use crate::defs::marker::Marker;
use crate::defs::stage_kind::Plane;
use crate::store::cards::{file_slug, Card, MAX_FILE_SLUG};
use crate::store::failpoint;
use crate::store::research::WorkItem;
use crate::store::runs::{self, ActiveRun, RunDir, RunMeta, Transition, TransitionEvent};

pub use super::driver::{redaction, RunReport};
use super::driver::{relative_to, terminal_state, Driver, Result};
use super::progress::{Progress, Replayed};
use super::route::Facts;
use super::sizing::complexity_band;
use super::{InterpError, Runtime};

/// Starts a run of `task` through the `execution` loop of `plan`.
pub fn start(rt: &Runtime, plan: &FrozenPlan, task: Card) -> Result<RunReport> {
    let lp = plan.content.planes.get(&Plane::Execution).ok_or_else(|| {
        InterpError::Inconsistent(format!(
            "mode `{}` has no execution loop",
            plan.content.mode.id
        ))
    })?;
    // `[sizing]`: a LARGE task runs the large loop, when the plan has one.
    let size = super::sizing::decide(rt, &task);
    let lp = match (&size, &plan.content.large) {
        (Some((true, _)), Some(large)) => large,
        _ => lp,
    };
    super::budget::admit(rt, lp, &task)?;
    let run_id = format!(
        "{}__{}",
        clock::now_stamp(),
        file_slug(&task.id, MAX_FILE_SLUG)
    );
    let mut facts = facts(rt, lp, &task);
    if let Some((_, why)) = size {
        facts.insert("size_decision".into(), Value::String(why));
    }
    begin(rt, plan, lp, "task", run_id, Work::Task(task), facts)
}

/// Starts a research run of `item` through the loop of its family.
pub fn start_research(rt: &Runtime, plan: &FrozenPlan, item: WorkItem) -> Result<RunReport> {
    let lp = plan.content.research.get(&item.family).ok_or_else(|| {
        InterpError::Inconsistent(format!(
            "plan `{}` has no loop for the `{}` research family",
            plan.plan_id, item.family
        ))
    })?;
    let run_id = format!(
        "{}__{}-{}",
        clock::now_stamp(),
        item.family,
        file_slug(&item.id, MAX_FILE_SLUG)
    );
    begin(
        rt,
        plan,
        lp,
        item.family.entry(),
        run_id,
        Work::Item(item),
        Facts::new(),
    )
}

/// Starts the update with no task that `execution.run_update_on_empty`
/// asks for once the backlog drains (run id `…__update-empty`), at the
/// execution loop's `empty` entry; none when the loop has no such entry.
pub fn start_update_on_empty(rt: &Runtime, plan: &FrozenPlan) -> Result<Option<RunReport>> {
    let Some(lp) = plan.content.planes.get(&Plane::Execution) else {
        return Ok(None);
    };
    if !lp.entries.contains_key(EMPTY_ENTRY) {
        tracing::info!(
            "execution.run_update_on_empty is set but loop `{}` has no `{EMPTY_ENTRY}` entry",
            lp.loop_id
        );
        return Ok(None);
    }
    let run_id = format!("{}__update-empty", clock::now_stamp());
    let facts: Facts = [
        ("integration".to_string(), Value::Bool(false)),
        (
            "complexity".to_string(),
            Value::String(
                rt.config
                    .complexity_default_band()
                    .unwrap_or_else(|| "moderate".to_string()),
            ),
        ),
        ("backlog_empty".to_string(), Value::Bool(true)),
    ]
    .into_iter()
    .collect();
    begin(rt, plan, lp, EMPTY_ENTRY, run_id, Work::Empty, facts).map(Some)
}

/// The entry of an execution loop a taskless update starts at.
pub const EMPTY_ENTRY: &str = "empty";

/// What a run works on.
enum Work {
    Task(Card),
    Item(WorkItem),
    /// Nothing: an update after the backlog drained.
    Empty,
}

fn begin(
    rt: &Runtime,
    plan: &FrozenPlan,
    lp: &LoopPlan,
    entry_key: &str,
    run_id: String,
    work: Work,
    facts: Facts,
) -> Result<RunReport> {
    let plane = lp.plane;
    let entry = lp
        .entries
        .get(entry_key)
        .ok_or_else(|| {
            InterpError::Inconsistent(format!("loop `{}` has no `{entry_key}` entry", lp.loop_id))
        })?
        .clone();
    let (task, item) = match work {
        Work::Task(t) => (Some(t), None),
        Work::Item(i) => (None, Some(i)),
        Work::Empty => (None, None),
    };
    runs::mark_starting(&rt.agents, &run_id).map_err(InterpError::io(format!(
        "cannot mark run {run_id} as starting"
    )))?;
    let dir = RunDir::create(&rt.agents, &run_id, plan)
        .map_err(InterpError::io(format!("cannot create run {run_id}")))?;
    let meta = RunMeta {
        run_id: run_id.clone(),
        plan_id: plan.plan_id.clone(),
        content_hash: plan.content_hash.clone(),
        mode_id: plan.content.mode.id.clone(),
        plane,
        loop_id: lp.loop_id.clone(),
        task_id: task.as_ref().map(|t| t.id.clone()),
        task_title: task
            .as_ref()
            .map(|t| t.title.clone())
            .or_else(|| item.as_ref().map(|i| i.title.clone())),
        started_at: clock::now_iso(),
        finished_at: None,
        state: "running".into(),
        terminal_class: None,
        git: task
            .as_ref()
            .filter(|_| plane == crate::defs::stage_kind::Plane::Execution)
            .and_then(|_| super::git_work::base(rt)),
        facts,
        item,
    };
    dir.write_meta(&meta)
        .map_err(InterpError::io("cannot write run.json"))?;
    failpoint::hit("run.created").map_err(InterpError::io("run.created"))?;
    let active = ActiveRun {
        run_id: run_id.clone(),
        plane,
        task_id: meta.task_id.clone(),
        started_at: meta.started_at.clone(),
    };
    let next = Target::Node(entry);
    let mut run = Driver::new(
        rt,
        plan.clone(),
        dir,
        meta,
        task,
        Progress::new(next.clone()),
    );
    tracing::debug!(run = %run.dir.id, "run created");
    // The start is recorded before the run is made active: a crash between
    // the two leaves the task active (or the item in its intake) and no
    // pointer, so the next start simply starts a fresh run for it.
    let decision = [
        run.meta
            .facts
            .get("size_decision")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        run.complexity_decision(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>();
    let decision = (!decision.is_empty()).then(|| decision.join("; "));
    run.record(Transition {
        next: Some(next),
        route_reason: decision,
        ..run.transition(TransitionEvent::RunStarted)
    })?;
    failpoint::hit("run.started").map_err(InterpError::io("run.started"))?;
    runs::set_active(&rt.agents, &active)
        .map_err(InterpError::io("cannot write active_run.json"))?;
    runs::unmark_starting(&rt.agents, &active.run_id);
    run.drive()
}

/// Finishes the run `run_id` from its last recorded step. `None` when there
/// is nothing to resume: the run never recorded its start (a crash right
/// after it was created), so the active pointer is dropped and the next
/// cycle starts afresh.
pub fn resume(rt: &Runtime, plane: Plane, run_id: &str) -> Result<Option<RunReport>> {
    let Some(dir) = RunDir::open(&rt.agents, run_id) else {
        tracing::warn!(
            run = run_id,
            "the active run has no frozen plan; dropping it"
        );
        runs::clear_active_in(&rt.agents, plane)
            .map_err(InterpError::io("cannot clear active_run.json"))?;
        return Ok(None);
    };
    let plan = dir.plan().map_err(InterpError::io(format!(
        "cannot load the frozen plan of {run_id}"
    )))?;
    let meta = dir
        .meta()
        .map_err(InterpError::io(format!("cannot read run.json of {run_id}")))?;
    if plan.content.loop_plan(meta.plane, &meta.loop_id).is_none() {
        return Err(InterpError::Inconsistent(format!(
            "the frozen plan of {run_id} has no loop `{}`",
            meta.loop_id
        )));
    }
    let task = match &meta.task_id {
        None => None,
        Some(id) => {
            let active = rt.queue.active()?;
            match active {
                Some(card) if &card.id == id => Some(card),
                // The terminal queue effect may already have moved the card.
                _ => None,
            }
        }
    };
    let history = dir.history().map_err(InterpError::io(format!(
        "cannot read the history of {run_id}"
    )))?;
    let progress = match Progress::replay(&history) {
        Replayed::NotStarted | Replayed::Abandoned => {
            // Marked again, so that the next owner of the workspace closes
            // it with a record (`runs::close_abandoned`).
            tracing::warn!(
                run = run_id,
                "the active run never recorded its start, or was abandoned; dropping it"
            );
            runs::mark_starting(&rt.agents, run_id)
                .map_err(InterpError::io("cannot mark a dropped run for closing"))?;
            runs::clear_active_in(&rt.agents, plane)
                .map_err(InterpError::io("cannot clear active_run.json"))?;
            return Ok(None);
        }
        Replayed::Finished { terminal, status } => {
            return finalize(rt, plan, dir, meta, &terminal, status, &history).map(Some);
        }
        Replayed::Running(p) => p,
    };
    let mut run = Driver::new(rt, plan, dir, meta, task, progress);
    run.resumed = true;
    tracing::info!(run = run_id, next = ?run.next, "resuming interrupted run");
    run.drive().map(Some)
}

/// Completes a run whose `run.finished` is recorded but whose `run.json`
/// or active pointer was not updated (a crash in between).
fn finalize(
    rt: &Runtime,
    plan: FrozenPlan,
    dir: RunDir,
    mut meta: RunMeta,
    terminal: &str,
    status: Option<Marker>,
    history: &[Transition],
) -> Result<RunReport> {
    let lp = plan
        .content
        .loop_plan(meta.plane, &meta.loop_id)
        .ok_or_else(|| {
            InterpError::Inconsistent(format!("frozen plan has no loop `{}`", meta.loop_id))
        })?;
    let t = terminal_state(lp, terminal)?;
    let class = crate::defs::serde_name(&t.class);
    if meta.finished_at.is_none() {
        meta.state = terminal.to_string();
        meta.finished_at = Some(clock::now_iso());
        meta.terminal_class = Some(class.clone());
        dir.write_meta(&meta)
            .map_err(InterpError::io("cannot write run.json"))?;
    }
    runs::clear_active_in(&rt.agents, meta.plane)
        .map_err(InterpError::io("cannot clear active_run.json"))?;
    runs::set_last(&rt.agents, &dir.id);
    tracing::warn!(run = %dir.id, "completed a run that had finished before a crash");
    let effects = crate::store::research::applied(&rt.agents, &dir.id);
    Ok(RunReport {
        run_dir: relative_to(&rt.root, &dir.path),
        run_id: dir.id,
        plan_id: plan.plan_id,
        task_id: meta.task_id,
        task_title: meta.task_title,
        terminal: terminal.to_string(),
        terminal_class: class,
        queue_effect: crate::defs::serde_name(&t.queue),
        status: status.unwrap_or_else(Marker::idle),
        item: meta.item.clone(),
        effects,
        stages_run: history
            .iter()
            .filter(|t| t.event == TransitionEvent::StageFinished)
            .count() as u32,
        resumed: true,
    })
}

/// Routing facts, fixed for the whole run.
fn facts(rt: &Runtime, lp: &LoopPlan, task: &Card) -> Facts {
    let integration = super::integration::decide(
        rt.config.execution.integration_mode,
        lp.size == TaskSize::Large,
        Some(task),
    )
    .run;
    [
        ("integration".to_string(), Value::Bool(integration)),
        (
            "complexity".to_string(),
            Value::String(complexity_band(rt, task)),
        ),
    ]
    .into_iter()
    .collect()
}

impl Driver<'_> {
    fn drive(mut self) -> Result<RunReport> {
        loop {
            match self.next.clone() {
                Target::Node(node) => {
                    if !self.rt.control.proceed() {
                        return Err(self.interrupted(&node, None));
                    }
                    if u64::from(self.stages_run()) >= self.lp().max_stage_runs {
                        return Err(InterpError::Inconsistent(format!(
                            "run `{}` exceeded the proved bound of {} stage executions",
                            self.dir.id,
                            self.lp().max_stage_runs
                        )));
                    }
                    if let Some(stop) = self.budget_stop(&node) {
                        return Err(self.budget_paused(stop));
                    }
                    self.run_stage(&node)?;
                }
                Target::Terminal(t) => return self.finish(&t),
            }
        }
    }
}
