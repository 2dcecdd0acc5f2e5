//! `logs`: the tail of `agents/engine_events.log` (and the rotated logs
//! before it), printed as it is read.

use crate::store::events::{Event, EventLog};

use super::{ControlError, Result, Workspace};

/// The last `n` events, read when they are printed (one event in memory
/// at a time).
pub struct Tail {
    log: EventLog,
    n: usize,
}

impl Tail {
    /// Calls `f` for each event, oldest first.
    pub fn each(&self, f: impl FnMut(Event) -> std::io::Result<()>) -> std::io::Result<()> {
        self.log.tail_each(self.n, f)
    }
}

pub fn tail(ws: &Workspace, n: usize) -> Result<Tail> {
    let log = ws.event_log();
    // Refuse a log that is not a regular file now, with its name, rather
    // than halfway through the output.
    match crate::store::safe::open_regular(log.path()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(ControlError::io(log.path())(e))
        }
        _ => {}
    }
    Ok(Tail { log, n })
}

/// Emits the tail, then every new event as it is appended, until `limit`
/// events were followed, nothing arrived for `idle_timeout`, or `emit`
/// fails (the reader went away).
pub fn follow(
    ws: &Workspace,
    tail_n: usize,
    limit: Option<usize>,
    idle_timeout: Option<std::time::Duration>,
    mut emit: impl FnMut(&Event) -> std::io::Result<()>,
) -> Result<()> {
    use std::io::{BufRead, Seek};
    let log = ws.event_log();
    // A failed `emit` (the reader went away) stops the tail and is the
    // output's error, not the log's.
    let mut gone = None;
    let read = log.tail_each(tail_n, |e| {
        emit(&e).map_err(|err| {
            let kind = err.kind();
            gone = Some(err);
            std::io::Error::from(kind)
        })
    });
    if let Some(err) = gone {
        return Err(ControlError::Output(err));
    }
    read.map_err(ControlError::io(log.path()))?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(log.path())
        .map_err(ControlError::io(log.path()))?;
    let mut pos = file
        .seek(std::io::SeekFrom::End(0))
        .map_err(ControlError::io(log.path()))?;
    let mut followed = 0;
    let mut last = std::time::Instant::now();
    loop {
        let len = file.metadata().map(|m| m.len()).unwrap_or(pos);
        if len > pos {
            file.seek(std::io::SeekFrom::Start(pos))
                .map_err(ControlError::io(log.path()))?;
            let mut reader = std::io::BufReader::new(&file);
            let mut line = String::new();
            while reader
                .read_line(&mut line)
                .map_err(ControlError::io(log.path()))?
                > 0
            {
                if !line.ends_with('\n') {
                    break; // a line still being written: read it next round
                }
                pos += line.len() as u64;
                if let Ok(e) = serde_json::from_str::<Event>(&line) {
                    emit(&e).map_err(ControlError::Output)?;
                    followed += 1;
                    last = std::time::Instant::now();
                    if limit.is_some_and(|l| followed >= l) {
                        return Ok(());
                    }
                }
                line.clear();
            }
        } else if len < pos {
            pos = 0; // truncated
        } else if let Some(fresh) = rotated(log.path(), &file) {
            // Everything in the old file was read: go on in the new one.
            file = fresh.map_err(ControlError::io(log.path()))?;
            pos = 0;
            continue;
        }
        if idle_timeout.is_some_and(|t| last.elapsed() >= t) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The new log when the one `file` holds was rotated away from `path`.
fn rotated(path: &std::path::Path, file: &std::fs::File) -> Option<std::io::Result<std::fs::File>> {
    use std::os::unix::fs::MetadataExt;
    let now = std::fs::metadata(path).ok()?;
    let held = file.metadata().ok()?;
    if now.dev() == held.dev() && now.ino() == held.ino() {
        return None;
    }
    Some(
        std::fs::OpenOptions::new()
            .append(true)
            .read(true)
            .open(path),
    )
}

/// How much an event matters to an operator watching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// Routine progress (stages, promotions).
    Routine,
    /// Worth a notice: the operator may need to act or would want to know
    /// (a pause, a wait on the environment, a quarantine, a budget cap).
    Notice,
    /// Noise for a person (heartbeats, status mirrors, lock traffic).
    Quiet,
}

/// An event in plain words for an operator, and how much it matters.
pub fn narrate(e: &Event) -> (Weight, String) {
    use crate::store::events::{
        ConfigEvent as C, ControlEvent as Ct, EngineEvent as En, EventKind as K, HandoffEvent as H,
        PlanEvent as Pl, PlaneEvent as P,
    };
    use Weight::{Notice, Quiet, Routine};
    let p = &e.payload;
    let s = |k: &str| match &p[k] {
        serde_json::Value::String(v) => v.clone(),
        serde_json::Value::Null => "-".to_string(),
        v => v.to_string(),
    };
    let plane = |pl: &crate::defs::stage_kind::Plane| pl.as_str();
    match &e.kind {
        K::Plane(pl, ev) => match ev {
            P::StageStarted => (
                Routine,
                format!(
                    "{} `{}` started: {}",
                    plane(pl),
                    s("node_id"),
                    p["title"]
                        .as_str()
                        .or(p["task_id"].as_str())
                        .map_or_else(|| s("run_id"), str::to_string)
                ),
            ),
            P::StageCompleted => (
                Routine,
                format!("{} `{}` finished: {}", plane(pl), s("node_id"), s("status")),
            ),
            P::StageFailed => (
                Routine,
                format!(
                    "{} `{}` failed ({}): {}",
                    plane(pl),
                    s("node_id"),
                    s("status"),
                    s("error")
                ),
            ),
            P::CounterExhausted => (
                Notice,
                format!(
                    "counter `{}` exhausted at {}/{}",
                    s("counter"),
                    s("value"),
                    s("limit")
                ),
            ),
            P::RunInterrupted => (Notice, format!("run {} interrupted", s("run_id"))),
            P::BudgetExhausted => (
                Notice,
                format!(
                    "budget cap reached, paused before `{}`: {}",
                    s("node_id"),
                    s("message")
                ),
            ),
            P::BudgetAdmission => (
                Notice,
                format!(
                    "task {}: worst case ${} exceeds the ${} the task budget leaves",
                    s("task_id"),
                    s("worst_case_usd"),
                    s("left_usd")
                ),
            ),
            P::DiagnosticsCreated => (
                Routine,
                format!("diagnostics bundle written: {}", s("diagnostics_dir")),
            ),
            P::TaskAdded => (
                Routine,
                format!("task added: {} ({})", s("title"), s("task_id")),
            ),
            P::TaskPromoted => (Routine, format!("task {} is now active", s("task_id"))),
            P::TaskArchived => (Routine, format!("task {} done and archived", s("task_id"))),
            P::TaskQuarantined => (
                Notice,
                format!("task {} quarantined for research", s("task_id")),
            ),
            P::BacklogEmpty => (Routine, "the backlog is empty".to_string()),
            P::CardsAppended => (Routine, format!("research queued cards {}", s("task_ids"))),
            P::CompletionDecided => (
                Notice,
                format!("completion audit decided {}", s("decision")),
            ),
            P::ItemRejected => (Notice, format!("research refused an item: {}", p)),
            P::Received => (
                Routine,
                format!("research received {} {}", s("queue_family"), s("item_id")),
            ),
            P::Deferred => (
                Routine,
                format!("research deferred to {}", s("breadcrumb_path")),
            ),
            P::StatusChanged
            | P::CounterIncremented
            | P::ScanCompleted
            | P::ModeSelected
            | P::DispatchCompiled
            | P::LockAcquired
            | P::LockReleased => (Quiet, format!("{} {}", e.kind, p)),
        },
        K::Handoff(h) => match h {
            H::IdeaSubmitted => (Routine, format!("idea submitted: {}", s("path"))),
            H::NeedsResearch => (Notice, format!("task {} needs research", s("task_id"))),
            H::BacklogEmptyAudit => (Routine, "backlog drained: a completion audit is due".into()),
            H::BacklogRepopulated => (
                Routine,
                format!("backlog repopulated ({} card(s) thawed)", s("thawed_cards")),
            ),
        },
        K::Engine(en) => match en {
            En::Started => (Routine, "engine started".into()),
            En::Stopped => (Routine, "engine stopped".into()),
            En::Paused => (Notice, "engine paused".into()),
            En::Resumed => (Notice, "engine resumed".into()),
            En::NetWait => (
                Notice,
                format!(
                    "waiting on the environment ({}) at `{}`, retry at {}: {}",
                    s("class"),
                    s("node"),
                    s("retry_at"),
                    s("message")
                ),
            ),
            En::CycleFailed => (Notice, format!("a cycle failed: {}", s("error"))),
            En::CompletionStale => (
                Notice,
                "a stale AUTONOMY_COMPLETE marker was ignored".into(),
            ),
            En::Heartbeat => (Quiet, "heartbeat".into()),
        },
        K::Plan(Pl::Stale) => (Notice, format!("the plan is stale: {}", s("problem"))),
        K::Plan(Pl::Recovered) => (Notice, "the plan compiles again".into()),
        K::Config(C::Changed) => (Routine, format!("config changed: {}", s("key"))),
        K::Config(C::Applied) => (Routine, "config applied".into()),
        K::Control(Ct::CommandReceived) => (Quiet, format!("command received: {}", s("command"))),
        K::Control(Ct::CommandApplied) => (Routine, format!("command applied: {}", s("command"))),
        K::Unknown(name) => (Routine, format!("{name} {p}")),
    }
}
