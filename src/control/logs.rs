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
