//! Redo journal for multi-file queue mutations.
//!
//! Moving a card between stores rewrites two or more files. Each rewrite is
//! atomic, but a crash between them would leave the card in both stores or
//! in none. So a mutation first writes the complete new contents of every
//! file it touches into one journal file (atomically), then applies them,
//! then deletes the journal. Whoever takes the queue lock next finds a
//! leftover journal and re-applies it: applying is idempotent, and after it
//! every card is in exactly one store.

use crate::defs::layout::Layout;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic;

/// One file's new state: its contents, or `None` to delete it. With
/// `append`, `contents` is appended unless the file already ends with it
/// (so large append-only stores are not rewritten, and a replay after a
/// crash does not append twice).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FileWrite {
    /// Path relative to the agents directory.
    pub path: String,
    pub contents: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub append: bool,
    /// With `append`: the file's length before the append. A replay
    /// truncates back to it first, so a torn append (a crash or a full disk
    /// mid-write) is replaced, never followed by a second copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_len: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
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
    if writes.len() == 1 && !writes[0].append {
        // One atomic rename needs no journal.
        return apply_all(agents, &writes);
    }
    let entry = Entry {
        op: op.to_string(),
        written_at: super::time::now_iso(),
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
    super::failpoint::hit("journal.written")?;
    apply_all(agents, &entry.writes)?;
    super::failpoint::hit("journal.applied")?;
    std::fs::remove_file(&path)
}

/// Applies every write, then syncs each touched directory once; only then
/// may the journal go (a lost deletion just replays idempotent writes).
fn apply_all(agents: &Path, writes: &[FileWrite]) -> io::Result<()> {
    let mut dirs = std::collections::BTreeSet::new();
    for w in writes {
        super::failpoint::hit("journal.apply")?;
        apply(agents, w)?;
        if let Some(d) = Layout::of(agents).rel(&w.path).parent() {
            dirs.insert(d.to_path_buf());
        }
    }
    dirs.iter().try_for_each(|d| atomic::sync_dir(d))
}

/// Re-applies a journal left by a crashed mutation. Caller holds the lock.
/// Returns the operation name when something was recovered.
pub fn recover(agents: &Path) -> io::Result<Option<String>> {
    let path = journal_path(agents);
    let text = match super::safe::read_text(&path, 1 << 30) {
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
    apply_all(agents, &entry.writes)?;
    std::fs::remove_file(&path)?;
    tracing::warn!(op = %entry.op, "recovered an interrupted queue mutation from the journal");
    Ok(Some(entry.op))
}

pub fn pending(agents: &Path) -> bool {
    journal_path(agents).exists()
}

fn apply(agents: &Path, w: &FileWrite) -> io::Result<()> {
    let path = Layout::of(agents).rel(&w.path);
    match &w.contents {
        Some(text) if w.append => match w.base_len {
            Some(base) => atomic::append_at(&path, base, text.as_bytes()),
            None => atomic::append_once(&path, text.as_bytes()),
        },
        Some(text) => atomic::write_file_synced(&path, text.as_bytes()),
        None => match std::fs::remove_file(&path) {
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
    fn a_crash_after_the_journal_is_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path();
        std::fs::write(a.join("from.md"), "card").unwrap();
        let writes = vec![
            FileWrite {
                path: "to.md".into(),
                contents: Some("card".into()),
                append: true,
                base_len: None,
            },
            FileWrite {
                path: "from.md".into(),
                contents: Some(String::new()),
                append: false,
                base_len: None,
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
