//! The operator API: what every CLI command (and later the TUI and the daemon
//! mailbox) calls. Functions here decide and act; they return data, never
//! formatted text, so that text and `--json` output come from the same value.

pub mod capabilities;
pub mod config;
pub mod config_stages;
pub mod diagnostics;
pub mod health;
pub mod init;
pub mod logs;
pub mod mailbox;
pub mod plan;
pub mod policy_v020;
pub mod publish;
pub mod queue;
pub mod research;
pub mod research_compat;
pub mod runs;
pub mod schema;
pub mod selection;
pub mod selection_v020;
pub mod signals;
pub mod simulate;
pub mod start;
pub mod status;
pub mod status_compat;
pub mod usage;

use std::path::PathBuf;

use crate::defs::diag::{Diagnostic, Diagnostics};
use crate::store::lock::Owner;

pub use crate::store::workspace::Workspace;

/// The process exit codes of every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    /// The command did what was asked.
    Ok = 0,
    /// The command failed, or (health, doctor, plan validate) found a
    /// problem.
    Failure = 1,
    /// The command was used wrongly (bad arguments, a refused destination).
    Usage = 2,
    /// The run is waiting on its environment (a bad key, an outage, a rate
    /// limit): nothing of the task failed; fix it or wait, then start again.
    Environment = 3,
    /// A budget cap paused the run before a stage: raise the cap, then
    /// start again (the run continues at the same stage).
    Budget = 4,
    /// Stopped by SIGINT or SIGTERM; the run resumes on the next start.
    Interrupted = 130,
}

impl ExitStatus {
    pub const ALL: [ExitStatus; 6] = [
        ExitStatus::Ok,
        ExitStatus::Failure,
        ExitStatus::Usage,
        ExitStatus::Environment,
        ExitStatus::Budget,
        ExitStatus::Interrupted,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn meaning(self) -> &'static str {
        match self {
            ExitStatus::Ok => "success",
            ExitStatus::Failure => "failure: a runtime error, or a check that did not pass",
            ExitStatus::Usage => "usage error: bad arguments or a refused request",
            ExitStatus::Interrupted => {
                "interrupted by a signal or `stop`: the run resumes at the same stage on the next start"
            }
            ExitStatus::Environment => {
                "waiting on the environment (auth, rate limit, outage, runner config): the run resumes at the same stage"
            }
            ExitStatus::Budget => {
                "paused by a budget cap: raise it (`config set budget.…`), then start again; the run continues at the same stage"
            }
        }
    }
}

/// Why an operator call failed. Errors from the layers below are kept whole
/// (their `source()` chain is intact); [`ControlError::exit_status`] maps
/// each class to the CLI's exit status and [`ControlError::hint`] says what
/// to do about it.
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
    #[error("another millrace process owns this workspace: pid {} on {} ({}, since {})", .0.pid, .0.host, .0.purpose, .0.started_at)]
    Busy(Owner),
    /// A command was refused (the reason says what was expected).
    #[error("{0}")]
    Rejected(String),
    /// The daemon refused a command sent through its mailbox.
    #[error("the daemon rejected {command}: {reason}")]
    DaemonRejected {
        command: &'static str,
        reason: String,
    },
    /// A stored run record could not be read.
    #[error("run {run_id}: {what}")]
    Record {
        run_id: String,
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(transparent)]
    Queue(#[from] crate::store::queue::QueueError),
    #[error(transparent)]
    Engine(Box<crate::engine::EngineError>),
    #[error(transparent)]
    Interp(crate::interp::InterpError),
    /// The run waits on its environment; it resumes at the same stage.
    #[error("{0}")]
    Environment(Box<crate::interp::EnvironmentFault>),
    /// A budget cap paused the run; it continues once the cap is raised.
    #[error("{0}")]
    Budget(Box<crate::interp::budget::BudgetStop>),
    /// Writing the command's output failed (a full disk, a closed pipe).
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What kind of failure a command had, for scripts (`--json` errors carry
/// it as `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Bad arguments or a refused request (exit 2).
    Usage,
    /// Located problems in an input file or a compile.
    Invalid,
    /// A named thing (run, bundle, batch, mode) does not exist.
    NotFound,
    /// Another process owns the workspace.
    Busy,
    /// The command was refused, here or by the daemon.
    Rejected,
    /// A stored record could not be read.
    Record,
    /// The task stores or the queue lock.
    Queue,
    /// The engine or the interpreter failed.
    Runtime,
    /// A stop or signal interrupted the run; it resumes (exit 130).
    Interrupted,
    /// The run waits on its environment (exit 3).
    Environment,
    /// A budget cap paused the run (exit 4).
    Budget,
    /// The output could not be written.
    Output,
    /// A file could not be read or written.
    Io,
}

impl ControlError {
    /// The error's kind, as `--json` errors report it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ControlError::Usage(_) => ErrorKind::Usage,
            ControlError::Invalid(_) | ControlError::Diagnostics(_) => ErrorKind::Invalid,
            ControlError::NotFound { .. } => ErrorKind::NotFound,
            ControlError::Busy(_) => ErrorKind::Busy,
            ControlError::Rejected(_) | ControlError::DaemonRejected { .. } => ErrorKind::Rejected,
            ControlError::Record { .. } => ErrorKind::Record,
            ControlError::Queue(_) => ErrorKind::Queue,
            ControlError::Interp(crate::interp::InterpError::Interrupted(_)) => {
                ErrorKind::Interrupted
            }
            ControlError::Engine(_) | ControlError::Interp(_) => ErrorKind::Runtime,
            ControlError::Environment(_) => ErrorKind::Environment,
            ControlError::Budget(_) => ErrorKind::Budget,
            ControlError::Output(_) => ErrorKind::Output,
            ControlError::Io { .. } => ErrorKind::Io,
        }
    }

    pub fn exit_status(&self) -> ExitStatus {
        match self {
            ControlError::Usage(_) => ExitStatus::Usage,
            ControlError::Environment(_) => ExitStatus::Environment,
            ControlError::Budget(_) => ExitStatus::Budget,
            ControlError::Interp(crate::interp::InterpError::Interrupted(_)) => {
                ExitStatus::Interrupted
            }
            _ => ExitStatus::Failure,
        }
    }

    /// What the operator can do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            ControlError::NotFound { hint, .. } => hint.clone(),
            ControlError::Environment(f) => Some(environment_hint(f.class, &f.runner)),
            ControlError::Budget(b) => Some(format!(
                "`millrace config set {} <higher>` (or remove the cap), then `millrace start`; `millrace usage` shows what was spent",
                b.cap
            )),
            ControlError::Busy(_) => Some("wait for it to finish, or stop it; a lock left by a dead process is reclaimed automatically".into()),
            ControlError::Queue(crate::store::queue::QueueError::Lock(_)) => Some(
                "another command holds the queue lock; retry when it has finished".into(),
            ),
            _ => None,
        }
    }

    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ControlError {
        let path = path.into();
        move |source| ControlError::Io { path, source }
    }

    pub fn record(
        run_id: &str,
        what: impl Into<String>,
    ) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> ControlError {
        let (run_id, what) = (run_id.to_string(), what.into());
        move |source| ControlError::Record {
            run_id,
            what,
            source,
        }
    }
}

