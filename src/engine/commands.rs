//! Operator commands: the one typed vocabulary of what an operator can ask
//! ([`Command`]), parsed and validated in one place ([`Command::parse`]) and
//! applied by one function ([`apply`]) that the daemon (from its mailbox)
//! and the CLI (when no daemon runs) both call. What only a live daemon can
//! do — stop, pause, resume, reload — goes through [`Lifecycle`].

use crate::defs::layout::Layout;
use std::path::Path;

use serde::{Deserialize, Serialize};

use serde_json::{json, Value};

use crate::defs::clock;
use crate::defs::config::{set_in_text, Boundary};
use crate::store::atomic;
use crate::store::cards::Card;
use crate::store::events::{ConfigEvent, EventKind, EventSource, HandoffEvent, PlaneEvent};
use crate::store::queue::Queue;
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

/// An operator command. On disk (mailbox envelopes) it is a `command` name
/// and a JSON `payload`, as in v0.2.0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "command", content = "payload", rename_all = "snake_case")]
pub enum Command {
    Stop,
    Pause,
    Resume,
    AddTask {
        title: String,
        #[serde(default)]
        body: Option<String>,
        #[serde(default)]
        spec_id: Option<String>,
    },
    /// An idea's file name and text. The CLI reads the file the operator
    /// named and sends its contents, so the daemon never reads a path it
    /// was handed.
    AddIdea {
        name: String,
        text: String,
    },
    QueueReorder {
        task_ids: Vec<String>,
    },
    /// Return a frozen batch (the only one when none is named) to the
    /// front of the backlog.
    QueueThaw {
        #[serde(default)]
        batch_id: Option<String>,
    },
    SetConfig {
        key: String,
        value: String,
    },
    ReloadConfig,
}

impl Command {
    /// Every command name, in v0.2.0's order.
    pub const NAMES: [&'static str; 9] = [
        "stop",
        "pause",
        "resume",
        "add_task",
        "add_idea",
        "queue_reorder",
        "queue_thaw",
        "set_config",
        "reload_config",
    ];

    /// Parses and validates a command from its envelope parts; the error
    /// says what was expected.
    pub fn parse(name: &str, payload: &Value) -> Result<Command, String> {
        if !Command::NAMES.contains(&name) {
            return Err(format!(
                "unknown command `{name}`; expected one of: {}",
                Command::NAMES.join(", ")
            ));
        }
        // Commands without arguments ignore whatever payload they carry.
        let payload = match payload {
            Value::Null => json!({}),
            p => p.clone(),
        };
        let tagged = if matches!(name, "stop" | "pause" | "resume" | "reload_config") {
            json!({ "command": name })
        } else {
            json!({ "command": name, "payload": payload })
        };
        let cmd: Command = serde_json::from_value(tagged)
            .map_err(|e| format!("invalid payload for `{name}`: {e}"))?;
        cmd.validate()?;
        Ok(cmd)
    }

    /// Checks what the types cannot say (non-empty title, key).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Command::AddTask {
                title,
                body,
                spec_id,
            } => check_card_fields(title, body.as_deref(), spec_id.as_deref()),
            Command::AddIdea { name, text } => {
                let plain = !name.is_empty()
                    && !name.starts_with('.')
                    && !name.contains(['/', '\\'])
                    && !name.chars().any(char::is_control);
                if !plain {
                    Err(format!("idea name `{name}` must be a plain file name"))
                } else if name.len() > 200 {
                    Err(format!(
                        "idea name is {} bytes; at most 200 (it becomes a file name)",
                        name.len()
                    ))
                } else if text.len() > MAX_IDEA_BYTES {
                    Err(format!("idea is larger than {MAX_IDEA_BYTES} bytes"))
                } else {
                    Ok(())
                }
            }
            Command::SetConfig { key, .. } if key.trim().is_empty() => {
                Err("set_config needs a non-empty `key`".into())
            }
            _ => Ok(()),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Command::Stop => "stop",
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::AddTask { .. } => "add_task",
            Command::AddIdea { .. } => "add_idea",
            Command::QueueReorder { .. } => "queue_reorder",
            Command::QueueThaw { .. } => "queue_thaw",
            Command::SetConfig { .. } => "set_config",
            Command::ReloadConfig => "reload_config",
        }
    }

    /// The envelope payload (`{}` for commands without arguments).
    pub fn payload(&self) -> Value {
        match serde_json::to_value(self).expect("command serialises") {
            Value::Object(mut o) => o.remove("payload").unwrap_or_else(|| json!({})),
            _ => json!({}),
        }
    }
}

