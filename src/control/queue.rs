//! `add-task`, `queue`, `queue inspect`, `queue reorder`.

use serde::Serialize;
use serde_json::json;

use crate::store::queue::{Queue, QueueView};

use super::{mailbox, ControlError, Result, Workspace};

/// v0.2.0's OperationResult (spec §1.4).
#[derive(Debug, Serialize)]
pub struct Operation {
    pub mode: &'static str,
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
    if title.trim().is_empty() {
        return Err(ControlError::Usage("task title must not be empty".into()));
    }
    mailbox::dispatch(
        ws,
        "add_task",
        json!({"title": title, "body": body, "spec_id": spec_id}),
        wait,
    )
}

pub fn view(ws: &Workspace, with_backlog: bool) -> Result<QueueView> {
    Ok(Queue::new(&ws.agents).view(with_backlog)?)
}

pub fn reorder(ws: &Workspace, ids: &[String], wait: bool) -> Result<Operation> {
    mailbox::dispatch(ws, "queue_reorder", json!({"task_ids": ids}), wait)
}
