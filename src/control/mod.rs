//! The operator API: what every CLI command (and later the TUI and the daemon
//! mailbox) calls. Functions here decide and act; they return data, never
//! formatted text, so that text and `--json` output come from the same value.

pub mod config;
pub mod health;
pub mod init;
pub mod logs;
pub mod mailbox;
pub mod plan;
pub mod queue;
pub mod runs;
pub mod schema;
pub mod start;
pub mod status;

use std::path::PathBuf;

use crate::defs::diag::{Diagnostic, Diagnostics};

pub use crate::store::workspace::Workspace;

/// Why an operator call failed. [`ControlError::exit_code`] maps each class
/// to the CLI's exit status.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The command was used wrongly (v0.2.0 exits 2 for these).
    #[error("{0}")]
    Usage(String),
    /// A located problem in an input file.
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
    /// Several located problems (a failed compile).
    #[error("{} error(s)", .0.error_count())]
    Diagnostics(Diagnostics),
    #[error("{message}")]
    NotFound {
        message: String,
        hint: Option<String>,
    },
    /// Another process owns the workspace.
    #[error("{message}")]
    Busy {
        message: String,
        hint: Option<String>,
    },
    /// A command was refused (the reason says what was expected).
    #[error("{0}")]
    Rejected(String),
    /// The daemon refused a command sent through its mailbox.
    #[error("the daemon rejected {command}: {reason}")]
    DaemonRejected {
        command: &'static str,
        reason: String,
    },
    /// The runtime could not continue (I/O, an inconsistent run record…).
    #[error("{0}")]
    Runtime(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ControlError {
    pub fn exit_code(&self) -> i32 {
        match self {
            ControlError::Usage(_) => 2,
            _ => 1,
        }
    }

    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ControlError {
        let path = path.into();
        move |source| ControlError::Io { path, source }
    }
}

pub type Result<T, E = ControlError> = std::result::Result<T, E>;

impl From<crate::store::queue::QueueError> for ControlError {
    fn from(e: crate::store::queue::QueueError) -> Self {
        match e {
            crate::store::queue::QueueError::Invalid(m) => ControlError::Runtime(m),
            other => ControlError::Runtime(other.to_string()),
        }
    }
}

impl From<crate::store::workspace::OpenError> for ControlError {
    fn from(e: crate::store::workspace::OpenError) -> Self {
        use crate::store::workspace::OpenError;
        match e {
            OpenError::Missing(path) => ControlError::NotFound {
                message: format!("no config at {}", path.display()),
                hint: Some("create a workspace with `millrace init <DIR>`, or pass `--config <DIR>/millrace.toml`".into()),
            },
            OpenError::Invalid(d) => ControlError::Invalid(d),
            OpenError::Io { path, source } => ControlError::Io { path, source },
        }
    }
}

impl From<crate::engine::EngineError> for ControlError {
    fn from(e: crate::engine::EngineError) -> Self {
        use crate::engine::EngineError;
        match e {
            EngineError::Busy(owner) => ControlError::Busy {
                message: format!(
                    "another millrace process owns this workspace: pid {} on {} ({}, since {})",
                    owner.pid, owner.host, owner.purpose, owner.started_at
                ),
                hint: Some("wait for it to finish, or stop it; a lock left by a dead process is reclaimed automatically".into()),
            },
            EngineError::Plan(d) => ControlError::Diagnostics(d),
            other => ControlError::Runtime(other.to_string()),
        }
    }
}

impl From<crate::interp::InterpError> for ControlError {
    fn from(e: crate::interp::InterpError) -> Self {
        ControlError::Runtime(e.to_string())
    }
}
