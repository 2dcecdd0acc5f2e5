//! The run driver.
//!
//! A run is one work item through one frozen plan, copied into
//! `agents/runs/<run_id>/` at start. Each stage attempt is recorded twice in
//! `transition_history.jsonl` (fsynced): `stage.started` before the agent is
//! called and `stage.finished` — with the routing decision, counters and
//! attempts — before the run moves on. Resuming replays that history: a
//! stage that was in flight is run again as a new attempt; a decided route
//! is followed; a reached terminal state has its (idempotent) queue effect
//! applied again.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::defs::serde_name;
use serde_json::{json, Value};

use crate::compile::plan::{FrozenPlan, LoopPlan, NodePlan, StageKindPlan, Target};
use crate::defs::config::IntegrationMode;
use crate::defs::loop_def::{QueueEffect, TaskSize};
use crate::defs::stage_kind::Plane;
use crate::runner::{self, marker::last_marker, StagePaths, StageRequest, StageResult};
use crate::store::cards::{slug, Card};
use crate::store::events::{EventKind, EventSource, HandoffEvent, PlaneEvent};
use crate::store::queue::QuarantineRequest;
use crate::store::runs::{self, ActiveRun, Bound, RunDir, RunMeta, Transition, TransitionEvent};
use crate::store::{status, time};

use super::prompt::{self, PreviousStage, PromptInputs};
use super::route::{self, Facts};
use super::{InterpError, Runtime};

type Result<T> = std::result::Result<T, InterpError>;

/// How a run ended, for the operator.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub run_dir: String,
    pub plan_id: String,
    pub task_id: Option<String>,
    pub task_title: Option<String>,
    pub terminal: String,
    pub terminal_class: String,
    pub queue_effect: String,
    /// Status marker of the plane after the run.
    pub status: String,
    pub stages_run: u32,
    pub resumed: bool,
}

/// Starts a run of `task` through the `execution` loop of `plan`.
pub fn start(rt: &Runtime, plan: &FrozenPlan, task: Card) -> Result<RunReport> {
    let plane = Plane::Execution;
    let lp = plan.content.planes.get(&plane).ok_or_else(|| {
        InterpError::Inconsistent(format!(
            "mode `{}` has no execution loop",
            plan.content.mode.id
        ))
    })?;
    let entry = lp
        .entries
        .get("task")
        .ok_or_else(|| {
            InterpError::Inconsistent(format!("loop `{}` has no `task` entry", lp.loop_id))
        })?
        .clone();
    let run_id = format!("{}__{}", time::now_stamp(), slug(&task.id));
    let dir = RunDir::create(&rt.agents, &run_id, plan)
        .map_err(InterpError::io(format!("cannot create run {run_id}")))?;
    let meta = RunMeta {
        run_id: run_id.clone(),
        plan_id: plan.plan_id.clone(),
        content_hash: plan.content_hash.clone(),
        mode_id: plan.content.mode.id.clone(),
        plane: plane.as_str().to_string(),
        loop_id: lp.loop_id.clone(),
        task_id: Some(task.id.clone()),
        task_title: Some(task.title.clone()),
        started_at: time::now_iso(),
        finished_at: None,
        state: "running".into(),
        terminal_class: None,
        facts: facts(rt, lp, &task),
    };
    dir.write_meta(&meta)
        .map_err(InterpError::io("cannot write run.json"))?;
    runs::set_active(
        &rt.agents,
        &ActiveRun {
            run_id: run_id.clone(),
            plane: plane.as_str().to_string(),
            task_id: Some(task.id.clone()),
            started_at: meta.started_at.clone(),
        },
    )
    .map_err(InterpError::io("cannot write active_run.json"))?;
    let mut run = Driver::new(
        rt,
        plan.clone(),
        plane,
        dir,
        meta,
        Some(task),
        Target::Node(entry.clone()),
    );
    tracing::debug!(run = %run.dir.id, "run created");
    run.record(Transition {
        next: Some(Target::Node(entry)),
        ..run.transition(TransitionEvent::RunStarted)
    })?;
    run.drive()
}

