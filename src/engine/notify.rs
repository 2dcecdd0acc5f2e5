//! Notifications, driven from the event log with a durable cursor
//! (`.runtime/notify_cursor.json`: the log file's inode and the offset read
//! up to). New events are classed; the notifiable ones are delivered most
//! urgent first, each by running `[notify] command` with the event as JSON
//! on stdin and an idempotency key. The cursor moves only after every
//! delivery of a batch succeeded, so a crash or a failing command means the
//! batch is delivered again (at least once; the key lets a receiver drop a
//! repeat), never lost. The daemon delivers from its own thread
//! ([`Notifier`]); each command runs in its own process group, gets the
//! event on stdin from another thread, and is killed with everything it
//! started at its timeout or at shutdown.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::defs::layout::Layout;
use crate::store::events::Event;
use crate::store::workspace::Workspace;
use crate::store::{atomic, failpoint};

/// How long one notification command may take.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a notifiable event is about, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// A person must act: a bad key, a stale completion marker.
    NeedsInput,
    /// A task was quarantined.
    RunFailed,
    /// A budget cap or an outage paused the work.
    Paused,
    AuditDecision,
    /// A task was archived.
    RunFinished,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::NeedsInput => "needs_input",
            Class::RunFailed => "run_failed",
            Class::Paused => "paused",
            Class::AuditDecision => "audit_decision",
            Class::RunFinished => "run_finished",
        }
    }

    /// The class of an event, if it is notifiable.
    pub fn of(e: &Event) -> Option<Class> {
        use crate::defs::stage_kind::Plane;
        use crate::store::events::{EngineEvent as En, EventKind as K, PlaneEvent as P};
        let reason = e.payload["reason"].as_str().unwrap_or("");
        Some(match &e.kind {
            K::Engine(En::Paused) if reason.starts_with("env_blocked") => Class::NeedsInput,
            // Paused by an operator's command: they know.
            K::Engine(En::Paused) if e.payload.get("command_id").is_some() => return None,
            K::Engine(En::Paused) => Class::Paused,
            K::Engine(En::CompletionStale) => Class::NeedsInput,
            K::Plane(_, P::BudgetExhausted) => Class::Paused,
            K::Plane(Plane::Execution, P::TaskQuarantined) => Class::RunFailed,
            K::Plane(Plane::Research, P::CompletionDecided) => Class::AuditDecision,
            K::Plane(Plane::Execution, P::TaskArchived) => Class::RunFinished,
            _ => return None,
        })
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    /// Inode of the log file `offset` is in.
    ino: u64,
    offset: u64,
}

fn cursor_path(agents: &Path) -> std::path::PathBuf {
    Layout::of(agents).runtime_dir().join("notify_cursor.json")
}

/// The events appended since the cursor, and the cursor after them.
fn new_events(agents: &Path, cursor: &Cursor) -> std::io::Result<(Vec<(String, Event)>, Cursor)> {
    let layout = Layout::of(agents);
    let current = layout.events_log();
    let meta = match std::fs::metadata(&current) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((Vec::new(), Cursor::default()))
        }
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    let read_from = |path: &Path, from: u64, text: &mut String| -> std::io::Result<()> {
        let mut f = std::fs::File::open(path)?;
        f.seek(SeekFrom::Start(from))?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)?;
        text.push_str(&String::from_utf8_lossy(&bytes));
        Ok(())
    };
    let mut start = cursor.offset;
    if cursor.ino != meta.ino() {
        // Rotated since: finish the file the cursor was in, if it is the
        // newest rotated one, then read the current file whole.
        let rotated = layout.events_log_rotated(1);
        if cursor.ino != 0 && std::fs::metadata(&rotated).is_ok_and(|m| m.ino() == cursor.ino) {
            read_from(&rotated, cursor.offset, &mut text)?;
        }
        start = 0;
    }
    if start > meta.len() {
        start = 0;
    }
    let before = text.len();
    read_from(&current, start, &mut text)?;
    // Only whole lines: a line being appended is read next time.
    let end = text.rfind('\n').map_or(0, |i| i + 1);
    let consumed_current = end.saturating_sub(before) as u64;
    let events = text[..end]
        .lines()
        .filter_map(|l| {
            serde_json::from_str::<Event>(l)
                .ok()
                .map(|e| (l.to_string(), e))
        })
        .collect();
    Ok((
        events,
        Cursor {
            ino: meta.ino(),
            offset: start + consumed_current,
        },
    ))
}

