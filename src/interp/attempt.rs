//! One stage attempt: render the prompt, record `stage.started`, invoke the
//! runner, classify what came back, then either route the agent's outcome
//! and record `stage.finished`, or — for a fault of the environment — record
//! `stage.faulted` and stop the run at the same node without routing. In
//! that order, so a crash anywhere resumes correctly.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::compile::plan::{NodePlan, StageKindPlan, Target};
use crate::defs::config::OutageConfig;
use crate::defs::marker::Marker;
use crate::defs::records::{AttemptClass, Usage};
use crate::defs::stage_kind::OutcomeClass;
use crate::runner::{self, marker::last_marker, StagePaths, StageRequest, StageResult};
use crate::store::events::PlaneEvent;
use crate::store::guard::{Change, GuardSet};
use crate::store::runs::{Bound, OutcomeSource, StageResultRecord, Transition, TransitionEvent};
use crate::store::status;

use super::driver::{merged, Driver, Result, StatusMode};
use super::prompt::{self, PreviousStage, PromptInputs};
use super::route::{self, Decision};
use super::{EnvironmentFault, InterpError};

/// The status of a plane waiting for a transient fault to clear.
pub const NET_WAIT: &str = "NET_WAIT";
/// The status of a plane waiting for a person to fix its environment.
pub const ENV_BLOCKED: &str = "ENV_BLOCKED";

/// A stage about to run: everything decided before the agent is called.
struct Attempt {
    node: NodePlan,
    kind: StageKindPlan,
    number: u32,
    /// The event context (stage, run, node, task).
    context: Value,
    paths: StagePaths,
    /// The rendered prompt, or why it did not render.
    prompt: std::result::Result<String, String>,
    /// The parameters bound to this attempt, recorded with both records.
    bound: Bound,
    /// What the stage works on and must write, for scripted agents.
    work_env: Vec<(String, String)>,
    started: Instant,
}

/// How much of an agent's stdout or final message is read for its marker.
const OUTPUT_LIMIT: u64 = 64 << 20;

/// What a stage attempt is normalised to.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// How the attempt ended.
    pub class: AttemptClass,
    /// The outcome routed on (the failure outcome when the agent gave no
    /// legal marker); meaningless for an environment fault.
    pub outcome: Marker,
    pub source: OutcomeSource,
    pub failure: Option<String>,
    /// The marker the agent emitted, legal or not.
    pub marker: Option<Marker>,
}

impl Verdict {
    /// An environment fault under `outage`: the run waits, nothing routes.
    pub fn is_fault(&self, outage: &OutageConfig) -> bool {
        outage.is_fault(self.class)
    }
}