/// Finishes the run `run_id` from its last recorded step.
pub fn resume(rt: &Runtime, run_id: &str) -> Result<RunReport> {
    let dir = RunDir::open(&rt.agents, run_id)
        .ok_or_else(|| InterpError::Inconsistent(format!("run `{run_id}` has no frozen plan")))?;
    let plan = dir.plan().map_err(InterpError::io(format!(
        "cannot load the frozen plan of {run_id}"
    )))?;
    let meta = dir
        .meta()
        .map_err(InterpError::io(format!("cannot read run.json of {run_id}")))?;
    let plane = if meta.plane == "research" {
        Plane::Research
    } else {
        Plane::Execution
    };
    let task = match &meta.task_id {
        None => None,
        Some(id) => {
            let active = rt.queue.snapshot()?.active;
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
    let mut run = Driver::new(
        rt,
        plan,
        plane,
        dir,
        meta,
        task,
        Target::Terminal(String::new()),
    );
    run.replay(&history)?;
    run.resumed = true;
    tracing::info!(run = run_id, next = ?run.next, "resuming interrupted run");
    run.drive()
}

/// Routing facts, fixed for the whole run.
fn facts(rt: &Runtime, lp: &LoopPlan, task: &Card) -> Facts {
    let card = task.field("Integration").map(|v| v.to_ascii_lowercase());
    let integration = match card.as_deref() {
        Some("force" | "forced" | "always" | "on" | "run" | "required" | "require") => true,
        Some("skip" | "suppress" | "never" | "off" | "disable" | "disabled") => false,
        _ => match rt.config.execution.integration_mode {
            IntegrationMode::Always => true,
            IntegrationMode::Never => false,
            IntegrationMode::LargeOnly => lp.size == TaskSize::Large,
        },
    };
    [("integration".to_string(), Value::Bool(integration))]
        .into_iter()
        .collect()
}

struct Driver<'a> {
    rt: &'a Runtime,
    plan: FrozenPlan,
    plane: Plane,
    dir: RunDir,
    meta: RunMeta,
    task: Option<Card>,
    seq: u32,
    counters: BTreeMap<String, u32>,
    attempts: BTreeMap<String, u32>,
    previous: Vec<PreviousStage>,
    next: Target,
    stages_finished: u32,
    resumed: bool,
    /// Open append handle of `transition_history.jsonl`.
    history: Option<std::fs::File>,
}

impl<'a> Driver<'a> {
    fn new(
        rt: &'a Runtime,
        plan: FrozenPlan,
        plane: Plane,
        dir: RunDir,
        meta: RunMeta,
        task: Option<Card>,
        next: Target,
    ) -> Self {
        Driver {
            rt,
            plan,
            plane,
            dir,
            meta,
            task,
            seq: 0,
            counters: BTreeMap::new(),
            attempts: BTreeMap::new(),
            previous: Vec::new(),
            next,
            stages_finished: 0,
            resumed: false,
            history: None,
        }
    }

    fn lp(&self) -> &LoopPlan {
        &self.plan.content.planes[&self.plane]
    }

    /// Emits `<plane>.<what>` with the plane as source.
    fn emit(&self, what: PlaneEvent, payload: Value) {
        self.rt.event(EventKind::Plane(self.plane, what), payload);
    }

    /// The plane's status marker; a malformed file reads as IDLE (runs
    /// resume from their history, not from the status file).
    fn status(&self) -> String {
        status::read(&self.rt.agents, self.plane).unwrap_or_else(|e| {
            tracing::warn!("{e}; treating as IDLE");
            "IDLE".into()
        })
    }

    /// Rebuilds the run state from its history.
    fn replay(&mut self, history: &[Transition]) -> Result<()> {
        let mut in_flight: Option<String> = None;
        for t in history {
            self.seq = self.seq.max(t.seq);
            match t.event {
                TransitionEvent::RunStarted => {
                    self.next = t.next.clone().unwrap_or_else(|| self.next.clone());
                }
                TransitionEvent::StageStarted => {
                    in_flight = t.node.clone();
                    self.attempts = t.attempts.clone();
                    self.counters = t.counters.clone();
                }
                TransitionEvent::StageFinished => {
                    in_flight = None;
                    self.attempts = t.attempts.clone();
                    self.counters = t.counters.clone();
                    self.stages_finished += 1;
                    if let Some(next) = &t.next {
                        self.next = next.clone();
                    }
                    self.previous.push(PreviousStage {
                        node: t.node.clone().unwrap_or_default(),
                        stage: t.stage_kind.clone().unwrap_or_default(),
                        outcome: t.outcome.clone().unwrap_or_default(),
                        summary: t.failure.clone().unwrap_or_default(),
                    });
                }
                TransitionEvent::RunFinished => {
                    return Err(InterpError::Inconsistent(format!(
                        "run `{}` already finished",
                        self.dir.id
                    )));
                }
                TransitionEvent::RunInterrupted => {}
            }
        }
        if let Some(node) = in_flight {
            // The agent was running when the process died: run it again; the
            // interrupted attempt stays counted.
            self.next = Target::Node(node);
        }
        if let Target::Terminal(t) = &self.next {
            if t.is_empty() {
                return Err(InterpError::Inconsistent(format!(
                    "run `{}` has no recorded start",
                    self.dir.id
                )));
            }
        }
        Ok(())
    }

    /// A transition record with the run's current state filled in.
    fn transition(&self, event: TransitionEvent) -> Transition {
        Transition {
            schema_version: 1,
            event_id: String::new(),
            seq: 0,
            run_id: self.dir.id.clone(),
            timestamp: String::new(),
            event,
            node: None,
            stage_kind: None,
            attempt: None,
            outcome: None,
            outcome_source: None,
            failure: None,
            exit_code: None,
            duration_ms: None,
            selected_edge: None,
            route_reason: None,
            next: None,
            counters: self.counters.clone(),
            attempts: self.attempts.clone(),
            status_before: None,
            status_after: None,
            bound: None,
            artifacts: Vec::new(),
            queue_mutations: Vec::new(),
            usage: None,
            plan_id: self.plan.plan_id.clone(),
            content_hash: self.plan.content_hash.clone(),
        }
    }

    fn record(&mut self, mut t: Transition) -> Result<()> {
        self.seq += 1;
        t.seq = self.seq;
        t.event_id = format!("{}-transition-{:04}", self.dir.id, self.seq);
        t.timestamp = time::now_iso();
        if self.history.is_none() {
            self.history = Some(
                self.dir
                    .history_writer()
                    .map_err(InterpError::io("cannot open transition_history.jsonl"))?,
            );
        }
        let file = self.history.as_mut().expect("just opened");
        runs::append_to(file, &t)
            .map_err(InterpError::io("cannot append to transition_history.jsonl"))
    }

    fn set_status(&self, marker: &str, mode: &str, context: &Value) -> Result<String> {
        let previous = self.status();
        status::write(&self.rt.agents, self.plane, marker)?;
        let payload = merged(
            context,
            json!({
                "plane": self.plane.as_str(),
                "status": marker,
                "transition_mode": mode,
                "previous_status": previous,
            }),
        );
        self.emit(PlaneEvent::StatusChanged, payload);
        Ok(previous)
    }

    fn drive(mut self) -> Result<RunReport> {
        loop {
            match self.next.clone() {
                Target::Node(node) => {
                    if !self.rt.control.proceed() {
                        return Err(self.interrupted(&node));
                    }
                    if u64::from(self.stages_finished) >= self.lp().max_stage_runs {
                        return Err(InterpError::Inconsistent(format!(
                            "run `{}` exceeded the proved bound of {} stage executions",
                            self.dir.id,
                            self.lp().max_stage_runs
                        )));
                    }
                    self.run_stage(&node)?;
                }
                Target::Terminal(t) => return self.finish(&t),
            }
        }
    }

    fn stage_context(&self, node: &NodePlan, kind: &StageKindPlan) -> Value {
        json!({
            "stage": kind.id,
            "run_id": self.dir.id,
            "node_id": node.node_id,
            "task_id": self.task.as_ref().map(|t| t.id.clone()).or(self.meta.task_id.clone()),
            "title": self.task.as_ref().map(|t| t.title.clone()).or(self.meta.task_title.clone()),
        })
    }

    fn run_stage(&mut self, node_id: &str) -> Result<()> {
        let node = self.lp().nodes.get(node_id).cloned().ok_or_else(|| {
            InterpError::Inconsistent(format!("frozen plan has no node `{node_id}`"))
        })?;
        let kind = self.plan.content.kind_of(&node).clone();
        let prompt_plan = self.plan.content.prompts[&node.prompt].clone();
        let t0 = std::time::Instant::now();
        let attempt = self.attempts.get(node_id).copied().unwrap_or(0) + 1;
        self.attempts.insert(node_id.to_string(), attempt);
        let ctx = self.stage_context(&node, &kind);
        let status_before = self.set_status(&kind.running_marker, "transition", &ctx)?;

        let paths = StagePaths {
            prompt: self.dir.artifact(node_id, attempt, "prompt.md"),
            stdout: self.dir.artifact(node_id, attempt, "stdout.log"),
            stderr: self.dir.artifact(node_id, attempt, "stderr.log"),
            last: self.dir.artifact(node_id, attempt, "last.md"),
            invocation: self.dir.artifact(node_id, attempt, "invocation.json"),
        };
        let _ = std::fs::remove_file(&paths.last);
        let status_file = status::path(&self.rt.agents, self.plane);
        let rendered = prompt::render(
            &prompt_plan.template,
            &PromptInputs {
                workspace: &self.rt.root,
                agents: &self.rt.agents,
                run_id: &self.dir.id,
                run_dir: &self.dir.path,
                mode: &self.plan.content.mode.id,
                lp: self.lp(),
                node: &node,
                kind: &kind,
                task: self.task.as_ref(),
                attempt,
                counters: &self.counters,
                previous: &self.previous,
                status_file: &status_file,
            },
        );
        let bound = Bound {
            runner: node.runner.clone(),
            model: node.model.clone(),
            effort: node.effort.map(|e| e.as_str().to_string()),
            timeout_seconds: node.timeout_seconds,
            prompt: prompt_plan.source.clone(),
            prompt_sha256: prompt_plan.sha256.clone(),
        };
        self.record(Transition {
            node: Some(node_id.to_string()),
            stage_kind: Some(kind.id.clone()),
            attempt: Some(attempt),
            status_before: Some(status_before),
            status_after: Some(kind.running_marker.clone()),
            bound: Some(bound.clone()),
            ..self.transition(TransitionEvent::StageStarted)
        })?;
        self.emit(PlaneEvent::StageStarted, ctx.clone());

        let t_pre = t0.elapsed();
        let result = match rendered {
            Ok(text) => {
                let _ = std::fs::write(&paths.prompt, &text);
                self.invoke(&node, &kind, attempt, text, paths.clone())
            }
            Err(e) => runner::failed_to_start(
                &self.request(&node, &kind, attempt, String::new(), paths.clone()),
                format!(
                    "prompt template `{}` failed to render: {e:#}",
                    prompt_plan.path
                ),
            ),
        };
        let t_agent = t0.elapsed();
        if self.rt.control.stop_requested() && result.exit.signal.is_some() {
            // Killed by a stop, not failed: leave the attempt unfinished so
            // the next start runs it again.
            return Err(self.interrupted(node_id));
        }
        tracing::debug!(
            node = node_id,
            agent_us = result.exit.duration.as_micros() as u64,
            pre_us = t_pre.as_micros() as u64,
            invoke_us = (t_agent - t_pre).as_micros() as u64,
            "agent returned"
        );
        let verdict = normalise(&kind, &result, &paths);
        let resume = result
            .final_text
            .as_deref()
            .and_then(prompt::resume_request)
            .map(str::to_string);
        let facts = self.meta.facts.clone();
        let lp = self.plan.content.planes[&self.plane].clone();
        let decision = route::route(
            &lp,
            node_id,
            &verdict.outcome,
            &mut self.counters,
            &facts,
            resume.as_deref(),
        )?;
        write_result(&paths, &result, &verdict, &decision);

        self.set_status(
            &verdict.outcome,
            if verdict.failure.is_some() {
                "raw"
            } else {
                "confirmed"
            },
            &ctx,
        )?;
        let success = kind.outcome_class(&verdict.outcome)
            == Some(crate::defs::stage_kind::OutcomeClass::Success);
        let mut payload = merged(
            &ctx,
            json!({
                "status": verdict.outcome,
                "exit_code": result.exit.code,
                "run_dir": self.dir.path.display().to_string(),
                "attempt": attempt,
            }),
        );
        if let Some(f) = &verdict.failure {
            payload = merged(&payload, json!({ "error": f }));
        }
        let kind_event = if success && verdict.failure.is_none() {
            PlaneEvent::StageCompleted
        } else {
            PlaneEvent::StageFailed
        };
        self.emit(kind_event, payload);
        if let Some((counter, value, limit)) = &decision.counted {
            let p = merged(
                &ctx,
                json!({"counter": counter, "value": value, "limit": limit}),
            );
            let what = if decision.exhausted {
                PlaneEvent::CounterExhausted
            } else {
                PlaneEvent::CounterIncremented
            };
            self.emit(what, p);
        }
        let artifacts = [
            &paths.prompt,
            &paths.stdout,
            &paths.stderr,
            &paths.last,
            &paths.invocation,
        ]
        .iter()
        .filter(|p| p.exists())
        .map(|p| self.relative(p))
        .chain(std::iter::once(self.relative(&self.dir.artifact(
            node_id,
            attempt,
            "result.json",
        ))))
        .collect();
        self.record(Transition {
            node: Some(node_id.to_string()),
            stage_kind: Some(kind.id.clone()),
            attempt: Some(attempt),
            outcome: Some(verdict.outcome.clone()),
            outcome_source: Some(verdict.source.to_string()),
            failure: verdict.failure.clone(),
            exit_code: result.exit.code,
            duration_ms: Some((result.exit.duration.as_micros() as f64) / 1000.0),
            selected_edge: Some(decision.edge_id.clone()),
            route_reason: Some(decision.reason.clone()),
            next: Some(decision.target.clone()),
            status_after: Some(verdict.outcome.clone()),
            bound: Some(bound),
            artifacts,
            usage: result.usage.clone(),
            ..self.transition(TransitionEvent::StageFinished)
        })?;
        self.stages_finished += 1;
        tracing::debug!(
            node = node_id,
            post_us = (t0.elapsed() - t_agent).as_micros() as u64,
            "stage recorded"
        );
        self.previous.push(PreviousStage {
            node: node_id.to_string(),
            stage: kind.id.clone(),
            outcome: verdict.outcome,
            summary: verdict
                .failure
                .unwrap_or_else(|| summary(result.final_text.as_deref())),
        });
        self.next = decision.target;
        Ok(())
    }

    /// Records the interruption (informational; replay ignores it).
    fn interrupted(&mut self, node: &str) -> InterpError {
        let _ = self.record(Transition {
            node: Some(node.to_string()),
            ..self.transition(TransitionEvent::RunInterrupted)
        });
        self.emit(
            PlaneEvent::RunInterrupted,
            json!({"run_id": self.dir.id, "node_id": node, "task_id": self.meta.task_id}),
        );
        InterpError::Interrupted(self.dir.id.clone())
    }

    fn relative(&self, p: &Path) -> String {
        p.strip_prefix(&self.rt.root)
            .unwrap_or(p)
            .display()
            .to_string()
    }

    fn request(
        &self,
        node: &NodePlan,
        kind: &StageKindPlan,
        attempt: u32,
        prompt: String,
        paths: StagePaths,
    ) -> StageRequest {
        let config = self
            .rt
            .config
            .runners
            .get(&node.runner)
            .cloned()
            .unwrap_or_default();
        StageRequest {
            kind: runner::kind_of(&node.runner, self.rt.config.runners.get(&node.runner)),
            runner_id: node.runner.clone(),
            config,
            workspace: self.rt.root.clone(),
            run_id: self.dir.id.clone(),
            run_dir: self.dir.path.clone(),
            node: node.node_id.clone(),
            stage_kind: kind.id.clone(),
            attempt,
            prompt,
            model: node.model.clone(),
            effort: node.effort,
            timeout: Duration::from_secs(node.timeout_seconds),
            outcomes: kind.outcomes.iter().map(|o| o.marker.clone()).collect(),
            paths,
            group: self.rt.control.stage_group().clone(),
        }
    }

    fn invoke(
        &self,
        node: &NodePlan,
        kind: &StageKindPlan,
        attempt: u32,
        prompt: String,
        paths: StagePaths,
    ) -> StageResult {
        let req = self.request(node, kind, attempt, prompt, paths);
        runner::adapter(req.kind).run(&req)
    }

    fn finish(mut self, terminal_id: &str) -> Result<RunReport> {
        let t = self
            .lp()
            .terminals
            .get(terminal_id)
            .cloned()
            .ok_or_else(|| {
                InterpError::Inconsistent(format!(
                    "frozen plan has no terminal state `{terminal_id}`"
                ))
            })?;
        tracing::debug!(terminal = terminal_id, "terminal reached");
        let ctx = json!({ "run_id": self.dir.id, "terminal": terminal_id, "task_id": self.meta.task_id, "title": self.meta.task_title });
        self.set_status(&t.status, "transition", &ctx)?;
        let mut mutations = Vec::new();
        let task_id = self.meta.task_id.clone();
        let title = self.meta.task_title.clone();
        match (t.queue, &task_id) {
            (QueueEffect::Archive, Some(id)) => {
                self.rt.queue.archive_active(id)?;
                mutations.push("archive_task".to_string());
                self.emit(
                    PlaneEvent::TaskArchived,
                    json!({"task_id": id, "title": title}),
                );
                self.set_status("IDLE", "transition", &ctx)?;
            }
            (QueueEffect::Quarantine, Some(id)) => {
                let last = self.previous.last().cloned();
                let reason = last
                    .as_ref()
                    .map(|p| {
                        format!(
                            "{} ended with {}{}",
                            p.node,
                            p.outcome,
                            if p.summary.is_empty() {
                                String::new()
                            } else {
                                format!(": {}", p.summary)
                            }
                        )
                    })
                    .unwrap_or_else(|| "reached needs_research".into());
                let stage = last.as_ref().map(|p| p.node.clone()).unwrap_or_default();
                let run_dir = self.relative(&self.dir.path);
                let handoff = json!({
                    "source_plane": self.plane.as_str(),
                    "target_plane": "research",
                    "trigger_event": EventKind::Plane(self.plane, PlaneEvent::TaskQuarantined).to_string(),
                    "queue_family": "blocker",
                    "parent_run": {
                        "plane": self.plane.as_str(),
                        "run_id": self.dir.id,
                        "frozen_plan_id": self.plan.plan_id,
                        "frozen_plan_hash": self.plan.content_hash,
                        "transition_history_path": format!("{run_dir}/{}", runs::HISTORY),
                    },
                    "task_id": id,
                    "task_title": title,
                    "status": t.status,
                    "stage": stage,
                    "reason": reason,
                    "run_dir": run_dir,
                });
                let out = self.rt.queue.quarantine(&QuarantineRequest {
                    task_id: id.clone(),
                    run_id: self.dir.id.clone(),
                    run_dir: run_dir.clone(),
                    stage: stage.clone(),
                    reason: reason.clone(),
                    prompt_artifact: last.map(|p| {
                        format!(
                            "{run_dir}/{}.{}.prompt.md",
                            p.node,
                            self.attempts.get(&p.node).copied().unwrap_or(1)
                        )
                    }),
                    handoff: handoff.clone(),
                })?;
                mutations.push("quarantine_task".to_string());
                let handoff = merged(
                    &handoff,
                    json!({
                        "handoff_id": out.handoff_id,
                        "incident_path": out.incident_path,
                        "recovery_batch_id": out.batch_id,
                        "failure_signature": "needs_research",
                        "frozen_backlog_cards": out.frozen_backlog_cards,
                        "retained_backlog_cards": 0,
                    }),
                );
                self.emit(PlaneEvent::TaskQuarantined, json!({"task_id": id, "title": title, "diagnostics_dir": null, "handoff_id": out.handoff_id}),
                );
                self.rt.event_from(
                    EventKind::Handoff(HandoffEvent::NeedsResearch),
                    EventSource::of_plane(self.plane),
                    json!({"task_id": id, "title": title, "run_id": self.dir.id, "handoff": handoff}),
                );
                self.set_status("IDLE", "transition", &ctx)?;
            }
            _ => {}
        }
        tracing::debug!(?mutations, "queue effect applied");
        let final_status = self.status();
        self.record(Transition {
            next: Some(Target::Terminal(terminal_id.to_string())),
            status_after: Some(final_status.clone()),
            queue_mutations: mutations,
            ..self.transition(TransitionEvent::RunFinished)
        })?;
        let class = serde_name(&t.class);
        self.meta.state = terminal_id.to_string();
        self.meta.finished_at = Some(time::now_iso());
        self.meta.terminal_class = Some(class.clone());
        self.dir
            .write_meta(&self.meta)
            .map_err(InterpError::io("cannot write run.json"))?;
        runs::clear_active(&self.rt.agents)
            .map_err(InterpError::io("cannot clear active_run.json"))?;
        Ok(RunReport {
            run_id: self.dir.id.clone(),
            run_dir: self.relative(&self.dir.path),
            plan_id: self.plan.plan_id.clone(),
            task_id,
            task_title: title,
            terminal: terminal_id.to_string(),
            terminal_class: class,
            queue_effect: serde_name(&t.queue),
            status: final_status,
            stages_run: self.stages_finished,
            resumed: self.resumed,
        })
    }
}

/// `base` (a JSON object) with the keys of `extra` added.
fn merged(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    if let (Some(o), Value::Object(e)) = (out.as_object_mut(), extra) {
        o.extend(e);
    }
    out
}

/// The outcome a stage attempt is normalised to.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub outcome: String,
    /// `stdout`, `last_message` or `failure`.
    pub source: &'static str,
    pub failure: Option<String>,
    /// The marker the agent emitted, legal or not.
    pub marker: Option<String>,
}

