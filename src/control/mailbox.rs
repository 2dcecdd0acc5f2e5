//! Commands that a running daemon must apply itself: written to its mailbox
//! when a live daemon owns the workspace (decided by the workspace lock, not
//! by `state.json`), applied directly otherwise — through the same
//! [`commands::apply`] the daemon calls.

use serde::Serialize;
use std::time::Duration;

use serde_json::json;

use crate::engine::commands::{self, Command, NoDaemon};
use crate::engine::{mailbox, owner};
use crate::store::lock::OwnerPurpose;

use super::{ControlError, Result, Workspace};

/// How an operation reached the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OperationMode {
    /// Applied by this process (no daemon runs).
    Direct,
    /// Sent to the daemon's mailbox.
    Mailbox,
}

impl OperationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationMode::Direct => "direct",
            OperationMode::Mailbox => "mailbox",
        }
    }
}

/// v0.2.0's OperationResult (spec §1.4).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Operation {
    pub mode: OperationMode,
    pub applied: bool,
    pub message: String,
    pub command_id: Option<String>,
    pub payload: serde_json::Value,
}

/// How long the CLI waits for the daemon's result by default.
pub const WAIT: Duration = Duration::from_secs(15);

/// Whether a live daemon (not a `start --once`) owns the workspace.
pub fn daemon_running(ws: &Workspace) -> bool {
    owner::live_owner(ws).is_some_and(|o| o.purpose == OwnerPurpose::Daemon)
}

/// Sends `command` to the daemon, or applies it directly when none runs.
pub fn dispatch(ws: &Workspace, command: Command, wait: bool) -> Result<Operation> {
    let name = command.name();
    if daemon_running(ws) {
        let env = mailbox::enqueue(&ws.agents, &command).map_err(ControlError::io(&ws.agents))?;
        let queued = |message: String| Operation {
            mode: OperationMode::Mailbox,
            applied: false,
            message,
            command_id: Some(env.command_id.clone()),
            payload: json!({}),
        };
        if !wait {
            return Ok(queued(format!("{name} queued")));
        }
        return match mailbox::wait_for_result(&ws.agents, &env.command_id, WAIT) {
            Some(r) if r.ok => Ok(Operation {
                mode: OperationMode::Mailbox,
                applied: r.applied,
                message: r.message,
                command_id: Some(env.command_id),
                payload: r.payload,
            }),
            Some(r) => Err(ControlError::DaemonRejected {
                command: name,
                reason: r.message,
            }),
            None => Ok(queued(format!(
                "{name} queued; no result within {}s (the daemon applies it when it gets to it)",
                WAIT.as_secs()
            ))),
        };
    }
    let applied = commands::apply(ws, &command, &mut NoDaemon(ws))?;
    Ok(Operation {
        mode: OperationMode::Direct,
        applied: applied.applied,
        message: applied.message,
        command_id: None,
        payload: applied.payload,
    })
}
