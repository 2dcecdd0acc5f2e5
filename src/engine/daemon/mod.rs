//! `start --daemon`: keeps draining the backlog until stopped.
//!
//! One owner per workspace (the engine lock). The loop runs on a
//! current-thread tokio runtime: runs execute on a blocking thread while the
//! loop keeps applying mailbox commands, reacting to file changes and
//! signals. When work is pending the next run starts at once; when idle the
//! loop sleeps until the watcher, the mailbox or a signal wakes it (polling
//! every `[engine] poll_interval_seconds` only when watching is unavailable).
//!
//! New runs start only from a plan that matches the current inputs: the
//! config is re-read and the plan recompiled (or reused) at every run
//! boundary; when that fails, no run starts and the problem is reported in
//! `state.json` and events until the inputs are fixed. Runs already started
//! keep their frozen plans.

use crate::defs::config::IdleMode;
use crate::defs::layout::{Layout, StopMarker};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc::unbounded_channel;
use tokio::task::JoinHandle;

use crate::defs::clock;
use crate::defs::stage_kind::Plane;
use crate::interp::{EnvironmentFault, EventListener, InterpError, RunControl, Runtime};
use crate::runner::{process, Adapter};
use crate::store::events::{
    ConfigEvent, ControlEvent, EngineEvent, EventKind, EventSource, HandoffEvent, PlanEvent,
};
use crate::store::lock::OwnerPurpose;
use crate::store::queue::Queue;
use crate::store::workspace::Workspace;
use crate::store::{runs, status};

use super::commands::{Applied, Command};
use super::cycle::{self, Cycle};
use super::mailbox::{self, CommandResult};
use super::state::{self, RuntimeState};
use super::watcher::{self, Wake};
use super::{commands, owner, plan, research, EngineError};

mod control;
mod outage;
#[cfg(test)]
mod tests;

/// How long an `[outage] probe_command` may take.
const PROBE_TIMEOUT_SECS: u64 = 10;