pub type Result<T, E = ControlError> = std::result::Result<T, E>;

/// A command applied here: refusals stay refusals; queue and file
/// failures keep their kind and cause.
impl From<crate::runner::git::GitError> for ControlError {
    fn from(e: crate::runner::git::GitError) -> Self {
        use crate::runner::git::GitError;
        match e {
            GitError::Refused(m) => ControlError::Usage(m),
            other => ControlError::Rejected(other.to_string()),
        }
    }
}

impl From<crate::engine::commands::CommandError> for ControlError {
    fn from(e: crate::engine::commands::CommandError) -> Self {
        use crate::engine::commands::CommandError as E;
        match e {
            E::Refused(m) => ControlError::Rejected(m),
            E::Queue(q) => ControlError::Queue(q),
            E::Io { path, source } => ControlError::Io { path, source },
        }
    }
}

impl From<crate::interp::InterpError> for ControlError {
    fn from(e: crate::interp::InterpError) -> Self {
        match e {
            crate::interp::InterpError::Environment(f) => ControlError::Environment(f),
            crate::interp::InterpError::Budget(b) => ControlError::Budget(b),
            other => ControlError::Interp(other),
        }
    }
}

/// What to do about an environment fault of `class` on runner `runner`.
pub fn environment_hint(class: crate::defs::records::AttemptClass, runner: &str) -> String {
    use crate::defs::records::AttemptClass as C;
    let login = match runner {
        "codex" => "run `codex login` (or set OPENAI_API_KEY)",
        "claude" => "run `claude auth login` (or set ANTHROPIC_API_KEY)",
        "pi" => "set the API key of the pi provider (`[runners.pi] provider`)",
        _ => "check the runner's credentials",
    };
    let then = "then `millrace start` retries the same stage";
    match class {
        C::Auth => format!("{login}; {then}"),
        C::Config => format!(
            "fix the runner configuration (`millrace doctor` checks it: executable, model, permission mode); {then}"
        ),
        C::Tamper => "the stage changed the runtime's own files (named above): review them with `git diff` or your backup and revert what the agent should not have changed; nothing it changed runs until you `millrace resume` (daemon) or `millrace start` again".to_string(),
        C::RateLimit => "the provider's rate limit or quota is exhausted: wait for it to reset; `millrace start --daemon` waits and retries with backoff ([outage] settings)".to_string(),
        C::Unavailable | C::Stall | C::Timeout => "the provider is unreachable or stalled: retry later; `millrace start --daemon` waits and retries with backoff ([outage] settings)".to_string(),
        _ => then.to_string(),
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
            EngineError::Busy(owner) => ControlError::Busy(owner),
            EngineError::Plan(d) => ControlError::Diagnostics(d),
            EngineError::Interp(e) => e.into(),
            EngineError::Queue(e) => ControlError::Queue(e),
            other => ControlError::Engine(Box::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defs::records::AttemptClass;

    #[test]
    fn errors_map_to_their_kind_and_exit_status() {
        let usage = ControlError::Usage("bad".into());
        assert_eq!(
            (usage.kind(), usage.exit_status().code()),
            (ErrorKind::Usage, 2)
        );
        let interrupted = ControlError::Interp(crate::interp::InterpError::Interrupted("r".into()));
        assert_eq!(interrupted.kind(), ErrorKind::Interrupted);
        assert_eq!(interrupted.exit_status().code(), 130);
        let io = ControlError::io("/x")(std::io::Error::other("boom"));
        assert_eq!((io.kind(), io.exit_status().code()), (ErrorKind::Io, 1));
        assert_eq!(io.to_string(), "/x: boom");
    }

    #[test]
    fn environment_hints_name_the_fix_and_the_retry() {
        let auth = environment_hint(AttemptClass::Auth, "claude");
        assert!(
            auth.contains("claude auth login") && auth.contains("retries the same stage"),
            "{auth}"
        );
        let limit = environment_hint(AttemptClass::RateLimit, "codex");
        assert!(
            limit.contains("quota") && limit.contains("backoff"),
            "{limit}"
        );
    }
}