impl Driver<'_> {
    /// Runs one attempt of `node_id` and moves the run to its next target.
    pub(super) fn run_stage(&mut self, node_id: &str) -> Result<()> {
        let attempt = self.begin(node_id)?;
        let guard = self.guard_set();
        // A promote's backlog cut may still be running: it is millrace's
        // own write, so it finishes (and is noted) before the snapshot.
        self.settle_queue();
        let before = guard.snapshot();
        let result = self.invoke(&attempt);
        if self.rt.control.stop_requested() && result.exit.ended_by_signal() {
            // Killed by a stop (or a CLI that exited 143/130 on our
            // signal), not failed: leave the attempt unfinished so the next
            // start runs it again. What it spent is recorded all the same.
            let spent = Transition {
                duration_ms: Some((result.exit.duration.as_micros() as f64) / 1000.0),
                bound: Some(attempt.bound.clone()),
                usage: result.usage.clone(),
                ..self.transition(TransitionEvent::RunInterrupted)
            };
            return Err(self.interrupted(node_id, Some(spent)));
        }
        let mut verdict = normalise(&attempt.kind, &result, &attempt.paths);
        let declared: Vec<std::path::PathBuf> = attempt
            .kind
            .artifacts
            .iter()
            .filter_map(|d| self.artifact_path(d).ok())
            .collect();
        self.settle_queue();
        let changes = guard.changes(&before, &declared);
        if !changes.is_empty() {
            verdict = tampered(&attempt.kind, &changes, verdict.marker);
        }
        if verdict.is_fault(&self.plan.content.outage) {
            return Err(self.faulted(attempt, result, verdict));
        }
        if verdict.class == AttemptClass::Outcome {
            // A claimed outcome without the artifacts it owes is the
            // agent's failure, routed like any other.
            if let Some(why) = self.check_artifacts(&attempt.kind, &verdict.outcome) {
                verdict = Verdict {
                    class: AttemptClass::TaskFailure,
                    outcome: Marker::from_plan(&attempt.kind.failure_outcome),
                    source: OutcomeSource::Failure,
                    failure: Some(why),
                    marker: verdict.marker,
                };
            }
        }
        let resume = result
            .final_text
            .as_deref()
            .and_then(prompt::resume_request);
        let lp = self.lp().clone();
        let decision = route::route(
            &lp,
            node_id,
            &verdict.outcome,
            &mut self.counters,
            &self.meta.facts,
            resume,
        )?;
        write_result(
            &attempt.paths,
            &result,
            &verdict,
            &decision.target,
            &decision.edge_id,
        );
        self.conclude(attempt, result, verdict, decision)
    }

    /// Waits for millrace's own queue writes in flight (a promote's cut
    /// holds the queue lock): takes the lock once, without replaying a
    /// journal (one the stage left must not run before the guard sees it).
    fn settle_queue(&self) {
        use crate::store::lock::{FileLock, OwnerPurpose};
        let lock = crate::defs::layout::Layout::of(&self.rt.agents).queue_lock();
        if let Err(e) =
            FileLock::acquire(&lock, OwnerPurpose::QueueMutation, Duration::from_secs(15))
        {
            tracing::debug!("queue not settled before the stage guard: {e}");
        }
    }

    /// The runtime's own files, guarded while the stage runs.
    fn guard_set(&self) -> GuardSet {
        GuardSet {
            config_path: self.rt.config_path.clone(),
            root: self.rt.root.clone(),
            agents: self.rt.agents.clone(),
        }
    }

    /// Counts the attempt, sets the running status, renders the prompt and
    /// records `stage.started`.
    fn begin(&mut self, node_id: &str) -> Result<Attempt> {
        let started = Instant::now();
        let node = self.lp().nodes.get(node_id).cloned().ok_or_else(|| {
            InterpError::Inconsistent(format!("frozen plan has no node `{node_id}`"))
        })?;
        let kind = self.plan.content.kind_of(&node).clone();
        let prompt_plan = self.plan.content.prompts[&node.prompt].clone();
        let number = self.attempts.get(node_id).copied().unwrap_or(0) + 1;
        self.attempts.insert(node_id.to_string(), number);
        let context = json!({
            "stage": kind.id,
            "run_id": self.dir.id,
            "node_id": node.node_id,
            "task_id": self.task.as_ref().map(|t| t.id.clone()).or(self.meta.task_id.clone()),
            "title": self.task.as_ref().map(|t| t.title.clone()).or(self.meta.task_title.clone()),
        });
        let running = Marker::from_plan(&kind.running_marker);
        let status_before = self.set_status(&running, StatusMode::Transition, &context)?;
        let paths = StagePaths::new(&self.dir.path, node_id, number);
        let _ = std::fs::remove_file(&paths.last);
        let status_file = status::path(&self.rt.agents, self.plane());
        let (outputs, inputs) = self.artifact_views(&kind);
        for a in &outputs {
            // The agent writes into directories that exist.
            if let Some(parent) = Path::new(&a.path).parent() {
                let _ = std::fs::create_dir_all(parent);
            }
        }
        let work_env = self.work_env(&outputs, &inputs);
        let item_body = self
            .meta
            .item
            .as_ref()
            .and_then(|i| i.path.as_ref())
            .and_then(|p| {
                crate::store::safe::read_text(
                    &self.rt.agents.join(p),
                    crate::store::research::ITEM_LIMIT,
                )
                .ok()
            });
        let prompt = prompt::render(
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
                attempt: number,
                counters: &self.counters,
                previous: &self.previous,
                status_file: &status_file,
                item: self.meta.item.as_ref(),
                item_body: item_body.as_deref(),
                outputs: &outputs,
                inputs: &inputs,
            },
        )
        .map_err(|e| {
            format!(
                "prompt template `{}` failed to render: {e:#}",
                prompt_plan.path
            )
        });
        let bound = Bound {
            runner: node.runner.clone(),
            model: node.model.clone(),
            effort: self.effort_of(&node).map(|e| e.as_str().to_string()),
            timeout_seconds: node.timeout_seconds,
            prompt: prompt_plan.source.clone(),
            prompt_sha256: prompt_plan.sha256.clone(),
        };
        self.record(Transition {
            node: Some(node_id.to_string()),
            stage_kind: Some(kind.id.clone()),
            attempt: Some(number),
            status_before: Some(status_before),
            status_after: Some(running),
            bound: Some(bound.clone()),
            ..self.transition(TransitionEvent::StageStarted)
        })?;
        crate::store::failpoint::hit("stage.started").map_err(InterpError::io("stage.started"))?;
        self.emit(PlaneEvent::StageStarted, context.clone());
        Ok(Attempt {
            node,
            kind,
            number,
            context,
            paths,
            prompt,
            bound,
            work_env,
            started,
        })
    }

    /// Calls the runner (or reports the prompt that did not render).
    fn invoke(&self, a: &Attempt) -> StageResult {
        let pre = a.started.elapsed();
        let result = match &a.prompt {
            Ok(text) => {
                let _ = std::fs::write(&a.paths.prompt, text);
                let req = self.request(a, text.clone());
                let mut result = match &self.rt.adapter {
                    Some(adapter) => adapter.run(&req),
                    None => runner::adapter(req.kind).run(&req),
                };
                result.invocation = req.invocation.take();
                result.usage = result.usage.map(Usage::checked);
                result
            }
            Err(why) => runner::failed_to_start(&self.request(a, String::new()), why.clone()),
        };
        tracing::debug!(
            node = %a.node.node_id,
            agent_us = result.exit.duration.as_micros() as u64,
            pre_us = pre.as_micros() as u64,
            invoke_us = (a.started.elapsed() - pre).as_micros() as u64,
            "agent returned"
        );
        result
    }

    fn request(&self, a: &Attempt, prompt: String) -> StageRequest {
        let node = &a.node;
        let config = self.rt.config.runners.get(&node.runner);
        StageRequest {
            work_env: a.work_env.clone(),
            kind: crate::defs::config::RunnerKind::of(&node.runner, config),
            runner_id: node.runner.clone(),
            config: config.cloned().unwrap_or_default(),
            workspace: self.rt.root.clone(),
            run_id: self.dir.id.clone(),
            run_dir: self.dir.path.clone(),
            node: node.node_id.clone(),
            stage_kind: a.kind.id.clone(),
            attempt: a.number,
            prompt,
            model: node.model.clone(),
            effort: self.effort_of(node),
            timeout: Duration::from_secs(node.timeout_seconds),
            outcomes: a.kind.outcomes.iter().map(|o| o.marker.clone()).collect(),
            paths: a.paths.clone(),
            group: self.rt.control.stage_group().clone(),
            stall: Some(self.plan.content.outage.stall_seconds)
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            invocation: Default::default(),
        }
    }

    /// An environment fault: record `stage.faulted` (the run stays at this
    /// node, no counter moves), set NET_WAIT or ENV_BLOCKED, and stop the
    /// run; the next start (or the daemon after its wait) retries the node.
    fn faulted(&mut self, a: Attempt, result: StageResult, verdict: Verdict) -> InterpError {
        let here = Target::Node(a.node.node_id.clone());
        let edge = format!("fault:{}", verdict.class);
        write_result(&a.paths, &result, &verdict, &here, &edge);
        let message = verdict
            .failure
            .clone()
            .unwrap_or_else(|| verdict.class.to_string());
        let marker = Marker::from_plan(if verdict.class.needs_person() {
            ENV_BLOCKED
        } else {
            NET_WAIT
        });
        let artifacts = self.artifacts(&a.paths);
        let recorded = self.record(Transition {
            node: Some(a.node.node_id.clone()),
            stage_kind: Some(a.kind.id.clone()),
            attempt: Some(a.number),
            class: Some(verdict.class),
            failure: Some(message.clone()),
            exit_code: result.exit.code,
            duration_ms: Some((result.exit.duration.as_micros() as f64) / 1000.0),
            selected_edge: Some(edge),
            route_reason: Some(format!(
                "environment fault ({}): the run waits at `{}`",
                verdict.class, a.node.node_id
            )),
            next: Some(here.clone()),
            status_after: Some(marker.clone()),
            bound: Some(a.bound.clone()),
            artifacts,
            usage: result.usage.clone(),
            ..self.transition(TransitionEvent::StageFaulted)
        });
        if let Err(e) = recorded {
            return e;
        }
        if let Err(e) = self.set_status(&marker, StatusMode::Raw, &a.context) {
            return e;
        }
        if verdict.class.needs_person() {
            // The run pauses until a person acts: leave them the evidence.
            self.diagnose(
                &format!("{}-{}", a.node.node_id, verdict.class),
                &format!(
                    "environment fault at `{}` ({}): {message}",
                    a.node.node_id, verdict.class
                ),
                false,
            );
        }
        self.emit(
            PlaneEvent::StageFailed,
            merged(
                &a.context,
                json!({
                    "status": marker,
                    "class": verdict.class,
                    "environment": true,
                    "error": message,
                    "exit_code": result.exit.code,
                    "attempt": a.number,
                }),
            ),
        );
        self.next = here;
        InterpError::Environment(Box::new(EnvironmentFault {
            run_id: self.dir.id.clone(),
            node: a.node.node_id.clone(),
            runner: a.node.runner.clone(),
            class: verdict.class,
            message,
            status: marker,
        }))
    }

    /// The attempt's artifacts that exist (the result is always written),
    /// relative to the workspace.
    fn artifacts(&self, paths: &StagePaths) -> Vec<String> {
        paths
            .all()
            .into_iter()
            .filter(|p| **p == paths.result || p.exists())
            .map(|p| self.relative(p))
            .collect()
    }

    /// `stage.completed` or `stage.failed`, and the counter it moved.
    fn report_stage(
        &self,
        a: &Attempt,
        result: &StageResult,
        verdict: &Verdict,
        decision: &Decision,
    ) {
        let ctx = &a.context;
        let success = a.kind.outcome_class(&verdict.outcome) == Some(OutcomeClass::Success);
        let mut payload = merged(
            ctx,
            json!({
                "status": verdict.outcome,
                "exit_code": result.exit.code,
                "run_dir": self.dir.path.display().to_string(),
                "attempt": a.number,
            }),
        );
        if let Some(f) = &verdict.failure {
            payload = merged(&payload, json!({ "error": f }));
        }
        self.emit(
            if success && verdict.failure.is_none() {
                PlaneEvent::StageCompleted
            } else {
                PlaneEvent::StageFailed
            },
            payload,
        );
        if let Some((counter, value, limit)) = &decision.counted {
            let p = merged(
                ctx,
                json!({"counter": counter, "value": value, "limit": limit}),
            );
            self.emit(
                if decision.exhausted {
                    PlaneEvent::CounterExhausted
                } else {
                    PlaneEvent::CounterIncremented
                },
                p,
            );
        }
    }

    /// Evidence while it is fresh: a diagnostics bundle on every threshold
    /// exhaustion, and on the run's first escalation (a blocked or
    /// escalating outcome).
    fn evidence(&self, a: &Attempt, verdict: &Verdict, decision: &Decision) {
        let node_id = &a.node.node_id;
        let class = a.kind.outcome_class(&verdict.outcome);
        if decision.exhausted {
            let counter = decision.counted.as_ref().map_or("", |c| c.0.as_str());
            self.diagnose(
                &format!("{node_id}-{counter}-exhausted"),
                &format!(
                    "threshold `{counter}` exhausted at `{node_id}` ({}): {}",
                    verdict.outcome, decision.reason
                ),
                false,
            );
        } else if matches!(
            class,
            Some(OutcomeClass::Blocked | OutcomeClass::Escalation)
        ) {
            self.diagnose(
                &format!("{node_id}-escalation"),
                &format!(
                    "`{node_id}` ended with {}{}",
                    verdict.outcome,
                    verdict
                        .failure
                        .as_ref()
                        .map(|f| format!(": {f}"))
                        .unwrap_or_default()
                ),
                true,
            );
        }
    }

    /// Sets the outcome status, reports it and records `stage.finished`.
    fn conclude(
        &mut self,
        a: Attempt,
        result: StageResult,
        verdict: Verdict,
        decision: Decision,
    ) -> Result<()> {
        let ctx = &a.context;
        let mode = if verdict.failure.is_some() {
            StatusMode::Raw
        } else {
            StatusMode::Confirmed
        };
        self.set_status(&verdict.outcome, mode, ctx)?;
        self.report_stage(&a, &result, &verdict, &decision);
        let artifacts = self.artifacts(&a.paths);
        let node_id = a.node.node_id.clone();
        self.record(Transition {
            node: Some(node_id.clone()),
            stage_kind: Some(a.kind.id.clone()),
            attempt: Some(a.number),
            outcome: Some(verdict.outcome.clone()),
            outcome_source: Some(verdict.source),
            class: Some(verdict.class),
            failure: verdict.failure.clone(),
            exit_code: result.exit.code,
            duration_ms: Some((result.exit.duration.as_micros() as f64) / 1000.0),
            selected_edge: Some(decision.edge_id.clone()),
            route_reason: Some(decision.reason.clone()),
            next: Some(decision.target.clone()),
            status_after: Some(verdict.outcome.clone()),
            bound: Some(a.bound.clone()),
            artifacts,
            usage: result.usage.clone(),
            ..self.transition(TransitionEvent::StageFinished)
        })?;
        crate::store::failpoint::hit("stage.finished")
            .map_err(InterpError::io("stage.finished"))?;
        self.evidence(&a, &verdict, &decision);
        tracing::debug!(
            node = %node_id,
            total_us = a.started.elapsed().as_micros() as u64,
            "stage recorded"
        );
        self.previous.push(PreviousStage {
            node: node_id,
            stage: a.kind.id.clone(),
            outcome: verdict.outcome.to_string(),
            summary: verdict
                .failure
                .unwrap_or_else(|| summary(result.final_text.as_deref())),
        });
        self.next = decision.target;
        Ok(())
    }
}

