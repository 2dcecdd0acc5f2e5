//! Redo journal for multi-file queue mutations.
//!
//! Moving a card between stores changes two or more files. Each change is
//! atomic, but a crash between them would leave the card in both stores or
//! in none. So a mutation first records every change it will make in one
//! journal file (atomically): small files whole, and for the large stores
//! only the intent (append these bytes at this length, cut this card out at
//! this offset). Then it applies them and deletes the journal. Whoever takes
//! the queue lock next finds a leftover journal and re-applies it: every
//! change is idempotent, and after it every card is in exactly one store.

use crate::defs::layout::Layout;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic;

/// One file's change, recorded so that applying it twice is the same as
/// applying it once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FileWrite {
    /// The file's whole new contents, or `None` to delete it.
    Replace {
        /// Path relative to the agents directory.
        path: String,
        contents: Option<String>,
    },
    /// `contents` appended at byte `base_len`, the file's length before the
    /// append. A replay truncates back to it first, so a torn append (a
    /// crash or a full disk mid-write) is replaced, never followed by a
    /// second copy; a file that already ends with it is left alone.
    Append {
        path: String,
        contents: String,
        base_len: u64,
    },
    /// `bytes` cut out of the file at byte `at`, if they are still there (a
    /// replay after the cut finds the next card there instead and changes
    /// nothing). The journal holds the card moved, not the store it leaves.
    Cut {
        path: String,
        at: u64,
        bytes: String,
    },
}

impl FileWrite {
    pub fn replace(path: &str, contents: String) -> FileWrite {
        FileWrite::Replace {
            path: path.to_string(),
            contents: Some(contents),
        }
    }

    fn path(&self) -> &str {
        match self {
            FileWrite::Replace { path, .. }
            | FileWrite::Append { path, .. }
            | FileWrite::Cut { path, .. } => path,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    op: String,
    written_at: String,
    writes: Vec<FileWrite>,
}

pub fn journal_path(agents: &Path) -> PathBuf {
    Layout::of(agents).queue_journal()
}

/// Applies `writes` as one crash-atomic transaction. Caller holds the lock.
pub fn commit(agents: &Path, op: &str, writes: Vec<FileWrite>) -> io::Result<()> {
    if let [FileWrite::Replace { .. }] = writes.as_slice() {
        // One atomic rename needs no journal.
        apply_all(agents, &writes)?;
        note(agents, &writes);
        return Ok(());
    }
    let n = writes.len();
    commit_then(agents, op, writes, n)?.finish()
}

/// Journals `writes` and applies the first `now` of them; the rest are
/// applied by [`Tail::finish`], which may run on another thread. Until it
/// has, the journal stays, so a crash in between (or a failed finish)
/// replays them at the next lock. Caller holds the lock until `finish`.
pub fn commit_then(
    agents: &Path,
    op: &str,
    mut writes: Vec<FileWrite>,
    now: usize,
) -> io::Result<Tail> {
    let entry = Entry {
        op: op.to_string(),
        written_at: crate::defs::clock::now_iso(),
        writes,
    };
    let path = journal_path(agents);
    atomic::write(
        &path,
        serde_json::to_string(&entry)
            .expect("journal serialises")
            .as_bytes(),
    )?;
    #[cfg(test)]
    if CRASH_AFTER_JOURNAL.with(|c| c.get()) {
        return Err(io::Error::other("simulated crash after journal"));
    }
    writes = entry.writes;
    if let Err(e) = super::failpoint::hit("journal.written") {
        return Err(settle(agents, &writes, e));
    }
    let rest_at = now.min(writes.len());
    // Directories are synced once, by `finish`: the journal covers these
    // writes until then.
    if let Err(e) = apply_each(agents, &writes[..rest_at]) {
        return Err(settle(agents, &writes, e));
    }
    let rest = writes.split_off(rest_at);
    Ok(Tail {
        agents: agents.to_path_buf(),
        done: writes,
        rest,
    })
}

/// The part of a journaled commit still to apply (see [`commit_then`]).
pub struct Tail {
    agents: PathBuf,
    done: Vec<FileWrite>,
    rest: Vec<FileWrite>,
}

impl Tail {
    /// Applies the remaining writes, syncs every touched directory once,
    /// and removes the journal.
    pub fn finish(self) -> io::Result<()> {
        let finished = apply_each(&self.agents, &self.rest)
            .and_then(|()| sync_dirs(&self.agents, self.done.iter().chain(&self.rest)))
            .and_then(|()| super::failpoint::hit("journal.applied"))
            .and_then(|()| std::fs::remove_file(journal_path(&self.agents)));
        note(&self.agents, self.done.iter().chain(&self.rest));
        finished.map_err(completes_later)
    }
}

/// After a journaled mutation failed part-way: undoes it when it can, so
/// that a reported failure means nothing changed (a transaction of appends
/// is truncated back to where each began, and its journal removed);
/// otherwise the journal stays and the error says plainly that the change
/// completes at the next queue operation. Caller holds the lock.
fn settle(agents: &Path, writes: &[FileWrite], e: io::Error) -> io::Error {
    let appends_only = writes.iter().all(|w| matches!(w, FileWrite::Append { .. }));
    let undone = appends_only
        && writes
            .iter()
            .try_for_each(|w| undo_append(agents, w))
            .is_ok()
        && sync_dirs(agents, writes).is_ok()
        && std::fs::remove_file(journal_path(agents)).is_ok();
    note(agents, writes);
    if undone {
        io::Error::new(e.kind(), format!("{e} (nothing was changed)"))
    } else {
        completes_later(e)
    }
}

/// `e`, saying that the journal completes the change later.
fn completes_later(e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("{e}; the change is journaled and completes at the next queue operation (any `millrace queue` or `start` applies it)"),
    )
}

/// Truncates an appended file back to its length before the append (a
/// file not longer than that is left alone).
fn undo_append(agents: &Path, w: &FileWrite) -> io::Result<()> {
    let FileWrite::Append { path, base_len, .. } = w else {
        return Ok(());
    };
    let path = Layout::of(agents).rel(path);
    let file = match std::fs::OpenOptions::new().write(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if file.metadata()?.len() > *base_len {
        file.set_len(*base_len)?;
        file.sync_all()?;
    }
    Ok(())
}

/// Applies every write, then syncs each touched directory once; only then
/// may the journal go (a lost deletion just replays idempotent writes).
fn apply_all(agents: &Path, writes: &[FileWrite]) -> io::Result<()> {
    apply_each(agents, writes)?;
    sync_dirs(agents, writes)
}

fn apply_each(agents: &Path, writes: &[FileWrite]) -> io::Result<()> {
    writes.iter().try_for_each(|w| {
        super::failpoint::hit("journal.apply")?;
        apply(agents, w)
    })
}

fn sync_dirs<'a>(agents: &Path, writes: impl IntoIterator<Item = &'a FileWrite>) -> io::Result<()> {
    let dirs: std::collections::BTreeSet<PathBuf> = writes
        .into_iter()
        .filter_map(|w| {
            Layout::of(agents)
                .rel(w.path())
                .parent()
                .map(Path::to_path_buf)
        })
        .collect();
    dirs.iter().try_for_each(|d| atomic::sync_dir(d))
}

/// A journal path: relative to `agents/`, plain components only.
fn confined(rel: &str) -> bool {
    let p = Path::new(rel);
    !rel.is_empty()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// Notes what a mutation wrote as millrace's own (see [`super::guard`]).
fn note<'a>(agents: &Path, writes: impl IntoIterator<Item = &'a FileWrite>) {
    super::guard::note_paths(agents, writes.into_iter().map(FileWrite::path));
}

/// Re-applies a journal left by a crashed mutation. Caller holds the lock.
/// Returns the operation name when something was recovered.
pub fn recover(agents: &Path) -> io::Result<Option<String>> {
    let path = journal_path(agents);
    let text = match super::safe::read_text_nofollow(&path, 1 << 30) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let entry: Entry = serde_json::from_str(&text).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })?;
    // A journal is ours, but the file is in a directory a stage can write:
    // it never writes outside `agents/` (nor through `..`).
    if let Some(w) = entry.writes.iter().find(|w| !confined(w.path())) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: names `{}`, outside agents/; refused without applying anything (check and remove the journal)",
                path.display(),
                w.path()
            ),
        ));
    }
    apply_all(agents, &entry.writes)?;
    std::fs::remove_file(&path)?;
    note(agents, &entry.writes);
    tracing::warn!(op = %entry.op, "recovered an interrupted queue mutation from the journal");
    Ok(Some(entry.op))
}

