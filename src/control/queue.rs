//! `add-task`, `queue`, `queue inspect`, `queue reorder`.

use crate::engine::commands::Command;
use crate::store::queue::{Queue, QueueView};

pub use super::mailbox::{Operation, OperationMode};
use super::{mailbox, ControlError, Result, Workspace};

/// The backlog's headings without a title, one warning each (empty when
/// the backlog cannot be read: the command itself reports that).
pub fn untitled_warnings(ws: &Workspace) -> Vec<String> {
    Queue::new(&ws.agents)
        .untitled_warnings()
        .unwrap_or_default()
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
    view_head(ws, if with_backlog { usize::MAX } else { 0 })
}

/// The queue, listing the first `limit` backlog cards (a view that shows
/// a window need not hold 100k cards).
pub fn view_head(ws: &Workspace, limit: usize) -> Result<QueueView> {
    let queue = Queue::new(&ws.agents);
    let mut view = queue.view_head(limit)?;
    view.frozen_batches = queue.frozen_batches()?;
    Ok(view)
}

/// Reads the idea file the operator named (a bounded read of a regular
/// file) and sends its contents.
pub fn add_idea(ws: &Workspace, file: &std::path::Path, wait: bool) -> Result<Operation> {
    use crate::engine::commands::MAX_IDEA_BYTES;
    use crate::store::safe;
    let bytes = safe::read_bounded(file, MAX_IDEA_BYTES as u64, true).map_err(|e| {
        ControlError::Usage(match e {
            safe::SafeReadError::Io { source, .. } => format!("{}: {source}", file.display()),
            other => other.to_string(),
        })
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ControlError::Usage(format!("{} is not UTF-8 text", file.display())))?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("idea.md")
        .to_string();
    add_idea_text(ws, &name, &text, wait)
}

/// Sends an idea's text under file name `name` (the TUI's form).
pub fn add_idea_text(ws: &Workspace, name: &str, text: &str, wait: bool) -> Result<Operation> {
    let command = Command::AddIdea {
        name: name.to_string(),
        text: text.to_string(),
    };
    command.validate().map_err(ControlError::Usage)?;
    mailbox::dispatch(ws, command, wait)
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
