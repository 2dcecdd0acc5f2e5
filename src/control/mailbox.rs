//! Commands that a running daemon must apply itself: written to its mailbox
//! when a live daemon owns the workspace (decided by the workspace lock, not
//! by `state.json`), applied directly otherwise.

use std::time::Duration;

use serde_json::{json, Value};

use crate::engine::{commands, mailbox, owner};

use super::queue::Operation;
use super::{ControlError, Result, Workspace};

/// How long the CLI waits for the daemon's result by default.
pub const WAIT: Duration = Duration::from_secs(15);

/// Whether a live daemon (not a `start --once`) owns the workspace.
pub fn daemon_running(ws: &Workspace) -> bool {
    owner::live_owner(ws).is_some_and(|o| o.purpose == "start --daemon")
}

/// Sends `command` to the daemon, or applies it directly when none runs.
pub fn dispatch(ws: &Workspace, command: &str, payload: Value, wait: bool) -> Result<Operation> {
    if daemon_running(ws) {
        let env =
            mailbox::enqueue(&ws.agents, command, payload).map_err(ControlError::io(&ws.agents))?;
        if !wait {
            return Ok(Operation {
                mode: "mailbox",
                applied: false,
                message: format!("{command} queued"),
                command_id: Some(env.command_id),
                payload: json!({}),
            });
        }
        return match mailbox::wait_for_result(&ws.agents, &env.command_id, WAIT) {
            Some(r) if r.ok => Ok(Operation { mode: "mailbox", applied: r.applied, message: r.message, command_id: Some(env.command_id), payload: r.payload }),
            Some(r) => Err(ControlError::Runtime(format!("the daemon rejected {command}: {}", r.message))),
            None => Ok(Operation {
                mode: "mailbox",
                applied: false,
                message: format!("{command} queued; no result within {}s (the daemon applies it when it gets to it)", WAIT.as_secs()),
                command_id: Some(env.command_id),
                payload: json!({}),
            }),
        };
    }
    let text = |k: &str| payload[k].as_str().map(str::to_string);
    let applied = match command {
        "stop" | "pause" | "resume" => commands::Applied::no("engine is not running"),
        "add_task" => commands::add_task(
            &ws.agents,
            &text("title").unwrap_or_default(),
            text("body").as_deref(),
            text("spec_id").as_deref(),
        )
        .map_err(ControlError::Runtime)?,
        "add_idea" => commands::add_idea(
            &ws.agents,
            std::path::Path::new(&text("file").unwrap_or_default()),
        )
        .map_err(ControlError::Runtime)?,
        "queue_reorder" => {
            let ids: Vec<String> =
                serde_json::from_value(payload["task_ids"].clone()).unwrap_or_default();
            commands::queue_reorder(&ws.agents, &ids).map_err(ControlError::Runtime)?
        }
        "set_config" => commands::config_set(
            ws,
            &text("key").unwrap_or_default(),
            &text("value").unwrap_or_default(),
            false,
        )
        .map_err(ControlError::Runtime)?,
        "reload_config" => {
            // Without a daemon there is nothing to reload into: check it parses.
            let fresh = Workspace::open(&ws.config_path)?;
            commands::Applied::yes(
                "config reloaded",
                json!({"config_hash": fresh.config.hash()}),
            )
        }
        other => return Err(ControlError::Usage(format!("unknown command {other}"))),
    };
    Ok(Operation {
        mode: "direct",
        applied: applied.applied,
        message: applied.message,
        command_id: None,
        payload: applied.payload,
    })
}
