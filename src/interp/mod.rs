//! The generic stage interpreter: drives one work item through one frozen
//! plan, stage by stage, recording every step before acting on it.
//!
//! `route` decides where an outcome leads, `prompt` renders a stage's
//! prompt, `run` is the driver (start, resume, the run's state and records),
//! `attempt` runs one stage (render → invoke → normalise → route → record),
//! `terminal` applies a terminal state's queue effect.

pub mod artifacts;
pub mod attempt;
pub mod budget;
mod driver;
pub mod git_work;
pub mod integration;
mod progress;
mod prompt;
pub mod route;
pub mod run;
pub mod size_report;
pub mod sizing;
mod terminal;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::defs::config::Config;
use crate::runner::process::StageGroup;
use crate::runner::Adapter;
use crate::store::events::{EventKind, EventLog, EventSource};
use crate::store::queue::{Queue, QueueError};
use crate::store::status::StatusError;

/// Operator control over running runs, shared with the daemon: pause holds
/// a run between stages; stop ends it between stages (or, once the daemon
/// kills the stage's process group, mid-stage) leaving it resumable.
#[derive(Debug, Default)]
pub struct RunControl {
    paused: Mutex<bool>,
    wake: Condvar,
    stop: AtomicBool,
    /// The process group of the stage running now.
    group: StageGroup,
}

impl RunControl {
    /// Control whose stage group is recorded in `file` (see
    /// [`StageGroup::recording`]).
    pub fn recording(file: std::path::PathBuf) -> RunControl {
        RunControl {
            group: StageGroup::recording(file),
            ..RunControl::default()
        }
    }

    /// The handle on the running stage's process group.
    pub fn stage_group(&self) -> &StageGroup {
        &self.group
    }

    pub fn set_paused(&self, paused: bool) {
        *self.paused.lock().expect("not poisoned") = paused;
        self.wake.notify_all();
    }

    pub fn is_paused(&self) -> bool {
        *self.paused.lock().expect("not poisoned")
    }

    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify_all();
    }

    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Blocks while paused; false when the run must stop.
    pub fn proceed(&self) -> bool {
        let mut paused = self.paused.lock().expect("not poisoned");
        while *paused && !self.stop_requested() {
            paused = self.wake.wait(paused).expect("not poisoned");
        }
        !self.stop_requested()
    }
}

/// A workspace as the interpreter sees it.
pub struct Runtime {
    pub root: PathBuf,
    pub agents: PathBuf,
    /// `millrace.toml`, guarded while a stage runs.
    pub config_path: PathBuf,
    pub config: Config,
    pub events: EventLog,
    pub history: crate::store::history::History,
    pub queue: Queue,
    pub control: Arc<RunControl>,
    /// Sees every event as it is appended (the CLI's `--monitor`).
    pub listener: Option<EventListener>,
    /// Answers every stage instead of the plan's runners (in-process
    /// runners of [`crate::runner::scripted`], for tests).
    pub adapter: Option<Arc<dyn Adapter + Send + Sync>>,
}

/// A callback for events, e.g. a live printer supplied by the CLI.
pub type EventListener = Arc<dyn Fn(&crate::store::events::Event) + Send + Sync>;

impl Runtime {
    pub fn new(root: PathBuf, agents: PathBuf, config: Config) -> Runtime {
        Runtime {
            events: EventLog::with_rotation(
                &agents,
                crate::store::events::Rotation::of(&config.engine),
            ),
            history: Default::default(),
            queue: Queue::new(&agents),
            control: Arc::new(RunControl::default()),
            listener: None,
            adapter: None,
            config_path: root.join("millrace.toml"),
            root,
            agents,
            config,
        }
    }

    /// Appends an event with its kind's source (and its history entry); a
    /// failing event log must not stop a run.
    pub fn event(&self, kind: EventKind, payload: serde_json::Value) {
        let source = kind.source(None);
        self.event_from(kind, source, payload);
    }

    /// [`Runtime::event`] with an explicit source.
    pub fn event_from(&self, kind: EventKind, source: EventSource, payload: serde_json::Value) {
        match self.events.append(kind, source, payload) {
            Ok(event) => {
                if let Err(e) = self.history.record(&self.agents, &event) {
                    tracing::warn!("cannot write the history log: {e}");
                }
                if let Some(listen) = &self.listener {
                    listen(&event);
                }
            }
            Err(e) => tracing::warn!("cannot append to {}: {e}", self.events.path().display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InterpError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Status(#[from] StatusError),
    #[error(transparent)]
    Route(#[from] route::NoRoute),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The run cannot continue as recorded (edited plan, vanished task…).
    #[error("{0}")]
    Inconsistent(String),
    /// The operator stopped the run; it resumes on the next start.
    #[error("run {0} was interrupted by a stop request; the next start resumes it")]
    Interrupted(String),
    /// A fault of the environment (a bad key, an outage…): the run waits at
    /// the same node and resumes there.
    #[error("{}", .0)]
    Environment(Box<EnvironmentFault>),
    /// A budget cap: the run waits at the same node until it is raised.
    #[error("{}", .0)]
    Budget(Box<budget::BudgetStop>),
}

/// Why a run is waiting on its environment.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct EnvironmentFault {
    pub run_id: String,
    /// The node the run waits at (it is retried there).
    pub node: String,
    pub runner: String,
    pub class: crate::defs::records::AttemptClass,
    pub message: String,
    /// NET_WAIT or ENV_BLOCKED.
    pub status: crate::defs::marker::Marker,
}

impl std::fmt::Display for EnvironmentFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "run {} is waiting at `{}` on its environment ({}): {}",
            self.run_id, self.node, self.class, self.message
        )
    }
}

impl InterpError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> InterpError {
        let what = what.into();
        move |source| InterpError::Io { what, source }
    }
}
