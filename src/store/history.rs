//! The history log (spec §7.4): every event but the frequent
//! `*.status.changed` gets a detail file under `agents/historylog/` and an
//! index line in `agents/historylog.md`.

use crate::defs::layout::Layout;
use std::io::Write;
use std::path::Path;

use super::cards::slug;
use super::events::Event;

/// Writes history entries, keeping the index open between events.
#[derive(Default)]
pub struct History {
    index: std::sync::Mutex<Option<std::fs::File>>,
}

impl History {
    pub fn record(&self, agents: &Path, event: &Event) -> std::io::Result<()> {
        let Some((file, detail, line)) = entry(event) else {
            return Ok(());
        };
        let dir = Layout::of(agents).history_dir();
        super::atomic::in_dir(&dir, || std::fs::write(dir.join(&file), &detail))?;
        let mut slot = self.index.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(Layout::of(agents).history_index())?,
            );
        }
        let result = slot
            .as_mut()
            .expect("just opened")
            .write_all(line.as_bytes());
        if result.is_err() {
            *slot = None;
        }
        result
    }
}

/// (detail file name, detail text, index line) for an event worth keeping.
fn entry(event: &Event) -> Option<(String, String, String)> {
    if event.kind.is_status_change() {
        return None;
    }
    let stamp: String = event
        .timestamp
        .chars()
        .take(19)
        .collect::<String>()
        .replace(':', "-")
        + "Z";
    let kind = event.kind.to_string();
    let stage = event.payload["stage"].as_str().unwrap_or(&kind);
    let task = event.payload["task_id"].as_str().unwrap_or("engine");
    let file = format!(
        "{stamp}__stage-{}__task-{}.md",
        cut(&slug(stage), 32),
        cut(&slug(task), 96)
    );
    let detail = format!(
        "# {}\n\n- Timestamp: {}\n- Source: {}\n- Task: {task}\n- Stage: {stage}\n\n```json\n{}\n```\n",
        event.kind,
        event.timestamp,
        event.source,
        serde_json::to_string_pretty(&event.payload).unwrap_or_default()
    );
    let line = format!(
        "\n- {} [{}] task={task} detail=historylog/{file}\n",
        event.timestamp, event.kind
    );
    Some((file, detail, line))
}

/// Over-long slugs are cut and suffixed with a short hash, as v0.2.0 does.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let hash = crate::defs::config::sha256_hex(s.as_bytes());
    format!("{}-{}", &s[..max - 11], &hash[..10])
}