/// Last `### MARKER` of stdout, else of the final text. Anything but a legal
/// marker within the time limit becomes the stage kind's failure outcome
/// (routed like BLOCKED), never a silent success.
/// The verdict of a stage that changed the runtime's own files: not its
/// marker (its outcome is not trusted) but a fault that waits for a person.
fn tampered(kind: &StageKindPlan, changes: &[Change], marker: Option<Marker>) -> Verdict {
    let shown: Vec<String> = changes.iter().take(8).map(|c| c.to_string()).collect();
    let more = changes.len().saturating_sub(shown.len());
    Verdict {
        class: AttemptClass::Tamper,
        outcome: Marker::from_plan(&kind.failure_outcome),
        source: OutcomeSource::Failure,
        failure: Some(format!(
            "the stage changed the runtime's own files: {}{}; its outcome is not trusted. Check them (revert what the agent should not have changed), then `millrace resume` or start again",
            shown.join(", "),
            if more > 0 { format!(" and {more} more") } else { String::new() }
        )),
        marker,
    }
}

pub fn normalise(kind: &StageKindPlan, result: &StageResult, paths: &StagePaths) -> Verdict {
    let class_fail = |class: AttemptClass, why: String, marker: Option<Marker>| Verdict {
        class,
        outcome: Marker::from_plan(&kind.failure_outcome),
        source: OutcomeSource::Failure,
        failure: Some(why),
        marker,
    };
    let fail =
        |why: String, marker: Option<Marker>| class_fail(AttemptClass::TaskFailure, why, marker);
    if let Some(f) = result
        .fault
        .as_ref()
        .filter(|_| result.exit.stalled || result.exit.timed_out)
    {
        // Cut off while the CLI was failing to reach its provider.
        return class_fail(f.class, format!("{}: {}", f.class, f.message), None);
    }
    if result.exit.stalled {
        return class_fail(
            AttemptClass::Stall,
            format!("stall: no output for {}s", result.exit.duration.as_secs()),
            None,
        );
    }
    if result.exit.timed_out {
        return class_fail(
            AttemptClass::Timeout,
            format!(
                "timeout: no result within {}s",
                result.exit.duration.as_secs()
            ),
            None,
        );
    }
    if let Some(e) = &result.exit.spawn_error {
        return class_fail(AttemptClass::Config, format!("spawn_failed: {e}"), None);
    }
    // The agent could leave anything at these paths: read only regular
    // files, bounded.
    let read = |p: &std::path::Path| crate::store::safe::read_text(p, OUTPUT_LIMIT).ok();
    let stdout = if result.outcome_in_final_text {
        String::new()
    } else {
        read(&paths.stdout).unwrap_or_default()
    };
    let last = result
        .final_text
        .clone()
        .or_else(|| read(&paths.last))
        .unwrap_or_default();
    let found = last_marker(&stdout)
        .map(|m| (m, OutcomeSource::Stdout))
        .or_else(|| last_marker(&last).map(|m| (m, OutcomeSource::LastMessage)));
    match found {
        Some((m, source)) if kind.outcome_class(&m).is_some() && result.agent_error.is_none() => {
            Verdict {
                class: AttemptClass::Outcome,
                outcome: m.clone(),
                source,
                failure: None,
                marker: Some(m),
            }
        }
        Some((m, _)) if kind.outcome_class(&m).is_none() => fail(
            format!("illegal_marker: `{m}` is not an outcome of `{}`", kind.id),
            Some(m),
        ),
        _ if result.fault.is_some() => {
            let f = result.fault.as_ref().expect("checked");
            class_fail(f.class, format!("{}: {}", f.class, f.message), None)
        }
        found => match (result.exit.code, &result.agent_error) {
            (_, Some(e)) => fail(format!("agent_error: {e}"), found.map(|(m, _)| m)),
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

/// `<node>.<attempt>.result.json`: what came back and what it meant.
fn write_result(
    paths: &StagePaths,
    result: &StageResult,
    verdict: &Verdict,
    next: &Target,
    edge: &str,
) {
    let routed = !verdict.class.is_environment() && !edge.starts_with("fault:");
    let value = StageResultRecord {
        agent_error: result.agent_error.clone(),
        class: verdict.class,
        duration_ms: result.exit.duration.as_millis() as u64,
        exit_code: result.exit.code,
        failure: verdict.failure.clone(),
        invocation: result.invocation.clone(),
        last_message: result.final_text.clone(),
        marker: verdict.marker.clone(),
        next: next.clone(),
        outcome: routed.then(|| verdict.outcome.clone()),
        outcome_source: routed.then_some(verdict.source),
        selected_edge: edge.to_string(),
        session_id: result.session_id.clone(),
        signal: result.exit.signal,
        spawn_error: result.exit.spawn_error.clone(),
        stalled: result.exit.stalled,
        timed_out: result.exit.timed_out,
        usage: result.usage.clone(),
    };
    // Through a `Value` so that nested records (usage) are sorted too.
    let text = serde_json::to_value(&value)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_default();
    let _ = std::fs::write(&paths.result, text + "\n");
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
