//! The file mailbox (spec §7.1): a CLI writes a JSON envelope atomically into
//! `agents/.runtime/commands/incoming/`; the daemon applies envelopes in
//! file-name order and moves each to `processed/` or `failed/` with its
//! result. Malformed, unknown or oversized envelopes fail with a reason and
//! never stop the daemon.

use crate::defs::layout::{Layout, MailboxDir};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::defs::clock;
use crate::store::{atomic, safe};

use super::commands::Command;

/// Largest envelope the daemon reads.
/// Largest envelope the daemon reads (an idea travels inside it).
pub const MAX_ENVELOPE_BYTES: u64 = 2 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Envelope {
    pub command_id: String,
    pub issued_at: String,
    pub command: String,
    pub payload: Value,
    pub issuer: String,
}

/// The result recorded with a processed or failed envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CommandResult {
    pub command_id: String,
    pub processed_at: String,
    pub ok: bool,
    pub applied: bool,
    pub message: String,
    pub payload: Value,
}

fn dir(agents: &Path, which: MailboxDir) -> PathBuf {
    Layout::of(agents).mailbox(which)
}

pub fn incoming_dir(agents: &Path) -> PathBuf {
    dir(agents, MailboxDir::Incoming)
}

/// Writes an envelope into `incoming/` (atomically: the temp file is a dot
/// file, which the daemon ignores).
pub fn enqueue(agents: &Path, command: &Command) -> std::io::Result<Envelope> {
    // Unique across processes (pid) and within one (counter): two commands
    // issued in the same microsecond never share an id, and the envelope is
    // created without replacing anything (O_EXCL semantics).
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let env = Envelope {
        command_id: format!(
            "{}-{}-{seq}__{}",
            clock::now_stamp(),
            std::process::id(),
            command.name()
        ),
        issued_at: clock::now_iso(),
        command: command.name().to_string(),
        payload: command.payload(),
        issuer: "cli".into(),
    };
    let text = serde_json::to_string_pretty(&env).expect("envelope serialises") + "\n";
    atomic::write_new(
        &incoming_dir(agents).join(format!("{}.json", env.command_id)),
        text.as_bytes(),
    )?;
    Ok(env)
}

