//! `add-task`, `queue`, `queue inspect`, `queue reorder`.

use serde::Serialize;

use crate::store::cards::Card;
use crate::store::queue::{Queue, QueueView};
use crate::store::time;

use super::{Result, Workspace};

/// v0.2.0's OperationResult (spec §1.4).
#[derive(Debug, Serialize)]
pub struct Operation {
    pub mode: &'static str,
    pub applied: bool,
    pub message: String,
    pub command_id: Option<String>,
    pub payload: serde_json::Value,
}

impl Operation {
    pub fn direct(message: &str, payload: serde_json::Value) -> Operation {
        Operation {
            mode: "direct",
            applied: true,
            message: message.to_string(),
            command_id: None,
            payload,
        }
    }
}

pub fn add_task(
    ws: &Workspace,
    title: &str,
    body: Option<&str>,
    spec_id: Option<&str>,
) -> Result<Operation> {
    if title.trim().is_empty() {
        return Err(super::ControlError::Usage(
            "task title must not be empty".into(),
        ));
    }
    let card = Card::new(&time::local_date(), title, body, spec_id);
    let queue = Queue::new(&ws.agents);
    let card = queue.add(card)?;
    crate::store::events::EventLog::new(&ws.agents)
        .append(
            "execution.task.added",
            "control",
            serde_json::json!({"task_id": card.id, "title": card.title}),
        )
        .ok();
    Ok(Operation::direct(
        "task added",
        serde_json::json!({ "task_id": card.id }),
    ))
}

pub fn view(ws: &Workspace, with_backlog: bool) -> Result<QueueView> {
    Ok(Queue::new(&ws.agents).view(with_backlog)?)
}

pub fn reorder(ws: &Workspace, ids: &[String]) -> Result<Operation> {
    let cards = Queue::new(&ws.agents).reorder(ids)?;
    let ids: Vec<String> = cards.iter().map(|c| c.id.clone()).collect();
    Ok(Operation::direct(
        "queue reordered",
        serde_json::json!({ "task_ids": ids, "backlog_depth": ids.len() }),
    ))
}
