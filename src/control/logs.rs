//! `logs`: the tail of `agents/engine_events.log`.

use crate::store::events::{Event, EventLog};

use super::{ControlError, Result, Workspace};

pub fn tail(ws: &Workspace, n: usize) -> Result<Vec<Event>> {
    let log = EventLog::new(&ws.agents);
    log.tail(n).map_err(ControlError::io(log.path()))
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
    let log = EventLog::new(&ws.agents);
    for e in log.tail(tail_n).map_err(ControlError::io(log.path()))? {
        emit(&e).map_err(ControlError::Output)?;
    }
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
            pos = 0; // truncated or rotated
        }
        if idle_timeout.is_some_and(|t| last.elapsed() >= t) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