/// Delivers what was appended since the last delivery; returns how many
/// notifications went out. Without `[notify] command`, only moves the
/// cursor.
pub fn deliver(ws: &Workspace) -> std::io::Result<usize> {
    deliver_until(ws, &AtomicBool::new(false))
}

/// [`deliver`], abandoning the command in flight (killed with its process
/// group; the batch is delivered again later) once `stop` is set.
pub fn deliver_until(ws: &Workspace, stop: &AtomicBool) -> std::io::Result<usize> {
    let cfg = &ws.config.notify;
    let path = cursor_path(&ws.agents);
    let cursor: Cursor = match crate::store::safe::read_text(&path, 4096) {
        Ok(t) => serde_json::from_str(&t).unwrap_or_default(),
        Err(_) if cfg.command.is_empty() => return Ok(0),
        Err(_) => {
            // Notifications start now: what the log held before is history.
            let m = std::fs::metadata(Layout::of(&ws.agents).events_log()).ok();
            let start = Cursor {
                ino: m.as_ref().map_or(0, |m| m.ino()),
                offset: m.map_or(0, |m| m.len()),
            };
            atomic::write(
                &path,
                serde_json::to_string(&start)
                    .expect("cursor serialises")
                    .as_bytes(),
            )?;
            start
        }
    };
    let (events, next) = new_events(&ws.agents, &cursor)?;
    let mut batch: Vec<(Class, String, Event)> = events
        .into_iter()
        .filter_map(|(line, e)| Class::of(&e).map(|c| (c, line, e)))
        .filter(|(c, _, _)| cfg.classes.is_empty() || cfg.classes.iter().any(|k| k == c.as_str()))
        .collect();
    if cfg.command.is_empty() {
        batch.clear();
    }
    // Most urgent first; in log order within a class.
    batch.sort_by_key(|(c, _, _)| *c);
    let mut sent = 0;
    for (class, line, event) in &batch {
        let key = crate::defs::config::sha256_hex(line.as_bytes())[..16].to_string();
        let body = json!({"key": key, "class": class, "event": event});
        if !run(&cfg.command, &key, *class, event, &body, stop) {
            tracing::warn!(
                class = class.as_str(),
                "notification command failed; retried at the next delivery"
            );
            return Ok(sent);
        }
        sent += 1;
    }
    failpoint::hit("notify.cursor")?;
    atomic::write(
        &path,
        serde_json::to_string(&next)
            .expect("cursor serialises")
            .as_bytes(),
    )?;
    Ok(sent)
}

