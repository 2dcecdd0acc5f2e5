//! `agents/engine_events.log`: one JSON object per line with keys `type`,
//! `timestamp`, `source`, `payload` in that order (spec §7.4).

use crate::defs::layout::Layout;
use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::event_kind::{
    ConfigEvent, ControlEvent, EngineEvent, EventKind, EventSource, HandoffEvent, PlanEvent,
    PlaneEvent,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub timestamp: String,
    pub source: String,
    pub payload: Value,
}

pub struct EventLog {
    path: PathBuf,
}

impl EventLog {
    pub fn new(agents: &Path) -> EventLog {
        EventLog {
            path: Layout::of(agents).events_log(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event. A single `O_APPEND` write keeps lines from
    /// concurrent writers whole.
    pub fn append(
        &self,
        kind: EventKind,
        source: EventSource,
        payload: Value,
    ) -> io::Result<Event> {
        let event = Event {
            kind,
            timestamp: super::time::now_iso(),
            source: source.to_string(),
            payload,
        };
        let mut line = serde_json::to_string(&event).expect("event serialises");
        line.push('\n');
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(line.as_bytes())?;
        Ok(event)
    }

    /// The last `n` events, oldest first. Reads backwards from the end, so
    /// the cost does not grow with the log. Unparsable lines are skipped.
    pub fn tail(&self, n: usize) -> io::Result<Vec<Event>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut f = match super::safe::open_regular(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let len = f.seek(SeekFrom::End(0))?;
        // Read backwards chunk by chunk, counting newlines only in each new
        // chunk, until there are more than `n`: linear in what is shown,
        // independent of the log's size.
        const CHUNK: u64 = 64 * 1024;
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        let mut newlines = 0usize;
        let mut start = len;
        while start > 0 && newlines <= n {
            let from = start.saturating_sub(CHUNK);
            let mut chunk = vec![0; (start - from) as usize];
            f.seek(SeekFrom::Start(from))?;
            f.read_exact(&mut chunk)?;
            newlines += chunk.iter().filter(|b| **b == b'\n').count();
            chunks.push(chunk);
            start = from;
        }
        let mut buf = Vec::with_capacity(chunks.iter().map(Vec::len).sum());
        for c in chunks.iter().rev() {
            buf.extend_from_slice(c);
        }
        let text = String::from_utf8_lossy(&buf);
        let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        if start > 0 && !lines.is_empty() {
            lines.remove(0); // may be cut in the middle
        }
        let skip = lines.len().saturating_sub(n);
        Ok(lines[skip..]
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_in_v020_key_order_and_tails() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::new(dir.path());
        for i in 0..5 {
            log.append(
                EventKind::execution(PlaneEvent::TaskPromoted),
                EventSource::Execution,
                serde_json::json!({"i": i}),
            )
            .unwrap();
        }
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert!(
            text.starts_with(&format!(
                "{{\"type\":\"{}\",\"timestamp\":\"",
                EventKind::execution(PlaneEvent::TaskPromoted)
            )),
            "{text}"
        );
        let tail = log.tail(2).unwrap();
        assert_eq!(
            tail.iter()
                .map(|e| e.payload["i"].as_i64().unwrap())
                .collect::<Vec<_>>(),
            [3, 4]
        );
        assert_eq!(log.tail(50).unwrap().len(), 5);
    }
}