pub fn pending(agents: &Path) -> bool {
    journal_path(agents).exists()
}

fn apply(agents: &Path, w: &FileWrite) -> io::Result<()> {
    let path = Layout::of(agents).rel(w.path());
    match w {
        FileWrite::Append {
            contents, base_len, ..
        } => atomic::append_at(&path, *base_len, contents.as_bytes()),
        FileWrite::Cut { at, bytes, .. } => atomic::cut(&path, *at, bytes.as_bytes()).map(drop),
        FileWrite::Replace {
            contents: Some(text),
            ..
        } => atomic::write_file_synced(&path, text.as_bytes()),
        FileWrite::Replace { contents: None, .. } => match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    }
}

#[cfg(test)]
thread_local! {
    pub static CRASH_AFTER_JOURNAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_naming_a_path_outside_agents_is_refused_unapplied() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("agents");
        std::fs::create_dir_all(a.join(".runtime")).unwrap();
        let forged = serde_json::json!({
            "op": "forged", "written_at": "t",
            "writes": [{"kind": "append", "path": "../victim", "contents": "x", "base_len": 0}]
        });
        std::fs::write(journal_path(&a), forged.to_string()).unwrap();
        let e = recover(&a).unwrap_err();
        assert!(e.to_string().contains("outside agents/"), "{e}");
        assert!(!dir.path().join("victim").exists());
        assert!(pending(&a), "the journal stays for the operator");
    }

    #[test]
    fn a_crash_after_the_journal_is_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path();
        std::fs::write(a.join("from.md"), "card").unwrap();
        let writes = vec![
            FileWrite::Append {
                path: "to.md".into(),
                contents: "card".into(),
                base_len: 0,
            },
            FileWrite::Cut {
                path: "from.md".into(),
                at: 0,
                bytes: "card".into(),
            },
        ];
        CRASH_AFTER_JOURNAL.with(|c| c.set(true));
        assert!(commit(a, "move", writes).is_err());
        CRASH_AFTER_JOURNAL.with(|c| c.set(false));
        assert_eq!(std::fs::read_to_string(a.join("from.md")).unwrap(), "card");
        assert!(pending(a));
        let journal = std::fs::read(journal_path(a)).unwrap();
        assert_eq!(recover(a).unwrap().as_deref(), Some("move"));
        assert_eq!(std::fs::read_to_string(a.join("to.md")).unwrap(), "card");
        assert_eq!(std::fs::read_to_string(a.join("from.md")).unwrap(), "");
        assert!(!pending(a));
        assert_eq!(recover(a).unwrap(), None);
        // a crash after applying but before the journal was removed: replay
        std::fs::write(journal_path(a), journal).unwrap();
        recover(a).unwrap();
        assert_eq!(
            std::fs::read_to_string(a.join("to.md")).unwrap(),
            "card",
            "append is idempotent"
        );
    }
}