/// The largest idea `add_idea` takes.
pub const MAX_IDEA_BYTES: usize = 1024 * 1024;

/// A task card's fields may not smuggle in another card: no line breaks or
/// control characters in the title or spec id, and no card heading in the
/// body.
fn check_card_fields(title: &str, body: Option<&str>, spec_id: Option<&str>) -> Result<(), String> {
    if title.trim().is_empty() {
        return Err("task title must not be empty".into());
    }
    let control = |s: &str| s.chars().any(|c| c.is_control() && c != '\t');
    if control(title) {
        return Err("task title must be one line without control characters".into());
    }
    if let Some(s) = spec_id {
        if control(s) || s.trim().is_empty() {
            return Err("spec id must be one non-empty line without control characters".into());
        }
    }
    if let Some(b) = body {
        // A heading inside a fenced block is body text to every reader.
        let mut fence = crate::store::cards::Fence::default();
        let heading = b.lines().enumerate().find(|(_, l)| {
            !fence.feed(l) && !fence.is_open() && crate::store::cards::parse_heading(l).is_some()
        });
        if fence.is_open() {
            return Err("task body opens a fenced code block (``` or ~~~) that it never closes; close it so that the cards after this one stay cards".into());
        }
        if let Some((n, line)) = heading {
            return Err(format!(
                "task body line {} looks like a card heading (`{}`); indent it or drop the `## `",
                n + 1,
                line.chars().take(60).collect::<String>()
            ));
        }
        if b.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
        {
            return Err("task body must not contain control characters".into());
        }
    }
    Ok(())
}

/// Why a command was not applied. Its message is what the operator reads
/// (and what a mailbox result carries); the variant says what kind of
/// failure it was and keeps the cause.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The command or its arguments are not acceptable, or applying it
    /// would break the workspace (a config that would not compile).
    #[error("{0}")]
    Refused(String),
    /// The task stores refused it or failed.
    #[error(transparent)]
    Queue(#[from] crate::store::queue::QueueError),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl CommandError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CommandError + '_ {
        move |source| CommandError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What only the process that owns the workspace can do. The daemon
/// implements it; [`NoDaemon`] answers for the CLI when none runs.
pub trait Lifecycle {
    fn stop(&mut self) -> Applied;
    fn pause(&mut self) -> Applied;
    fn resume(&mut self) -> Applied;
    /// Re-reads `millrace.toml`.
    fn reload_config(&mut self) -> Result<Applied, CommandError>;
    /// True when a daemon owns the workspace (startup-only keys are refused).
    fn daemon(&self) -> bool;
    /// True while a stage of the owner's runs: a command in the mailbox
    /// may then have been written by that stage's agent.
    fn stage_running(&self) -> bool {
        false
    }
    /// Called after `set_config` wrote the file; the daemon applies it.
    fn config_written(&mut self, applied: Applied) -> Result<Applied, CommandError> {
        Ok(applied)
    }
    /// Records an event of an operator command through the owner's emit
    /// path: the event log, the history log and (in a daemon) `--monitor`,
    /// as the engine's own events are.
    fn emit(&mut self, kind: EventKind, source: EventSource, payload: serde_json::Value);
}

/// The lifecycle when no daemon runs: there is nothing to stop or pause.
pub struct NoDaemon<'a>(pub &'a Workspace);

impl Lifecycle for NoDaemon<'_> {
    fn stop(&mut self) -> Applied {
        Applied::no("engine is not running")
    }

    fn pause(&mut self) -> Applied {
        Applied::no("engine is not running")
    }

    fn resume(&mut self) -> Applied {
        Applied::no("engine is not running")
    }

    fn reload_config(&mut self) -> Result<Applied, CommandError> {
        // Without a daemon there is nothing to reload into: check it parses.
        let fresh = Workspace::open(&self.0.config_path)
            .map_err(|e| CommandError::Refused(e.to_string()))?;
        Ok(Applied::yes(
            "config reloaded",
            json!({"config_hash": fresh.config.hash()}),
        ))
    }

    fn daemon(&self) -> bool {
        false
    }

    fn emit(&mut self, kind: EventKind, source: EventSource, payload: serde_json::Value) {
        emit_to(self.0, kind, source, payload);
    }
}

