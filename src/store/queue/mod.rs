//! The task queue: `tasks.md` (at most one active card), `tasksbacklog.md`
//! (FIFO), `tasksarchive.md`, `tasksbackburner.md`, `tasksblocker.md`
//! (spec §3.2–3.4).
//!
//! Mutations hold `agents/.locks/queue.lock` and commit through the
//! [`journal`](super::journal); reads take no lock unless a journal from a
//! crashed mutation must be recovered first.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::defs::layout::{self, Layout, TaskStore};

use super::cards::{Card, StoreFile, TaskView};
use super::journal::{self, FileWrite};
use super::lock::{FileLock, LockError, OwnerPurpose};

mod depth;
mod frozen;
#[cfg(test)]
mod tests;

pub(super) use frozen::{batch_of, freeze_blocks};
pub use frozen::{FrozenBatch, Thawed};

// Store names relative to `agents/`, as the journal records them.
const ACTIVE: &str = TaskStore::Active.file_name();
pub const BACKLOG: &str = TaskStore::Backlog.file_name();
const ARCHIVE: &str = TaskStore::Archive.file_name();
const BACKBURNER: &str = TaskStore::Backburner.file_name();
const BLOCKER: &str = TaskStore::Blocker.file_name();
const LATCH: &str = layout::RECOVERY_LATCH;

/// Default preambles of store files that do not exist yet.
fn default_preamble(name: &str) -> &'static str {
    TaskStore::ALL
        .into_iter()
        .find(|s| s.file_name() == name)
        .map_or("", TaskStore::preamble)
}

const LOCK_TIMEOUT: Duration = Duration::from_secs(15);

/// Largest store file read (a fifo or a device is refused, never read).
pub(super) const STORE_LIMIT: u64 = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A queue rule was broken; the message is the user-facing reason.
    #[error("{0}")]
    Invalid(String),
}

pub(super) type Result<T> = std::result::Result<T, QueueError>;

/// The queue at one instant.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub active: Option<Card>,
    pub backlog: Vec<Card>,
}

/// `queue --json` / `queue inspect --json` shape (spec §1.6).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct QueueView {
    pub active_task: Option<TaskView>,
    pub backlog: Vec<TaskView>,
    pub backlog_depth: usize,
    /// Batches a quarantine froze into the backburner (`queue thaw`).
    pub frozen_batches: Vec<FrozenBatch>,
    pub next_task: Option<TaskView>,
    /// Problems in the stores' text (`tasksbacklog.md line 7: …`).
    pub warnings: Vec<String>,
}

/// What a quarantine needs to know about the failed run.
#[derive(Debug, Clone)]
pub struct QuarantineRequest {
    pub task_id: String,
    pub run_id: String,
    /// Run directory relative to the workspace.
    pub run_dir: String,
    pub stage: String,
    pub reason: String,
    pub prompt_artifact: Option<String>,
    pub handoff: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct QuarantineOutcome {
    pub batch_id: String,
    pub handoff_id: String,
    pub frozen_backlog_cards: usize,
    pub incident_path: String,
    pub latch_path: String,
}

pub struct Queue {
    agents: PathBuf,
    /// Whether reads wait for an unfinished mutation (see `settled`).
    settle: bool,
    /// The last promote's backlog cut, finishing on its own thread while
    /// the task starts; the next lock taken through this queue waits for
    /// it and reports its error.
    background: Mutex<Option<std::thread::JoinHandle<Result<()>>>>,
    /// The backlog depth last counted, against the file it counted.
    memo: Arc<Mutex<DepthMemo>>,
}

impl Drop for Queue {
    fn drop(&mut self) {
        if let Err(e) = self.finish_background() {
            tracing::warn!("{e}; the next queue lock completes it");
        }
    }
}

/// `.runtime/backlog_depth.json`.
#[derive(Debug, Serialize, serde::Deserialize)]
struct DepthIndex {
    sig: FileSig,
    depth: usize,
    /// Headings without a title; absent in an index an older build wrote
    /// (then the backlog is counted again).
    #[serde(default)]
    untitled: Option<usize>,
}

/// Card headings and headings without a title, as a pass over the backlog
/// counted them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Count {
    depth: usize,
    untitled: usize,
}

