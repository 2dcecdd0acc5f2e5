//! The engine: owning a workspace, keeping its plan current, running one
//! cycle (resume or promote, then run), and the daemon that repeats cycles
//! while obeying the mailbox and reacting to file changes.

pub mod commands;
pub mod cycle;
pub mod daemon;
pub mod mailbox;
pub mod notify;
pub mod owner;
pub mod plan;
pub mod research;
pub mod state;
pub mod watcher;

use crate::defs::diag::Diagnostics;
use crate::store::lock::Owner;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the workspace is owned by pid {}", .0.pid)]
    Busy(Owner),
    #[error("the plan does not compile ({} error(s))", .0.error_count())]
    Plan(Diagnostics),
    #[error(transparent)]
    Interp(#[from] crate::interp::InterpError),
    #[error(transparent)]
    Queue(#[from] crate::store::queue::QueueError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] crate::store::lock::LockError),
}

impl EngineError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> EngineError {
        let what = what.into();
        move |source| EngineError::Io { what, source }
    }
}