/// Appends `kind` to the workspace's event log and indexes it in the
/// history log: the engine's emit path for a process without a runtime.
pub fn emit_to(ws: &Workspace, kind: EventKind, source: EventSource, payload: serde_json::Value) {
    let log = ws.event_log();
    match log.append(kind, source, payload) {
        Ok(event) => {
            if let Err(e) = crate::store::history::History::default().record(&ws.agents, &event) {
                tracing::warn!("cannot write the history log: {e}");
            }
        }
        Err(e) => tracing::warn!("cannot append to {}: {e}", log.path().display()),
    }
}

/// Applies one command to the workspace `ws`.
pub fn apply(
    ws: &Workspace,
    cmd: &Command,
    life: &mut dyn Lifecycle,
) -> Result<Applied, CommandError> {
    match cmd {
        Command::Stop => Ok(life.stop()),
        Command::Pause => Ok(life.pause()),
        Command::Resume => Ok(life.resume()),
        Command::AddTask {
            title,
            body,
            spec_id,
        } => add_task(ws, life, title, body.as_deref(), spec_id.as_deref()),
        Command::AddIdea { name, text } => add_idea(ws, life, name, text),
        Command::QueueReorder { task_ids } => queue_reorder(&ws.agents, task_ids),
        Command::QueueThaw { batch_id } => queue_thaw(&ws.agents, batch_id.as_deref()),
        Command::SetConfig { key, value } => {
            let applied = config_set(ws, life, key, value)?;
            if applied.applied {
                life.config_written(applied)
            } else {
                Ok(applied)
            }
        }
        Command::ReloadConfig => life.reload_config(),
    }
}

fn add_task(
    ws: &Workspace,
    life: &mut dyn Lifecycle,
    title: &str,
    body: Option<&str>,
    spec_id: Option<&str>,
) -> Result<Applied, CommandError> {
    let card = Card::new(&clock::today_str(), title, body, spec_id);
    let card = Queue::new(&ws.agents).add(card)?;
    life.emit(
        EventKind::execution(PlaneEvent::TaskAdded),
        EventSource::Control,
        json!({"task_id": card.id, "title": card.title}),
    );
    Ok(Applied::yes("task added", json!({ "task_id": card.id })))
}

fn queue_reorder(agents: &Path, ids: &[String]) -> Result<Applied, CommandError> {
    let cards = Queue::new(agents).reorder(ids)?;
    let ids: Vec<&str> = cards.iter().map(|c| c.id.as_str()).collect();
    Ok(Applied::yes(
        "queue reordered",
        json!({ "task_ids": ids, "backlog_depth": ids.len() }),
    ))
}

fn queue_thaw(agents: &Path, batch_id: Option<&str>) -> Result<Applied, CommandError> {
    let t = Queue::new(agents).thaw(batch_id)?;
    Ok(Applied::yes(
        "frozen batch returned to the backlog",
        json!({ "batch_id": t.batch_id, "task_ids": t.task_ids, "backlog_depth": t.backlog_depth }),
    ))
}

/// Copies an idea file into `agents/ideas/raw/` for research.
fn add_idea(
    ws: &Workspace,
    life: &mut dyn Lifecycle,
    name: &str,
    text: &str,
) -> Result<Applied, CommandError> {
    let dest = Layout::of(&ws.agents)
        .ideas_raw()
        .join(format!("{}__{name}", clock::now_stamp()));
    atomic::write(&dest, text.as_bytes()).map_err(CommandError::io(&dest))?;
    let path = dest.display().to_string();
    life.emit(
        EventKind::Handoff(HandoffEvent::IdeaSubmitted),
        EventSource::Adapter,
        json!({ "path": path }),
    );
    Ok(Applied::yes("idea queued", json!({ "path": path })))
}

/// Keys whose value is a program millrace runs with the operator's rights.
fn names_a_program(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.starts_with("notify.")
        || k.starts_with("runners.")
        || k.starts_with("outage.probe_command")
        || k.starts_with("publish.")
        || k.ends_with(".runner")
}

