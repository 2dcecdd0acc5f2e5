//! `agents/engine_events.log`: one JSON object per line with keys `type`,
//! `timestamp`, `source`, `payload` in that order (spec §7.4).

use crate::defs::layout::Layout;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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

/// The event log of a workspace: appends go to `engine_events.log`, which
/// is rotated to `engine_events.1.log` … once it passes a size, and reads
/// go across the rotated files, so a months-long daemon keeps a bounded
/// log and `logs` still sees the newest events.
pub struct EventLog {
    agents: PathBuf,
    path: PathBuf,
    rotation: Rotation,
    /// The log as this writer holds it open between appends (a stat per
    /// append notices a rotation by another process).
    file: Mutex<Option<File>>,
}

/// When the log is rotated and how many rotated files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// 0 never rotates.
    pub max_bytes: u64,
    pub keep: u32,
}

impl Rotation {
    /// As `[engine] event_log_max_bytes` and `event_log_keep` say.
    pub fn of(engine: &crate::defs::config::EngineConfig) -> Rotation {
        Rotation {
            max_bytes: engine.event_log_max_bytes,
            keep: engine.event_log_keep,
        }
    }
}

/// Rotated files a reader looks for at most (beyond any sane `keep`).
const MAX_ROTATED: u32 = 1000;

impl EventLog {
    /// With the default rotation (tests; the runtime takes `[engine]`'s).
    #[cfg(test)]
    pub fn new(agents: &Path) -> EventLog {
        EventLog::with_rotation(agents, Rotation::of(&Default::default()))
    }

