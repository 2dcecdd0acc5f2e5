//! The generic stage interpreter: drives one work item through one frozen
//! plan, stage by stage, recording every step before acting on it.
//!
//! `route` decides where an outcome leads, `prompt` renders a stage's
//! prompt, `run` is the driver (start, resume, terminal queue effects).

pub mod prompt;
pub mod route;
pub mod run;

use std::path::PathBuf;

use crate::spec::config::Config;
use crate::store::events::EventLog;
use crate::store::queue::{Queue, QueueError};
use crate::store::status::StatusError;

/// A workspace as the interpreter sees it.
pub struct Runtime {
    pub root: PathBuf,
    pub agents: PathBuf,
    pub config: Config,
    pub events: EventLog,
    pub queue: Queue,
}

impl Runtime {
    pub fn new(root: PathBuf, agents: PathBuf, config: Config) -> Runtime {
        Runtime {
            events: EventLog::new(&agents),
            queue: Queue::new(&agents),
            root,
            agents,
            config,
        }
    }

    /// Appends an event; a failing event log must not stop a run.
    pub fn event(&self, kind: &str, source: &str, payload: serde_json::Value) {
        if let Err(e) = self.events.append(kind, source, payload) {
            tracing::warn!("cannot append to {}: {e}", self.events.path().display());
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
}

impl InterpError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> InterpError {
        let what = what.into();
        move |source| InterpError::Io { what, source }
    }
}
