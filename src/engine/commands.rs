//! Operator commands that change the workspace, applied the same way by the
//! daemon (from its mailbox) and by the CLI when no daemon runs.

use crate::defs::layout::Layout;
use std::path::Path;

use serde_json::{json, Value};

use crate::defs::config::{set_in_text, Boundary};
use crate::store::atomic;
use crate::store::cards::Card;
use crate::store::events::{
    ConfigEvent, EventKind, EventLog, EventSource, HandoffEvent, PlaneEvent,
};
use crate::store::queue::Queue;
use crate::store::time;
use crate::store::workspace::Workspace;

/// A command's effect, as reported back to the operator.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub applied: bool,
    pub message: String,
    pub payload: Value,
}

impl Applied {
    pub fn yes(message: &str, payload: Value) -> Applied {
        Applied {
            applied: true,
            message: message.to_string(),
            payload,
        }
    }

    pub fn no(message: &str) -> Applied {
        Applied {
            applied: false,
            message: message.to_string(),
            payload: json!({}),
        }
    }
}

pub fn add_task(
    agents: &Path,
    title: &str,
    body: Option<&str>,
    spec_id: Option<&str>,
) -> Result<Applied, String> {
    if title.trim().is_empty() {
        return Err("task title must not be empty".into());
    }
    let card = Card::new(&time::local_date(), title, body, spec_id);
    let card = Queue::new(agents).add(card).map_err(|e| e.to_string())?;
    EventLog::new(agents)
        .append(
            EventKind::execution(PlaneEvent::TaskAdded),
            EventSource::Control,
            json!({"task_id": card.id, "title": card.title}),
        )
        .ok();
    Ok(Applied::yes("task added", json!({ "task_id": card.id })))
}

pub fn queue_reorder(agents: &Path, ids: &[String]) -> Result<Applied, String> {
    let cards = Queue::new(agents).reorder(ids).map_err(|e| e.to_string())?;
    let ids: Vec<&str> = cards.iter().map(|c| c.id.as_str()).collect();
    Ok(Applied::yes(
        "queue reordered",
        json!({ "task_ids": ids, "backlog_depth": ids.len() }),
    ))
}

/// Copies an idea file into `agents/ideas/raw/` for research.
pub fn add_idea(agents: &Path, file: &Path) -> Result<Applied, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read idea {}: {e}", file.display()))?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("idea path has no file name")?;
    let dest = Layout::of(agents)
        .ideas_raw()
        .join(format!("{}__{name}", time::now_stamp()));
    atomic::write(&dest, text.as_bytes()).map_err(|e| format!("{}: {e}", dest.display()))?;
    let path = dest.display().to_string();
    EventLog::new(agents)
        .append(
            EventKind::Handoff(HandoffEvent::IdeaSubmitted),
            EventSource::Adapter,
            json!({ "path": path }),
        )
        .ok();
    Ok(Applied::yes("idea queued", json!({ "path": path })))
}

/// Validates and writes `key = value` into `millrace.toml`. With a daemon
/// running, startup-only keys are refused.
pub fn config_set(ws: &Workspace, key: &str, value: &str, daemon: bool) -> Result<Applied, String> {
    let boundary = Boundary::of(key);
    if daemon && boundary == Boundary::StartupOnly {
        return Err(format!(
            "cannot change startup-only field at runtime: {key}"
        ));
    }
    let text = std::fs::read_to_string(&ws.config_path)
        .map_err(|e| format!("{}: {e}", ws.config_path.display()))?;
    let (new_text, config) = set_in_text(&text, key, value)?;
    if new_text == text {
        return Ok(Applied::no("config already current"));
    }
    atomic::write(&ws.config_path, new_text.as_bytes())
        .map_err(|e| format!("{}: {e}", ws.config_path.display()))?;
    let boundary_name = serde_json::to_value(boundary)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    EventLog::new(&ws.agents)
        .append(
            EventKind::Config(ConfigEvent::Changed),
            EventSource::Control,
            json!({"key": key, "boundary": boundary_name, "changed_fields": [key], "pending_config_hash": config.hash()}),
        )
        .ok();
    Ok(Applied::yes(
        "config updated",
        json!({ "key": key, "config_hash": config.hash(), "boundary": boundary_name }),
    ))
}
