//! `add-task`, `queue`, `queue inspect`, `queue reorder`.

use serde::Serialize;

use crate::engine::commands::Command;
use crate::store::queue::{Queue, QueueView};

use super::{mailbox, ControlError, Result, Workspace};

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

pub fn add_task(
    ws: &Workspace,
    title: &str,
    body: Option<&str>,
    spec_id: Option<&str>,
    wait: bool,
) -> Result<Operation> {
    let command = Command::AddTask {
        title: title.to_string(),
        body: body.map(str::to_string),
        spec_id: spec_id.map(str::to_string),
    };
    command.validate().map_err(ControlError::Usage)?;
    mailbox::dispatch(ws, command, wait)
}

pub fn view(ws: &Workspace, with_backlog: bool) -> Result<QueueView> {
    let queue = Queue::new(&ws.agents);
    let mut view = queue.view(with_backlog)?;
    view.frozen_batches = queue.frozen_batches()?;
    Ok(view)
}

pub fn thaw(ws: &Workspace, batch_id: Option<&str>, wait: bool) -> Result<Operation> {
    mailbox::dispatch(
        ws,
        Command::QueueThaw {
            batch_id: batch_id.map(str::to_string),
        },
        wait,
    )
}

pub fn reorder(ws: &Workspace, ids: &[String], wait: bool) -> Result<Operation> {
    mailbox::dispatch(
        ws,
        Command::QueueReorder {
            task_ids: ids.to_vec(),
        },
        wait,
    )
}