/// What a queue last counted: the backlog file's identity, size and change
/// time, and its depth.
#[derive(Debug, Default, Clone, Copy)]
struct DepthMemo(Option<(FileSig, Count)>);

/// A file's device, inode, size and change time (seconds, nanoseconds).
type FileSig = (u64, u64, u64, i64, i64);

/// What one pass over a store found (see `Queue::walk`).
struct Walked {
    depth: usize,
    first: Option<TaskView>,
    /// Every card's view, when they were kept.
    views: Vec<TaskView>,
    warnings: Vec<String>,
}

/// The backlog's first card and where it sits in the file.
struct Head {
    card: Card,
    at: u64,
    /// The card's bytes up to the next card's heading.
    bytes: String,
}

impl Queue {
    pub fn new(agents: &Path) -> Queue {
        Queue {
            agents: agents.to_path_buf(),
            settle: true,
            background: Mutex::new(None),
            memo: Default::default(),
        }
    }

    /// Reads that never wait for the lock: a mutation in flight may show
    /// half done. For a daemon's own state record, which must not stall its
    /// event loop while its run thread holds the lock.
    pub fn unsettled(mut self) -> Queue {
        self.settle = false;
        self
    }

    pub fn lock_path(&self) -> PathBuf {
        Layout::of(&self.agents).queue_lock()
    }

    /// Takes the queue lock and finishes any interrupted mutation (first
    /// waiting for this queue's own cut in the background, whose failure
    /// is this call's error: the journal keeps it for the next lock).
    pub fn lock(&self) -> Result<FileLock> {
        self.finish_background()?;
        let lock = FileLock::acquire(&self.lock_path(), OwnerPurpose::QueueMutation, LOCK_TIMEOUT)?;
        journal::recover(&self.agents).map_err(|source| QueueError::Io {
            path: journal::journal_path(&self.agents),
            source,
        })?;
        Ok(lock)
    }