/// Validates and writes `key = value` into `millrace.toml`. With a daemon
/// running, startup-only keys are refused.
fn config_set(
    ws: &Workspace,
    life: &mut dyn Lifecycle,
    key: &str,
    value: &str,
) -> Result<Applied, CommandError> {
    let daemon = life.daemon();
    if life.stage_running() && names_a_program(key) {
        return Err(CommandError::Refused(format!(
            "`{key}` names a program run outside the agent's sandbox; it is not changed through the mailbox while a stage runs (that stage's agent can write the mailbox). `millrace pause`, wait for the stage to end, then set it"
        )));
    }
    let boundary = Boundary::of(key);
    if daemon && boundary == Boundary::StartupOnly {
        return Err(CommandError::Refused(format!(
            "cannot change startup-only field at runtime: {key}"
        )));
    }
    // Read, change and write under one lock: two `config set`s at the same
    // moment both land (the second edits the first's result).
    let lock_path = crate::defs::layout::Layout::of(&ws.agents).config_lock();
    let _lock = crate::store::lock::FileLock::acquire(
        &lock_path,
        crate::store::lock::OwnerPurpose::ConfigEdit,
        std::time::Duration::from_secs(15),
    )
    .map_err(|e| {
        CommandError::Refused(format!(
            "{e}; another `config set` is still writing millrace.toml, try again"
        ))
    })?;
    let text = crate::store::safe::read_text(&ws.config_path, 1 << 20)
        .map_err(CommandError::io(&ws.config_path))?;
    let (new_text, config) = set_in_text(&text, key, value).map_err(CommandError::Refused)?;
    if new_text == text {
        return Ok(Applied::no("config already current"));
    }
    // What the plan is made of must still compile, or every run would fail.
    if ["plan.", "stages.", "runners.", "execution.", "outage."]
        .iter()
        .any(|p| key.starts_with(p))
    {
        let mut candidate = ws.clone();
        candidate.config = config.clone();
        candidate.config_text = new_text.clone();
        let compiled = super::plan::compile_workspace(&candidate, None);
        if compiled.plan.is_none() {
            let first = compiled
                .diagnostics
                .iter()
                .find(|d| d.is_error())
                .map(|d| format!("{}: {}", d.code, d.message))
                .unwrap_or_default();
            return Err(CommandError::Refused(format!(
                "{key} = {value} would leave a plan that does not compile ({first}); nothing was written"
            )));
        }
    }
    atomic::write(&ws.config_path, new_text.as_bytes())
        .map_err(CommandError::io(&ws.config_path))?;
    crate::store::guard::note_config(&ws.config_path);
    let boundary_name = crate::defs::serde_name(&boundary);
    life.emit(
        EventKind::Config(ConfigEvent::Changed),
        EventSource::Control,
        json!({"key": key, "boundary": boundary_name, "changed_fields": [key], "pending_config_hash": config.hash()}),
    );
    Ok(Applied::yes(
        "config updated",
        json!({ "key": key, "config_hash": config.hash(), "boundary": boundary_name }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_once_with_reasons() {
        let c = Command::parse("add_task", &json!({"title": "T", "body": null})).unwrap();
        assert_eq!(
            c,
            Command::AddTask {
                title: "T".into(),
                body: None,
                spec_id: None
            }
        );
        assert_eq!(
            c.payload(),
            json!({"title": "T", "body": null, "spec_id": null})
        );
        assert_eq!(
            Command::parse("pause", &json!({"x": 1})).unwrap(),
            Command::Pause
        );
        assert_eq!(Command::Pause.payload(), json!({}));
        for (name, payload, why) in [
            ("explode", json!({}), "unknown command `explode`"),
            ("add_task", json!({}), "invalid payload for `add_task`"),
            (
                "add_task",
                json!({"title": "  "}),
                "task title must not be empty",
            ),
            ("queue_reorder", json!({"task_ids": "a"}), "invalid payload"),
            ("set_config", json!({"key": "a"}), "invalid payload"),
        ] {
            let err = Command::parse(name, &payload).unwrap_err();
            assert!(err.starts_with(why), "{name}: {err}");
        }
        for name in Command::NAMES {
            let example = match name {
                "add_task" => json!({"title": "t"}),
                "add_idea" => json!({"name": "idea.md", "text": "An idea"}),
                "queue_reorder" => json!({"task_ids": []}),
                "queue_thaw" => json!({}),
                "set_config" => json!({"key": "k", "value": "v"}),
                _ => json!({}),
            };
            assert_eq!(Command::parse(name, &example).unwrap().name(), name);
        }
    }
}