/// Envelope files waiting in `incoming/`, oldest first.
pub fn pending(agents: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(incoming_dir(agents))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    !name.starts_with('.') && name.ends_with(".json")
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Reads an envelope and parses its command; `Err` carries the reason it
/// failed and the raw JSON when there was any.
pub fn read(agents: &Path, path: &Path) -> Result<(Envelope, Command), (String, Option<Value>)> {
    // Only regular files, never through a symlink, never more than the
    // limit: a fifo, `/dev/zero` or a link out of the workspace is refused
    // without being read.
    let bytes = safe::read_bounded(path, MAX_ENVELOPE_BYTES, false).map_err(|e| match e {
        safe::SafeReadError::NotRegular { kind, .. } => {
            (format!("refused: {kind}, not a regular file"), None)
        }
        safe::SafeReadError::TooLarge { limit, .. } => {
            (format!("oversized: more than {limit} bytes"), None)
        }
        other => (format!("unreadable: {other}"), None),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| (format!("not UTF-8: {e}"), None))?;
    let raw: Value =
        serde_json::from_str(&text).map_err(|e| (format!("malformed JSON: {e}"), None))?;
    let mut env: Envelope = serde_json::from_value(raw.clone())
        .map_err(|e| (format!("malformed envelope: {e}"), Some(raw.clone())))?;
    if let Some(file) = v020_idea_file(&env) {
        env.payload = v020_idea(agents, &file).map_err(|e| (e, Some(raw.clone())))?;
    }
    match Command::parse(&env.command, &env.payload) {
        Ok(cmd) => Ok((env, cmd)),
        Err(reason) => Err((reason, Some(raw))),
    }
}

/// The file a v0.2.0 `add_idea {file}` envelope names (ours carry the
/// idea itself as `{name, text}`).
fn v020_idea_file(env: &Envelope) -> Option<String> {
    (env.command == "add_idea" && env.payload.get("name").is_none())
        .then(|| env.payload.get("file")?.as_str().map(str::to_string))
        .flatten()
}

/// v0.2.0's `add_idea {file}` as ours: the file is read only when it is a
/// regular file inside the workspace (never through a link; an envelope
/// is not trusted to name a path), and travels on inside the envelope.
fn v020_idea(agents: &Path, file: &str) -> Result<Value, String> {
    let root = agents.parent().unwrap_or(agents);
    let text = safe::read_confined(&[agents, root], Path::new(file), super::commands::MAX_IDEA_BYTES as u64)
        .map_err(|e| {
            format!(
                "v0.2.0 add_idea names {file}: {e}; only a regular file inside the workspace is taken (copy it into agents/ideas/raw/ yourself)"
            )
        })?;
    let name = Path::new(file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "idea.md".into());
    Ok(json!({ "name": name, "text": text, "v020_file": file }))
}

/// Moves an incoming file to `processed/` or `failed/` with its result.
pub fn archive(
    agents: &Path,
    incoming: &Path,
    envelope: Option<Value>,
    result: &CommandResult,
) -> std::io::Result<()> {
    let which = if result.ok {
        MailboxDir::Processed
    } else {
        MailboxDir::Failed
    };
    let name = incoming
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    let record = json!({ "envelope": envelope, "result": result });
    let text = serde_json::to_string_pretty(&record).expect("record serialises") + "\n";
    atomic::write(&dir(agents, which).join(&name), text.as_bytes())?;
    if std::fs::remove_file(incoming).is_err() {
        // A directory (or anything unlink refuses) is moved aside instead,
        // so that it does not fail again on every wake.
        let mut aside = name;
        aside.push(".refused");
        std::fs::rename(incoming, dir(agents, MailboxDir::Failed).join(aside))?;
    }
    Ok(())
}

/// Whether an unparsable envelope may still be being written by a writer
/// that does not rename (changed within the last two seconds): it is read
/// again later instead of failed.
pub fn maybe_partial(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
        // The probe goes beside the mailbox folder, not into the watched
        // `incoming/`.
        && path
            .parent()
            .and_then(Path::parent)
            .and_then(crate::store::safe::FsClock::of)
            .and_then(|clock| clock.age(path))
            .is_some_and(|age| age < Duration::from_secs(2))
}

/// Waits for the daemon's result for `command_id` (polling every 10 ms).
pub fn wait_for_result(
    agents: &Path,
    command_id: &str,
    timeout: Duration,
) -> Option<CommandResult> {
    let name = format!("{command_id}.json");
    let deadline = Instant::now() + timeout;
    loop {
        for which in [MailboxDir::Processed, MailboxDir::Failed] {
            if let Ok(text) =
                safe::read_text(&dir(agents, which).join(&name), MAX_ENVELOPE_BYTES * 2)
            {
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    if let Ok(r) = serde_json::from_value(v["result"].clone()) {
                        return Some(r);
                    }
                }
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_bad_ones_have_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path();
        let env = enqueue(a, &Command::Pause).unwrap();
        let files = pending(a);
        assert_eq!(files.len(), 1);
        assert_eq!(read(a, &files[0]).unwrap(), (env.clone(), Command::Pause));
        std::fs::write(incoming_dir(a).join("x.json"), "{nope").unwrap();
        assert!(read(a, &incoming_dir(a).join("x.json"))
            .unwrap_err()
            .0
            .starts_with("malformed JSON"));
        std::fs::write(
            incoming_dir(a).join("y.json"),
            r#"{"command_id":"y","issued_at":"t","command":"explode","payload":{},"issuer":"cli"}"#,
        )
        .unwrap();
        assert!(read(a, &incoming_dir(a).join("y.json"))
            .unwrap_err()
            .0
            .starts_with("unknown command"));
        std::fs::write(
            incoming_dir(a).join("z.json"),
            "x".repeat(MAX_ENVELOPE_BYTES as usize + 1),
        )
        .unwrap();
        assert!(read(a, &incoming_dir(a).join("z.json"))
            .unwrap_err()
            .0
            .starts_with("oversized"));
        let r = CommandResult {
            command_id: env.command_id.clone(),
            processed_at: "t".into(),
            ok: true,
            applied: true,
            message: "engine paused".into(),
            payload: json!({}),
        };
        // Special files are refused without being opened for reading, and
        // moved out of the way.
        let fifo = incoming_dir(a).join("f.json");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        assert!(read(a, &fifo).unwrap_err().0.contains("a fifo"));
        let link = incoming_dir(a).join("l.json");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(read(a, &link).unwrap_err().0.contains("symbolic link"));
        let d = incoming_dir(a).join("d.json");
        std::fs::create_dir(&d).unwrap();
        assert!(read(a, &d).unwrap_err().0.contains("a directory"));
        let failed = CommandResult {
            command_id: "d".into(),
            processed_at: "t".into(),
            ok: false,
            applied: false,
            message: "refused".into(),
            payload: json!({}),
        };
        archive(a, &d, None, &failed).unwrap();
        assert!(!d.exists());
        archive(a, &files[0], Some(json!(env)), &r).unwrap();
        assert_eq!(
            wait_for_result(a, &env.command_id, Duration::from_millis(10))
                .unwrap()
                .message,
            "engine paused"
        );
    }
}