fn run(
    command: &[String],
    key: &str,
    class: Class,
    event: &Event,
    body: &Value,
    stop: &AtomicBool,
) -> bool {
    let Some((program, args)) = command.split_first() else {
        return true;
    };
    let summary = format!(
        "{} {}",
        event.kind,
        event
            .payload
            .get("task_id")
            .or(event.payload.get("reason"))
            .and_then(Value::as_str)
            .unwrap_or("")
    );
    let child = std::process::Command::new(program)
        .args(args)
        .env("MILLRACE_NOTIFY_KEY", key)
        .env("MILLRACE_NOTIFY_CLASS", class.as_str())
        .env("MILLRACE_NOTIFY_EVENT", event.kind.to_string())
        .env("MILLRACE_NOTIFY_SUMMARY", summary.trim())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        // Its own process group: a timeout ends it and all it started.
        .process_group(0)
        .spawn();
    let Ok(mut child) = child else { return false };
    let group = child.id() as i32;
    // The event is written from its own thread: a command that never
    // reads its stdin cannot block delivery (the write ends with the pipe
    // when the group is killed).
    if let Some(mut stdin) = child.stdin.take() {
        let payload = format!("{body}\n");
        let _ = std::thread::Builder::new()
            .name("notify-stdin".into())
            .spawn(move || {
                use std::io::Write;
                let _ = stdin.write_all(payload.as_bytes());
            });
    }
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if started.elapsed() < NOTIFY_TIMEOUT && !stop.load(Ordering::Relaxed) => {
                std::thread::sleep(Duration::from_millis(10))
            }
            _ => {
                // SAFETY: kill(2) on a process group this function created.
                unsafe { libc::kill(-group, libc::SIGKILL) };
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// Delivery off the engine's loop: a thread that delivers whenever it is
/// woken, with the workspace (and so the `[notify]` config) of its latest
/// wake. The loop never waits on a notification command.
pub struct Notifier {
    tx: Option<std::sync::mpsc::Sender<Workspace>>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Notifier {
    pub fn start() -> Notifier {
        let (tx, rx) = std::sync::mpsc::channel::<Workspace>();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("notify".into())
            .spawn(move || {
                while let Ok(mut ws) = rx.recv() {
                    // Wakes that piled up while delivering: one delivery.
                    while let Ok(newer) = rx.try_recv() {
                        ws = newer;
                    }
                    if flag.load(Ordering::Relaxed) {
                        return;
                    }
                    if let Err(e) = deliver_until(&ws, &flag) {
                        tracing::warn!("cannot deliver notifications: {e}");
                    }
                }
            })
            .ok();
        Notifier {
            tx: Some(tx),
            stop,
            handle,
        }
    }

    /// Asks for a delivery (never blocks).
    pub fn wake(&self, ws: &Workspace) {
        if ws.config.notify.command.is_empty() {
            return;
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(ws.clone());
        }
    }

    /// Lets the deliveries asked for finish within `grace`, then kills the
    /// command in flight (its batch is delivered at the next start).
    pub fn finish(mut self, grace: Duration) {
        self.tx = None;
        let Some(handle) = self.handle.take() else {
            return;
        };
        let deadline = Instant::now() + grace;
        while !handle.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop.store(true, Ordering::Relaxed);
        let _ = handle.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defs::stage_kind::Plane;
    use crate::store::events::{EngineEvent, EventKind, PlaneEvent};

    fn event(kind: EventKind, payload: Value) -> Event {
        Event {
            kind,
            timestamp: "t".into(),
            source: "engine".into(),
            payload,
        }
    }

    #[test]
    fn events_are_classed_by_their_typed_kind() {
        let cases = [
            (
                EventKind::Engine(EngineEvent::Paused),
                json!({"reason": "env_blocked: auth"}),
                Some(Class::NeedsInput),
            ),
            (
                EventKind::Engine(EngineEvent::Paused),
                json!({"command_id": "c"}),
                None,
            ),
            (
                EventKind::Engine(EngineEvent::Paused),
                json!({}),
                Some(Class::Paused),
            ),
            (
                EventKind::Plane(Plane::Research, PlaneEvent::BudgetExhausted),
                json!({}),
                Some(Class::Paused),
            ),
            (
                EventKind::Plane(Plane::Execution, PlaneEvent::TaskQuarantined),
                json!({}),
                Some(Class::RunFailed),
            ),
            (
                EventKind::Plane(Plane::Research, PlaneEvent::TaskQuarantined),
                json!({}),
                None,
            ),
            (
                EventKind::Plane(Plane::Execution, PlaneEvent::TaskArchived),
                json!({}),
                Some(Class::RunFinished),
            ),
            (EventKind::Engine(EngineEvent::Heartbeat), json!({}), None),
        ];
        for (kind, payload, class) in cases {
            let what = format!("{kind} {payload}");
            assert_eq!(Class::of(&event(kind, payload)), class, "{what}");
        }
    }
}