pub struct Options {
    /// Receives every event (and idle heartbeats), e.g. `--monitor`.
    pub listener: Option<EventListener>,
    /// Answers every stage instead of the plan's runners (tests).
    pub adapter: Option<Arc<dyn Adapter + Send + Sync>>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DaemonReport {
    pub runs_finished: u32,
    pub runs_interrupted: u32,
    pub stop_reason: String,
    pub uptime_seconds: u64,
}

fn build_runtime(ws: &Workspace, control: &Arc<RunControl>, options: &Options) -> Runtime {
    let mut rt = Runtime::new(ws.root.clone(), ws.agents.clone(), ws.config.clone());
    rt.config_path = ws.config_path.clone();
    rt.control = control.clone();
    rt.listener = options.listener.clone();
    rt.adapter = options.adapter.clone();
    rt
}

pub fn run(ws: Workspace, options: Options) -> Result<DaemonReport, EngineError> {
    // Before the lock is taken: a command sent once this daemon is visible
    // is never older than its start.
    let started_at = clock::now_iso();
    let lock = owner::own(&ws, OwnerPurpose::Daemon)?;
    if options.adapter.is_none() {
        // In-process runners spawn nothing; and a test process must not reap
        // the children of its other tests.
        process::become_subreaper();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(EngineError::io("cannot start the async runtime"))?;
    let report = runtime.block_on(Daemon::new(ws, options, started_at).run());
    drop(lock);
    report
}

struct Daemon {
    ws: Workspace,
    /// Shared with the run thread; rebuilt when the config changes.
    rt: Arc<Runtime>,
    config_path: PathBuf,
    control: Arc<RunControl>,
    options: Options,
    started: Instant,
    started_at: String,
    stop_reason: Option<String>,
    stop_deadline: Option<tokio::time::Instant>,
    not_before: Option<tokio::time::Instant>,
    plan_id: Option<String>,
    plan_problem: Option<String>,
    last_state: Option<RuntimeState>,
    /// The queue as state.json reads it, without waiting for the lock its
    /// run thread may hold; it recounts the backlog only when the file
    /// changed (state is written on every wake).
    state_queue: Queue,
    /// Whether a run was in flight when the current mailbox command arrived.
    run_in_flight: bool,
    /// Why the daemon paused itself (an environment fault), if it did.
    pause_reason: Option<String>,
    /// Waits on a transient fault since the last finished run.
    net_waits: u32,
    /// When the waiting stage is retried (RFC 3339).
    retry_at: Option<String>,
    /// `[outage] probe_command` of the waiting run's plan.
    probe: Vec<String>,
    /// The transient fault the daemon is waiting out.
    last_fault: Option<EnvironmentFault>,
    /// When to look again at an envelope that may still be being written.
    mailbox_recheck: Option<tokio::time::Instant>,
    /// The mailbox command being applied, for the events it causes.
    command_id: Option<String>,
    runs_finished: u32,
    runs_interrupted: u32,
    /// Whether the last cycle was a research one (the planes take turns).
    last_pass_research: bool,
    /// When each raw idea was last reported submitted: one file written in
    /// several writes is reported once per `watchers.debounce_seconds`.
    ideas_seen: std::collections::HashMap<PathBuf, Instant>,
    /// Whether a stale `AUTONOMY_COMPLETE` was reported.
    stale_completion_reported: bool,
    /// Delivers notifications off the loop.
    notifier: Option<super::notify::Notifier>,
}

type Running = Option<JoinHandle<Result<Cycle, EngineError>>>;

impl Daemon {
    fn new(ws: Workspace, options: Options, started_at: String) -> Daemon {
        let control = Arc::new(RunControl::recording(Layout::of(&ws.agents).stage_group()));
        let rt = Arc::new(build_runtime(&ws, &control, &options));
        let state_queue = Queue::new(&ws.agents).unsettled();
        Daemon {
            config_path: ws.config_path.clone(),
            ws,
            rt,
            control,
            options,
            started: Instant::now(),
            started_at,
            stop_reason: None,
            stop_deadline: None,
            not_before: None,
            plan_id: None,
            plan_problem: None,
            last_state: None,
            state_queue,
            run_in_flight: false,
            pause_reason: None,
            net_waits: 0,
            retry_at: None,
            probe: Vec::new(),
            last_fault: None,
            mailbox_recheck: None,
            command_id: None,
            runs_finished: 0,
            runs_interrupted: 0,
            last_pass_research: false,
            ideas_seen: Default::default(),
            stale_completion_reported: false,
            notifier: Some(super::notify::Notifier::start()),
        }
    }

    fn event(&self, kind: EventKind, payload: Value) {
        self.rt.event(kind, payload);
    }

    /// `handoff.idea_submitted` for a file in `ideas/raw/`, unless it was
    /// reported within `watchers.debounce_seconds` (v0.2.0 suppresses the
    /// same kind and path within the window too).
    fn idea_submitted(&mut self, path: PathBuf) {
        let window = Duration::from_secs_f64(self.ws.config.watchers.debounce_seconds.max(0.0));
        let now = Instant::now();
        self.ideas_seen
            .retain(|_, at| now.duration_since(*at) < window);
        if self.ideas_seen.contains_key(&path) {
            return;
        }
        self.event(
            EventKind::Handoff(HandoffEvent::IdeaSubmitted),
            json!({"path": path.display().to_string()}),
        );
        self.ideas_seen.insert(path, now);
    }

    async fn run(mut self) -> Result<DaemonReport, EngineError> {
        let (tx, mut rx) = unbounded_channel();
        let watcher = self.start_watcher(tx);
        let mut sigterm =
            signal(SignalKind::terminate()).map_err(EngineError::io("SIGTERM handler"))?;
        let mut sigint =
            signal(SignalKind::interrupt()).map_err(EngineError::io("SIGINT handler"))?;
        self.event(
            EventKind::Engine(EngineEvent::Started),
            json!({"mode": "daemon", "config_hash": self.ws.config.hash()}),
        );
        let mut running: Running = None;
        loop {
            if self.step(&mut running)? {
                break;
            }
            let wake_at = self.wake_at(watcher.is_some());
            let stop_at = self.stop_deadline;
            tokio::select! {
                res = async { running.as_mut().expect("guarded").await }, if running.is_some() => {
                    running = None;
                    self.after_cycle(res);
                }
                Some(w) = rx.recv() => {
                    let mut wakes = vec![w];
                    while let Ok(w) = rx.try_recv() {
                        wakes.push(w);
                    }
                    for w in wakes {
                        if let Wake::Idea(path) = w {
                            self.idea_submitted(path);
                        }
                    }
                }
                _ = sigterm.recv() => self.request_stop("SIGTERM"),
                _ = sigint.recv() => self.request_stop("SIGINT"),
                _ = tokio::time::sleep_until(stop_at.unwrap_or(wake_at)), if stop_at.is_some() => {
                    // The grace period is over: end the stage; the run stays resumable.
                    self.stop_deadline = None;
                    let group = self.control.stage_group().clone();
                    tokio::task::spawn_blocking(move || group.terminate(Duration::from_secs(5)));
                }
                _ = tokio::time::sleep_until(wake_at) => {
                    if self.not_before.is_some_and(|t| tokio::time::Instant::now() >= t) {
                        self.not_before = None;
                    }
                    self.heartbeat();
                }
            }
        }
        let reason = self.stop_reason.clone().unwrap_or_default();
        self.event(
            EventKind::Engine(EngineEvent::Stopped),
            json!({"mode": "daemon", "paused": self.control.is_paused(), "reason": reason}),
        );
        self.notify();
        if let Some(n) = self.notifier.take() {
            // The last events get a moment; a hung command does not hold
            // the stop.
            n.finish(Duration::from_secs(2));
        }
        let mut final_state = self.state();
        final_state.process_running = false;
        let _ = state::write_if_changed(&self.ws.agents, &final_state, &mut None);
        Ok(DaemonReport {
            runs_finished: self.runs_finished,
            runs_interrupted: self.runs_interrupted,
            stop_reason: reason,
            uptime_seconds: self.started.elapsed().as_secs(),
        })
    }

    /// The file watcher, unless `engine.idle_mode = "poll"` (for file
    /// systems without change notification: NFS, some container mounts, as
    /// v0.2.0's) or watching is unavailable; then the daemon polls.
    fn start_watcher(
        &self,
        tx: tokio::sync::mpsc::UnboundedSender<Wake>,
    ) -> Option<watcher::FileWatcher> {
        let every = self.ws.config.engine.poll_interval_seconds;
        if self.ws.config.engine.idle_mode == IdleMode::Poll {
            tracing::info!("engine.idle_mode = \"poll\": polling every {every}s");
            return None;
        }
        watcher::start(&self.ws, tx)
            .map_err(|e| tracing::warn!("file watching unavailable ({e}); polling every {every}s"))
            .ok()
    }

    /// One turn before waiting: the mailbox, the stop markers, and when no
    /// cycle runs, a new one (unless paused or waiting out a fault); state
    /// and notifications. True when the daemon should stop.
    fn step(&mut self, running: &mut Running) -> Result<bool, EngineError> {
        self.process_mailbox(running.is_some());
        self.check_markers();
        if running.is_none() {
            if self.stop_reason.is_some() {
                return Ok(true);
            }
            let waiting = self
                .not_before
                .is_some_and(|t| tokio::time::Instant::now() < t);
            if !self.control.is_paused() && !waiting {
                match self.last_fault.clone() {
                    // Still down by the probe's word: count another wait.
                    Some(fault) if !self.probe_ready() => self.environment_fault(&fault),
                    _ => *running = self.try_start()?,
                }
            }
        }
        self.write_state();
        self.notify();
        Ok(false)
    }

    /// When to wake with nothing else happening: the end of a fault's wait,
    /// or the idle interval (five poll intervals with a watcher, as a
    /// safety net), or soon for an envelope still being written.
    fn wake_at(&mut self, watching: bool) -> tokio::time::Instant {
        let poll = self.ws.config.engine.poll_interval_seconds.max(1);
        let idle_wait = Duration::from_secs(if watching { poll * 5 } else { poll });
        let wake_at = self
            .not_before
            .unwrap_or_else(|| tokio::time::Instant::now() + idle_wait);
        match self.mailbox_recheck.take() {
            Some(at) => wake_at.min(at),
            None => wake_at,
        }
    }

    /// Wakes the notifier when a `[notify] command` is set (it delivers
    /// on its own thread; the loop never waits on it).
    fn notify(&self) {
        if let Some(n) = &self.notifier {
            n.wake(&self.ws);
        }
    }

    /// A heartbeat for `--monitor` (not logged).
    fn heartbeat(&self) {
        if let Some(listen) = &self.options.listener {
            listen(&crate::store::events::Event {
                kind: EventKind::Engine(EngineEvent::Heartbeat),
                timestamp: clock::now_iso(),
                source: "engine".into(),
                payload: json!({"paused": self.control.is_paused(), "plan_problem": self.plan_problem}),
            });
        }
    }

    fn request_stop(&mut self, reason: &str) {
        if self.stop_reason.is_none() {
            tracing::info!(reason, "stop requested");
            self.stop_reason = Some(reason.to_string());
            self.control.request_stop();
            self.stop_deadline = Some(
                tokio::time::Instant::now()
                    + Duration::from_secs(self.ws.config.engine.stop_grace_seconds),
            );
        }
    }

    fn check_markers(&mut self) {
        if Layout::of(&self.ws.agents)
            .stop_marker(StopMarker::StopAutonomy)
            .exists()
        {
            self.request_stop(StopMarker::StopAutonomy.file_name());
        }
        // AUTONOMY_COMPLETE is obeyed only with a PASS decision behind it
        // and nothing left to do; a stale one is reported once.
        if Layout::of(&self.ws.agents)
            .stop_marker(StopMarker::AutonomyComplete)
            .exists()
        {
            let c = research::completion(&self.ws, &self.state_queue);
            if c.marker_honored {
                self.request_stop(StopMarker::AutonomyComplete.file_name());
            } else if !self.stale_completion_reported {
                self.stale_completion_reported = true;
                tracing::warn!(reason = %c.reason, "AUTONOMY_COMPLETE is present but not obeyed");
                self.event(
                    EventKind::Engine(EngineEvent::CompletionStale),
                    json!({"marker_path": c.marker_path, "reason": c.reason, "latest_decision": c.latest_decision}),
                );
            }
        }
    }

    /// Re-reads the config (a run boundary), keeping startup-only paths.
    fn reload_config(&mut self) -> Result<bool, commands::CommandError> {
        let refused = |m: String| commands::CommandError::Refused(m);
        let fresh = Workspace::open(&self.config_path).map_err(|e| refused(e.to_string()))?;
        if fresh.root != self.ws.root || fresh.agents != self.ws.agents {
            self.rt.event_from(
                EventKind::Config(ConfigEvent::Changed),
                EventSource::Engine,
                json!({"rejected": true, "reason": "cannot change startup-only field at runtime: paths", "path": self.config_path.display().to_string()}),
            );
            return Err(refused(
                "cannot change startup-only field at runtime: paths".into(),
            ));
        }
        let changed = fresh.config != self.ws.config;
        if changed {
            let previous = self.ws.config.hash();
            self.ws = fresh;
            self.rt = Arc::new(build_runtime(&self.ws, &self.control, &self.options));
            self.event(
                EventKind::Config(ConfigEvent::Applied),
                json!({"boundary": "cycle_boundary", "config_hash": self.ws.config.hash(), "previous_config_hash": previous, "rollback": false}),
            );
        }
        Ok(changed)
    }

    /// Starts the next cycle when there is work and a current plan.
    fn try_start(&mut self) -> Result<Running, EngineError> {
        let resuming = runs::active(&self.ws.agents)
            .map_err(EngineError::io("active_run.json"))?
            .is_some();
        let mut current = None;
        if !resuming {
            if let Err(reason) = self.reload_config() {
                self.report_problem(format!("config: {reason}"), json!({}));
                return Ok(None);
            }
            match plan::current(&self.ws, true) {
                Ok(p) => {
                    if self.plan_problem.take().is_some() {
                        self.event(
                            EventKind::Plan(PlanEvent::Recovered),
                            json!({"plan_id": p.plan_id}),
                        );
                    }
                    self.plan_id = Some(p.plan_id.clone());
                    current = Some(p);
                }
                Err(EngineError::Plan(d)) => {
                    let errors: Vec<String> = d
                        .iter()
                        .filter(|x| x.is_error())
                        .take(10)
                        .map(|x| x.to_string())
                        .collect();
                    let problem = format!(
                        "the plan does not compile ({} error(s)); no new run starts until it does",
                        d.error_count()
                    );
                    self.report_problem(
                        problem,
                        json!({"errors": errors, "stale_plan_id": self.plan_id}),
                    );
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
        let rt = self.rt.clone();
        let research_pass = self.research_next(current.as_ref(), &rt)?;
        if !research_pass && !cycle::has_work(&self.ws, &rt)? {
            return Ok(None);
        }
        self.last_pass_research = research_pass;
        let ws = self.ws.clone();
        Ok(Some(tokio::task::spawn_blocking(move || {
            let mut current = current;
            if research_pass {
                cycle::research_one(&ws, &rt, &mut current, "daemon-loop")
            } else {
                cycle::run_one(&ws, &rt, &mut current)
            }
        })))
    }

    /// Whether the next cycle is a research one: an interrupted research
    /// run resumes first, an interrupted execution run next; otherwise a
    /// ready research family takes turns with the execution backlog.
    fn research_next(
        &mut self,
        plan: Option<&crate::compile::plan::FrozenPlan>,
        rt: &Runtime,
    ) -> Result<bool, EngineError> {
        let agents = &self.ws.agents;
        if runs::active_in(agents, Plane::Research)
            .map_err(EngineError::io("active_research_run.json"))?
            .is_some()
        {
            return Ok(true);
        }
        if runs::active(agents)
            .map_err(EngineError::io("active_run.json"))?
            .is_some()
        {
            return Ok(false);
        }
        let Some(plan) = plan else { return Ok(false) };
        let scans = research::scan(&self.ws, &rt.queue, Some(plan))?;
        if scans.iter().any(|s| s.ready && !s.enabled) {
            // Recorded as deferred (once each), not run.
            research::select(&self.ws, rt, plan, "daemon-loop")?;
        }
        let ready = scans.iter().any(|s| s.ready && s.enabled);
        Ok(ready && (!self.last_pass_research || !cycle::has_work(&self.ws, rt)?))
    }

    fn report_problem(&mut self, problem: String, details: Value) {
        if self.plan_problem.as_deref() != Some(problem.as_str()) {
            tracing::warn!("{problem}");
            let mut payload = json!({"problem": problem});
            if let (Some(p), Some(d)) = (payload.as_object_mut(), details.as_object()) {
                p.extend(d.clone());
            }
            self.event(EventKind::Plan(PlanEvent::Stale), payload);
            self.plan_problem = Some(problem);
        }
    }

    fn after_cycle(&mut self, res: Result<Result<Cycle, EngineError>, tokio::task::JoinError>) {
        match res {
            Ok(Ok(Cycle::Ran(_) | Cycle::Resumed(_))) => {
                self.runs_finished += 1;
                self.net_waits = 0;
                self.retry_at = None;
                self.last_fault = None;
                let delay = self.ws.config.engine.inter_task_delay_seconds;
                if delay > 0 {
                    self.not_before =
                        Some(tokio::time::Instant::now() + Duration::from_secs(delay));
                }
            }
            Ok(Ok(Cycle::Idle)) => {}
            Ok(Err(EngineError::Interp(InterpError::Environment(fault)))) => {
                self.environment_fault(&fault);
            }
            Ok(Err(EngineError::Interp(InterpError::Budget(stop)))) => {
                // Nothing is retried until a person raises the cap.
                tracing::warn!("{stop}; paused until the cap is raised and `millrace resume`");
                self.control.set_paused(true);
                self.retry_at = None;
                self.last_fault = None;
                let reason = format!("budget: {}", stop.message);
                self.event(
                    EventKind::Engine(EngineEvent::Paused),
                    json!({"run_id": stop.run_id, "reason": reason, "cap": stop.cap}),
                );
                self.pause_reason = Some(reason);
            }
            Ok(Err(EngineError::Interp(InterpError::Interrupted(run_id)))) => {
                self.runs_interrupted += 1;
                tracing::info!(run = %run_id, "run interrupted; it resumes on the next start");
            }
            Ok(Err(e)) => {
                // A failing cycle must not take the daemon down; report it and
                // back off until something changes.
                tracing::error!("cycle failed: {e}");
                self.event(
                    EventKind::Engine(EngineEvent::CycleFailed),
                    json!({"error": e.to_string()}),
                );
                self.not_before = Some(
                    tokio::time::Instant::now()
                        + Duration::from_secs(self.ws.config.engine.poll_interval_seconds.max(1)),
                );
            }
            Err(join) => {
                tracing::error!("cycle panicked: {join}");
                self.event(
                    EventKind::Engine(EngineEvent::CycleFailed),
                    json!({"error": join.to_string()}),
                );
                self.request_stop("internal error");
            }
        }
    }

    fn state(&self) -> RuntimeState {
        let queue = &self.state_queue;
        let active_run = runs::active(&self.ws.agents).ok().flatten();
        RuntimeState {
            process_running: true,
            paused: self.control.is_paused(),
            pause_reason: self
                .control
                .is_paused()
                .then(|| self.pause_reason.clone().unwrap_or_else(|| "manual".into())),
            pause_run_id: if self.control.is_paused() {
                active_run.as_ref().map(|r| r.run_id.clone())
            } else {
                None
            },
            execution_status: status::read(&self.ws.agents, Plane::Execution)
                .map_or_else(|_| "INVALID".into(), |m| m.to_string()),
            research_status: status::read(&self.ws.agents, Plane::Research)
                .map_or_else(|_| "INVALID".into(), |m| m.to_string()),
            active_task_id: queue.active().ok().flatten().map(|c| c.id),
            backlog_depth: queue.backlog_depth().unwrap_or(0),
            deferred_queue_size: research::deferred(&self.ws.agents).len(),
            uptime_seconds: self.started.elapsed().as_secs(),
            config_hash: self.ws.config.hash(),
            asset_bundle_version: crate::store::workspace::BUNDLE_VERSION.to_string(),
            pending_config_hash: None,
            previous_config_hash: None,
            pending_config_boundary: None,
            pending_config_fields: Vec::new(),
            rollback_armed: false,
            started_at: self.started_at.clone(),
            updated_at: clock::now_iso(),
            mode: "daemon".into(),
            pid: std::process::id(),
            stop_requested: self.stop_reason.is_some(),
            active_run_id: active_run.map(|r| r.run_id),
            plan_id: self.plan_id.clone(),
            plan_current: self.plan_problem.is_none() && self.plan_id.is_some(),
            plan_problem: self.plan_problem.clone(),
            net_waits: self.net_waits,
            retry_at: self.retry_at.clone(),
        }
    }

    fn write_state(&mut self) {
        let s = self.state();
        if let Err(e) = state::write_if_changed(&self.ws.agents, &s, &mut self.last_state) {
            tracing::warn!("cannot write state.json: {e}");
        }
    }
}