    pub fn with_rotation(agents: &Path, rotation: Rotation) -> EventLog {
        EventLog {
            agents: agents.to_path_buf(),
            path: Layout::of(agents).events_log(),
            rotation,
            file: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event. A single `O_APPEND` write keeps lines from
    /// concurrent writers whole; the file stays open for the next append.
    pub fn append(
        &self,
        kind: EventKind,
        source: EventSource,
        payload: Value,
    ) -> io::Result<Event> {
        let event = Event {
            kind,
            timestamp: crate::defs::clock::now_iso(),
            source: source.to_string(),
            payload,
        };
        let mut line = serde_json::to_string(&event).expect("event serialises");
        line.push('\n');
        let mut held = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if !held.as_ref().is_some_and(|f| self.is_current(f)) {
            *held = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?,
            );
        }
        let file = held.as_mut().expect("opened above");
        file.write_all(line.as_bytes())?;
        if self.rotation.max_bytes > 0 && file.metadata()?.len() > self.rotation.max_bytes {
            self.rotate(file)?;
            *held = None;
        }
        Ok(event)
    }

    /// Whether `file` is still the file at the log's path.
    fn is_current(&self, file: &File) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(&self.path), file.metadata()) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }

    /// Moves the full log to `engine_events.1.log` and each rotated file one
    /// number up, deleting the one past `keep`. Writers in other processes
    /// may be appending: an exclusive `flock` on the full file makes one of
    /// them rotate, and the others find the file already moved.
    fn rotate(&self, file: &File) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor this function borrows.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Ok(()); // another writer is rotating it
        }
        if !self.is_current(file) {
            return Ok(()); // already rotated; the lock goes with the file
        }
        let layout = Layout::of(&self.agents);
        let keep = self.rotation.keep.max(1);
        match std::fs::remove_file(layout.events_log_rotated(keep)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        for n in (1..keep).rev() {
            match std::fs::rename(
                layout.events_log_rotated(n),
                layout.events_log_rotated(n + 1),
            ) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, layout.events_log_rotated(1))?;
        tracing::debug!(path = %self.path.display(), "rotated the event log");
        Ok(())
    }

    /// The log and its rotated files that exist, newest first.
    fn files(&self) -> Vec<PathBuf> {
        let layout = Layout::of(&self.agents);
        std::iter::once(self.path.clone())
            .chain(
                (1..=MAX_ROTATED)
                    .map(|n| layout.events_log_rotated(n))
                    .take_while(|p| p.exists()),
            )
            .collect()
    }

    /// The last `n` events, oldest first (see [`EventLog::tail_each`]).
    #[cfg(test)]
    pub fn tail(&self, n: usize) -> io::Result<Vec<Event>> {
        let mut out = Vec::new();
        self.tail_each(n, |e| {
            out.push(e);
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `f` for each of the last `n` events, oldest first, across
    /// rotated files. Finds where they start by reading backwards and
    /// counting newlines, then reads forward one line at a time: time
    /// linear in `n` and independent of the log's size, memory flat.
    /// Unparsable lines are skipped (a torn last line, a hand edit).
    pub fn tail_each(
        &self,
        n: usize,
        mut f: impl FnMut(Event) -> io::Result<()>,
    ) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        let start = self.tail_start(n)?;
        let mut left = n;
        for (path, from, to) in start {
            let file = match super::safe::open_regular(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let mut reader = io::BufReader::with_capacity(64 << 10, file);
            reader.seek(SeekFrom::Start(from))?;
            let mut reader = reader.take(to - from);
            let mut line = Vec::new();
            loop {
                line.clear();
                if reader.read_until(b'\n', &mut line)? == 0 {
                    break;
                }
                if let Ok(e) = serde_json::from_slice::<Event>(&line) {
                    f(e)?;
                    left -= 1;
                    if left == 0 {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// Where the last `n` lines start: `(file, from, to)` ranges oldest
    /// first, each read up to its length now (a writer appending meanwhile
    /// is not chased).
    fn tail_start(&self, n: usize) -> io::Result<Vec<(PathBuf, u64, u64)>> {
        const CHUNK: usize = 64 * 1024;
        let mut ranges = Vec::new();
        let mut lines = 0usize;
        let mut chunk = vec![0; CHUNK];
        for path in self.files() {
            let mut f = match super::safe::open_regular(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let len = f.seek(SeekFrom::End(0))?;
            // Lines start at 0 and after every newline but a final one.
            let mut pos = len;
            let mut found = None;
            'file: while pos > 0 {
                let from = pos.saturating_sub(CHUNK as u64);
                let buf = &mut chunk[..(pos - from) as usize];
                f.seek(SeekFrom::Start(from))?;
                f.read_exact(buf)?;
                for i in (0..buf.len()).rev() {
                    let at = from + i as u64;
                    if buf[i] == b'\n' && at + 1 < len {
                        lines += 1;
                        if lines == n {
                            found = Some(at + 1);
                            break 'file;
                        }
                    }
                }
                pos = from;
            }
            if len > 0 && found.is_none() {
                lines += 1;
                if lines == n {
                    found = Some(0);
                }
            }
            ranges.push((path, found.unwrap_or(0), len));
            if found.is_some() {
                break;
            }
        }
        ranges.reverse();
        Ok(ranges)
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

    fn numbers(events: &[Event]) -> Vec<i64> {
        events
            .iter()
            .map(|e| e.payload["i"].as_i64().unwrap())
            .collect()
    }

    #[test]
    fn rotates_past_the_size_keeps_the_newest_files_and_tails_across_them() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_bytes: 1000,
            keep: 3,
        };
        // Two writers, as a daemon and a CLI command would be.
        let a = EventLog::with_rotation(dir.path(), rotation);
        let b = EventLog::with_rotation(dir.path(), rotation);
        for i in 0..200 {
            let log = if i % 3 == 0 { &b } else { &a };
            log.append(
                EventKind::execution(PlaneEvent::TaskPromoted),
                EventSource::Execution,
                serde_json::json!({"i": i}),
            )
            .unwrap();
        }
        let layout = Layout::of(dir.path());
        for n in 1..=3 {
            let len = std::fs::metadata(layout.events_log_rotated(n))
                .unwrap()
                .len();
            assert!(len > 1000 && len < 1300, "rotated file {n}: {len} bytes");
        }
        assert!(
            !layout.events_log_rotated(4).exists(),
            "only `keep` are kept"
        );
        assert!(std::fs::metadata(a.path()).unwrap().len() <= 1300);
        // The tail crosses files, in order, ending with the last event.
        let all = a.tail(10_000).unwrap();
        let got = numbers(&all);
        let first = got[0];
        assert_eq!(
            got,
            (first..200).collect::<Vec<_>>(),
            "nothing lost or doubled"
        );
        assert!(got.len() > 20);
        assert_eq!(
            numbers(&a.tail(25).unwrap()),
            (175..200).collect::<Vec<_>>()
        );
        assert_eq!(numbers(&a.tail(1).unwrap()), [199]);
    }

    #[test]
    fn a_tail_counts_a_last_line_without_newline_and_skips_junk() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::new(dir.path());
        log.append(
            EventKind::execution(PlaneEvent::TaskPromoted),
            EventSource::Execution,
            serde_json::json!({"i": 1}),
        )
        .unwrap();
        let mut f = OpenOptions::new().append(true).open(log.path()).unwrap();
        f.write_all(b"not json\n{\"torn\":").unwrap();
        assert_eq!(numbers(&log.tail(3).unwrap()), [1]);
        assert!(
            log.tail(2).unwrap().is_empty(),
            "the last two lines are junk"
        );
    }
}
