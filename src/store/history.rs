//! The history log (spec §7.4): every event but the frequent
//! `*.status.changed` gets a detail file under `agents/historylog/` and an
//! index line in `agents/historylog.md`.

use std::io::Write;
use std::path::Path;

use super::cards::slug;
use super::events::Event;

pub fn record(agents: &Path, event: &Event) -> std::io::Result<()> {
    if event.kind.ends_with(".status.changed") {
        return Ok(());
    }
    let stamp: String = event
        .timestamp
        .chars()
        .take(19)
        .collect::<String>()
        .replace(':', "-")
        + "Z";
    let stage = event.payload["stage"].as_str().unwrap_or(&event.kind);
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
    let dir = agents.join("historylog");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(&file), detail)?;
    let mut index = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(agents.join("historylog.md"))?;
    writeln!(
        index,
        "\n- {} [{}] task={task} detail=historylog/{file}",
        event.timestamp, event.kind
    )
}

/// Over-long slugs are cut and suffixed with a short hash, as v0.2.0 does.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let hash = crate::spec::config::sha256_hex(s.as_bytes());
    format!("{}-{}", &s[..max - 11], &hash[..10])
}