/// Last `### MARKER` of stdout, else of the final text. Anything but a legal
/// marker within the time limit becomes the stage kind's failure outcome
/// (routed like BLOCKED), never a silent success.
pub fn normalise(kind: &StageKindPlan, result: &StageResult, paths: &StagePaths) -> Verdict {
    let fail = |why: String, marker: Option<String>| Verdict {
        outcome: kind.failure_outcome.clone(),
        source: "failure",
        failure: Some(why),
        marker,
    };
    if result.exit.timed_out {
        return fail(
            format!(
                "timeout: no result within {}s",
                result.exit.duration.as_secs()
            ),
            None,
        );
    }
    if let Some(e) = &result.exit.spawn_error {
        return fail(format!("spawn_failed: {e}"), None);
    }
    let stdout = std::fs::read_to_string(&paths.stdout).unwrap_or_default();
    let last = result
        .final_text
        .clone()
        .or_else(|| std::fs::read_to_string(&paths.last).ok())
        .unwrap_or_default();
    let found = last_marker(&stdout)
        .map(|m| (m.to_string(), "stdout"))
        .or_else(|| last_marker(&last).map(|m| (m.to_string(), "last_message")));
    match found {
        Some((m, source)) if kind.outcome_class(&m).is_some() => Verdict {
            outcome: m.clone(),
            source,
            failure: None,
            marker: Some(m),
        },
        Some((m, _)) => fail(
            format!("illegal_marker: `{m}` is not an outcome of `{}`", kind.id),
            Some(m),
        ),
        None => match (result.exit.code, &result.agent_error) {
            (_, Some(e)) => fail(format!("agent_error: {e}"), None),
            (Some(code), None) if code != 0 => {
                fail(format!("exit_code: {code} without a marker"), None)
            }
            (None, None) => fail(
                format!("killed by signal {}", result.exit.signal.unwrap_or(0)),
                None,
            ),
            _ => fail(
                "missing_marker: the agent ended without a `### MARKER` line".into(),
                None,
            ),
        },
    }
}

fn write_result(
    paths: &StagePaths,
    result: &StageResult,
    verdict: &Verdict,
    decision: &route::Decision,
) {
    let path = paths.invocation.with_file_name(
        paths
            .invocation
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("x.invocation.json")
            .replace("invocation.json", "result.json"),
    );
    let value = json!({
        "exit_code": result.exit.code,
        "signal": result.exit.signal,
        "timed_out": result.exit.timed_out,
        "duration_ms": result.exit.duration.as_millis() as u64,
        "spawn_error": result.exit.spawn_error,
        "agent_error": result.agent_error,
        "marker": verdict.marker,
        "outcome": verdict.outcome,
        "outcome_source": verdict.source,
        "failure": verdict.failure,
        "usage": result.usage,
        "session_id": result.session_id,
        "next": decision.target,
        "selected_edge": decision.edge_id,
    });
    let _ = std::fs::write(
        path,
        serde_json::to_string_pretty(&value).unwrap_or_default() + "\n",
    );
}

/// First non-marker line of the agent's final text, for `previous`.
fn summary(text: Option<&str>) -> String {
    text.unwrap_or_default()
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("###"))
        .map(|l| l.chars().take(200).collect())
        .unwrap_or_default()
}