    /// Waits for the cut of the last promote, if one is in flight.
    fn finish_background(&self) -> Result<()> {
        let handle = self
            .background
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match handle.map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(QueueError::Invalid(
                "the backlog cut of the last promote panicked; the next queue lock completes it"
                    .into(),
            )),
            None => Ok(()),
        }
    }

    pub(super) fn agents(&self) -> &Path {
        &self.agents
    }

    /// Store `name` parsed whole (caller holds the lock).
    pub(super) fn store_file(&self, name: &str) -> Result<StoreFile> {
        self.read_store(name)
    }

    /// [`Queue::backlog_depth`] for a caller holding the lock.
    pub(super) fn backlog_depth_locked(&self) -> Result<usize> {
        self.backlog_depth()
    }

    /// Cards in the archive, counted in one constant-memory pass.
    pub fn archive_depth(&self) -> usize {
        let path = Layout::of(&self.agents).rel(ARCHIVE);
        let mut depth = 0;
        let mut fence = super::cards::Fence::default();
        let _ = super::stream::chunks(&path, STORE_LIMIT, |_, text| {
            for start in super::stream::heading_starts(text, &mut fence) {
                let line = text[start..].lines().next().unwrap_or("");
                if matches!(
                    super::cards::heading_kind(line),
                    Some(super::cards::Heading::Card)
                ) {
                    depth += 1;
                }
            }
            std::ops::ControlFlow::Continue(())
        });
        depth
    }

    /// [`Queue::append_point`] for the effects transaction.
    pub(super) fn append_point_of(&self, name: &str) -> Result<(u64, String)> {
        self.append_point(name)
    }

    /// Commits `writes` as one journaled transaction (caller holds the lock).
    pub(super) fn commit_writes(&self, op: &str, writes: Vec<FileWrite>) -> Result<()> {
        self.commit_raw(op, writes)
    }

    fn read_store(&self, name: &str) -> Result<StoreFile> {
        let path = Layout::of(&self.agents).rel(name);
        match super::safe::read_text(&path, STORE_LIMIT) {
            Ok(text) => Ok(StoreFile::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StoreFile {
                preamble: default_preamble(name).to_string(),
                cards: Vec::new(),
            }),
            Err(source) => Err(QueueError::Io { path, source }),
        }
    }

    fn read_active(&self) -> Result<(StoreFile, Option<Card>)> {
        let store = self.read_store(ACTIVE)?;
        if store.cards.len() > 1 {
            return Err(QueueError::Invalid(format!(
                "{ACTIVE} holds {} task cards; at most one task may be active",
                store.cards.len()
            )));
        }
        let card = store.cards.first().cloned();
        Ok((store, card))
    }

    /// Read paths take no lock; with a journal left by an unfinished
    /// mutation they wait for the lock (finishing it if it crashed) and
    /// hold it while they read.
    fn settled(&self) -> Result<Option<FileLock>> {
        if self.settle && journal::pending(&self.agents) {
            return self.lock().map(Some);
        }
        Ok(None)
    }

    /// The queue now, every card built (small stores and mutations only;
    /// read paths over the backlog stream it).
    pub fn snapshot(&self) -> Result<Snapshot> {
        let _settled = self.settled()?;
        let (_, active) = self.read_active()?;
        Ok(Snapshot {
            active,
            backlog: self.read_store(BACKLOG)?.cards,
        })
    }

    /// The queue view and the stores' lint from one pass over the backlog
    /// (`with_backlog` keeps every card's view; without, only the ids are
    /// kept, for the duplicate check).
    pub fn view(&self, with_backlog: bool) -> Result<QueueView> {
        self.view_head(if with_backlog { usize::MAX } else { 0 })
    }

    /// Like [`Queue::view`], listing only the first `limit` backlog cards
    /// (the depth, the next card and the lint still cover all of them).
    pub fn view_head(&self, limit: usize) -> Result<QueueView> {
        let _settled = self.settled()?;
        let active = self.read_active()?.1.map(|c| c.view());
        let mut warnings = self.walk(ACTIVE, 0)?.warnings;
        let walked = self.walk(BACKLOG, limit)?;
        warnings.extend(walked.warnings);
        Ok(QueueView {
            active_task: active,
            backlog: walked.views,
            backlog_depth: walked.depth,
            frozen_batches: Vec::new(),
            next_task: walked.first,
            warnings,
        })
    }

    /// Every card of store `name` in one pass: their number, the first
    /// card's view, the views of the first `keep`, and the store's lint
    /// (headings without a title, then ids used twice), each line prefixed
    /// with the store's name. The duplicate check borrows the ids it keeps
    /// (no id is copied into a set).
    fn walk(&self, name: &str, keep: usize) -> Result<Walked> {
        use super::stream::Item;
        let path = Layout::of(&self.agents).rel(name);
        let io = |source| QueueError::Io {
            path: path.clone(),
            source,
        };
        // Places are byte offsets until the end, when the few that are
        // reported get their line numbers.
        let mut untitled = Vec::new();
        let (mut views, mut ids, mut offsets) = (Vec::new(), Vec::new(), Vec::new());
        let mut first = None;
        super::stream::cards(&path, STORE_LIMIT, |at, item| {
            match item {
                Item::Untitled => untitled.push(at),
                Item::Card(card) => {
                    let view = card.view();
                    if first.is_none() {
                        first = Some(view.clone());
                    }
                    offsets.push(at);
                    if views.len() < keep {
                        views.push(view);
                    } else {
                        ids.push(view.task_id);
                    }
                }
            }
            std::ops::ControlFlow::Continue(())
        })
        .map_err(io)?;
        let duplicates: Vec<(usize, usize)> = {
            // The kept views come first, then the ids of the rest.
            let all = views
                .iter()
                .map(|v| v.task_id.as_str())
                .chain(ids.iter().map(String::as_str));
            // A fast hasher: ids come from the workspace's own files and a
            // 100k-card lint hashes 100k of them.
            let mut seen: foldhash::HashMap<&str, usize> = Default::default();
            all.enumerate()
                .filter_map(|(i, id)| match seen.entry(id) {
                    std::collections::hash_map::Entry::Occupied(e) => Some((i, *e.get())),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(i);
                        None
                    }
                })
                .collect()
        };
        let id_of = |i: usize| match views.get(i) {
            Some(v) => v.task_id.as_str(),
            None => ids[i - views.len()].as_str(),
        };
        let mut places = untitled.clone();
        places.extend(
            duplicates
                .iter()
                .flat_map(|&(i, f)| [offsets[i], offsets[f]]),
        );
        let lines = super::stream::line_numbers(&path, &places).map_err(io)?;
        let (untitled_lines, duplicate_lines) = lines.split_at(untitled.len());
        let mut warnings: Vec<String> = untitled_lines
            .iter()
            .map(|&n| format!("{name} {}", super::cards::untitled_warning(n)))
            .collect();
        warnings.extend(
            duplicates
                .iter()
                .zip(duplicate_lines.chunks(2))
                .map(|(&(i, _), l)| {
                    format!(
                        "{name} {}",
                        super::cards::duplicate_warning(l[0], id_of(i), l[1])
                    )
                }),
        );
        Ok(Walked {
            depth: offsets.len(),
            first,
            views,
            warnings,
        })
    }

    /// The active card only (does not read the backlog).
    pub fn active(&self) -> Result<Option<Card>> {
        let _settled = self.settled()?;
        Ok(self.read_active()?.1)
    }

    fn commit(&self, op: &str, writes: Vec<(&str, String)>) -> Result<()> {
        let writes = writes
            .into_iter()
            .map(|(path, contents)| FileWrite::replace(path, contents))
            .collect();
        self.commit_raw(op, writes)
    }

    fn commit_raw(&self, op: &str, writes: Vec<FileWrite>) -> Result<()> {
        journal::commit(&self.agents, op, writes).map_err(|source| QueueError::Io {
            path: self.agents.clone(),
            source,
        })
    }

    /// Appends a card to the backlog (`add-task`).
    ///
    /// The card is appended (journaled with the backlog's length, so a torn
    /// append is replaced on replay); the backlog is streamed once to refuse
    /// a duplicate id (a card's view is built only when its text may hold
    /// the id), never held in memory or rewritten.
    pub fn add(&self, card: Card) -> Result<Card> {
        let _lock = self.lock()?;
        let (_, active) = self.read_active()?;
        let path = Layout::of(&self.agents).rel(BACKLOG);
        let (mut maybe, mut queued, mut blank) = (false, false, true);
        let io = |source| QueueError::Io {
            path: path.clone(),
            source,
        };
        // Whole blocks of text are searched for the id first; cards are
        // built only when one may hold it.
        super::stream::chunks(&path, STORE_LIMIT, |_, text| {
            blank &= text.trim().is_empty();
            maybe = super::cards::may_hold_id(text, &card.id);
            if maybe {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        })
        .map_err(io)?;
        if maybe {
            super::stream::cards(&path, STORE_LIMIT, |_, item| {
                queued =
                    matches!(item, super::stream::Item::Card(c) if c.view().task_id == card.id);
                if queued {
                    std::ops::ControlFlow::Break(())
                } else {
                    std::ops::ControlFlow::Continue(())
                }
            })
            .map_err(io)?;
        }
        if queued || active.as_ref().is_some_and(|a| a.id == card.id) {
            return Err(QueueError::Invalid(format!(
                "task id `{}` is already queued; use another title or add a `**Task-ID:**` field",
                card.id
            )));
        }
        // A blank backlog is replaced by the preamble and the card.
        let (base_len, separator) = match self.append_point(BACKLOG)? {
            (len, _) if len > 0 && blank => (0, format!("{}\n\n", default_preamble(BACKLOG))),
            point => point,
        };
        let before = self.backlog_sig().and_then(|sig| self.known_depth(sig));
        self.commit_raw(
            "add_task",
            vec![FileWrite::Append {
                path: BACKLOG.into(),
                contents: format!("{separator}{}\n", card.raw),
                base_len,
            }],
        )?;
        // One card more than the file before, when that was counted.
        if let (Some(count), Some(sig)) = (before, self.backlog_sig()) {
            self.remember_depth(
                sig,
                Count {
                    depth: count.depth + 1,
                    ..count
                },
            );
        }
        Ok(card)
    }

    /// The active card, promoting the first backlog card if none is active.
    /// Returns the card and whether it was promoted now.
    pub fn active_or_promote(&self) -> Result<Option<(Card, bool)>> {
        let lock = self.lock()?;
        let (mut active_store, active) = self.read_active()?;
        if let Some(card) = active {
            return Ok(Some((card, false)));
        }
        // Only the first card is read; the rest of the backlog is copied by
        // the kernel, and the journal records the card, not the backlog.
        let Some(head) = self.backlog_first()? else {
            return Ok(None);
        };
        active_store.cards = vec![head.card.clone()];
        let writes = vec![
            FileWrite::replace(ACTIVE, active_store.render()),
            FileWrite::Cut {
                path: BACKLOG.into(),
                at: head.at,
                bytes: head.bytes,
            },
        ];
        // The card is active once the journal and tasks.md are written.
        // Cutting it out of the backlog copies and syncs the rest of the
        // file, which grows with the backlog: that happens on its own
        // thread while the task starts, holding the lock (readers wait for
        // it) with the journal in place (a crash replays it), and counts
        // the backlog for the report at the end of the run.
        let io = |source| QueueError::Io {
            path: self.agents.clone(),
            source,
        };
        let tail = journal::commit_then(&self.agents, "promote_next", writes, 1).map_err(io)?;
        let queue = Queue {
            agents: self.agents.clone(),
            settle: true,
            background: Mutex::new(None),
            memo: self.memo.clone(),
        };
        let cut = std::thread::spawn(move || {
            let _lock = lock;
            // One card fewer than the file before, when that was counted.
            let before = queue.backlog_sig().and_then(|sig| queue.known_depth(sig));
            tail.finish().map_err(|source| QueueError::Io {
                path: queue.agents.clone(),
                source,
            })?;
            // The cut stops at a heading without a title, which stays.
            let count = match before {
                Some(c) => Count {
                    depth: c.depth.saturating_sub(1),
                    ..c
                },
                None => {
                    let (depth, untitled) = queue.count_headings()?;
                    Count {
                        depth,
                        untitled: untitled.len(),
                    }
                }
            };
            if let Some(sig) = queue.backlog_sig() {
                queue.remember_depth(sig, count);
            }
            Ok(())
        });
        *self.background.lock().unwrap_or_else(|p| p.into_inner()) = Some(cut);
        Ok(Some((head.card, true)))
    }

    /// The backlog's first card with its byte span (heading to the next
    /// card's heading), reading only as far as that next heading.
    fn backlog_first(&self) -> Result<Option<Head>> {
        use std::io::Read;
        let path = Layout::of(&self.agents).rel(BACKLOG);
        let io = |source| QueueError::Io {
            path: path.clone(),
            source,
        };
        let file = match super::safe::open_regular(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let mut reader = file.take(STORE_LIMIT);
        let mut buf = Vec::new();
        let mut want = 64 << 10;
        loop {
            let got = (&mut reader).take(want).read_to_end(&mut buf).map_err(io)?;
            let eof = (got as u64) < want;
            // Only the first card must be UTF-8 (a chunk may also end
            // inside a character); a bad byte further on is reported when
            // its card is reached.
            let (text, bad_at) = match std::str::from_utf8(&buf) {
                Ok(t) => (t, None),
                Err(e) => {
                    let valid = std::str::from_utf8(&buf[..e.valid_up_to()]).expect("valid prefix");
                    let bad = (eof || e.error_len().is_some()).then_some(e.valid_up_to());
                    (valid, bad)
                }
            };
            let span = super::cards::first_span(text);
            if let Some((start, end, closed)) = span {
                if closed || (eof && bad_at.is_none()) {
                    let bytes = &text[start..end];
                    return Ok(Some(Head {
                        card: super::cards::scan(bytes).1[0].to_card(),
                        at: start as u64,
                        bytes: bytes.to_string(),
                    }));
                }
            }
            match bad_at {
                Some(at) => {
                    return Err(io(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("not UTF-8 (first bad byte at offset {at})"),
                    )))
                }
                None if eof => return Ok(None),
                None => want *= 2,
            }
        }
    }

    /// Moves the active card `id` to the archive.
    pub fn archive_active(&self, id: &str) -> Result<Card> {
        let _lock = self.lock()?;
        let (mut active_store, active) = self.read_active()?;
        let card = match active {
            Some(c) if c.id == id => c,
            Some(c) => {
                return Err(QueueError::Invalid(format!(
                    "cannot archive `{id}`: the active task is `{}`",
                    c.id
                )))
            }
            None => {
                // A resumed run may archive again after a crash: a no-op.
                if let Some(c) = self
                    .read_store(ARCHIVE)?
                    .cards
                    .into_iter()
                    .find(|c| c.id == id)
                {
                    return Ok(c);
                }
                return Err(QueueError::Invalid(format!(
                    "cannot archive `{id}`: no task is active"
                )));
            }
        };
        // The archive only grows: append the card instead of rewriting the
        // whole file (it holds every task ever finished).
        let (base_len, separator) = self.append_point(ARCHIVE)?;
        active_store.cards.clear();
        self.commit_raw(
            "archive_task",
            vec![
                FileWrite::Append {
                    path: ARCHIVE.into(),
                    contents: format!("{separator}{}\n", card.raw),
                    base_len,
                },
                FileWrite::replace(ACTIVE, active_store.render()),
            ],
        )?;
        Ok(card)
    }

    /// Where a card is appended to store `name`, and what must go before it
    /// so that the file reads as `render` would write it; reads only the
    /// file's last two bytes.
    fn append_point(&self, name: &str) -> Result<(u64, String)> {
        use std::io::{Read, Seek, SeekFrom};
        let path = Layout::of(&self.agents).rel(name);
        let io = |source| QueueError::Io {
            path: path.clone(),
            source,
        };
        let mut file = match super::safe::open_regular(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((0, format!("{}\n\n", default_preamble(name))))
            }
            Err(e) => return Err(io(e)),
        };
        let len = file.metadata().map_err(io)?.len();
        let mut tail = Vec::with_capacity(2);
        file.seek(SeekFrom::Start(len.saturating_sub(2)))
            .map_err(io)?;
        file.read_to_end(&mut tail).map_err(io)?;
        let separator = match tail.as_slice() {
            [] | [.., b'\n', b'\n'] => "",
            [.., b'\n'] => "\n",
            _ => "\n\n",
        };
        Ok((len, separator.to_string()))
    }

    /// Rewrites the backlog in the given order, refusing as v0.2.0 does
    /// (its checks in its order, its messages).
    pub fn reorder(&self, ids: &[String]) -> Result<Vec<Card>> {
        let invalid = |m: String| Err(QueueError::Invalid(m));
        if ids.is_empty() {
            return invalid("queue reorder requires at least one backlog task id".into());
        }
        let seen: std::collections::BTreeSet<&str> = ids.iter().map(String::as_str).collect();
        if seen.len() != ids.len() {
            return invalid("queue reorder does not allow duplicate task ids".into());
        }
        let _lock = self.lock()?;
        let mut backlog = self.read_store(BACKLOG)?;
        if ids.len() != backlog.cards.len() {
            return invalid(
                "queue reorder must specify the full backlog order exactly once".into(),
            );
        }
        let known: std::collections::BTreeSet<&str> =
            backlog.cards.iter().map(|c| c.id.as_str()).collect();
        let unknown: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|i| !known.contains(i))
            .collect();
        let missing: Vec<&str> = backlog
            .cards
            .iter()
            .map(|c| c.id.as_str())
            .filter(|k| !seen.contains(k))
            .collect();
        if !unknown.is_empty() || !missing.is_empty() {
            let mut details = Vec::new();
            if !unknown.is_empty() {
                details.push(format!("unknown={}", unknown.join(",")));
            }
            if !missing.is_empty() {
                details.push(format!("missing={}", missing.join(",")));
            }
            return invalid(format!("queue reorder id mismatch: {}", details.join(" ")));
        }
        let mut by_id: std::collections::HashMap<String, Card> =
            backlog.cards.drain(..).map(|c| (c.id.clone(), c)).collect();
        backlog.cards = ids
            .iter()
            .map(|i| by_id.remove(i).expect("validated"))
            .collect();
        self.commit("queue_reorder", vec![(BACKLOG, backlog.render())])?;
        Ok(backlog.cards)
    }
}
