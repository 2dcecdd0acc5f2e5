//! The runtime's own files, guarded against the stage that runs: before a
//! stage starts, the identity (device, inode, size, mtime, ctime) of every
//! file that steers the runtime is recorded; after it, a file that changed,
//! appeared or went away is a change the stage made (the `tamper` class),
//! unless millrace wrote it itself.
//!
//! The guarded set: `millrace.toml`, the task stores, the publish manifest,
//! `agents/registry/` (overlays and prompts), `agents/prompts/`, the
//! v0.2.0 prompts `agents/_*.md`, `agents/.runtime/` (but the files the
//! engine itself rewrites while a stage runs and the command mailbox), and
//! the staging repository's `.git/config` and `.git/hooks/`.
//!
//! The ctime is set by the kernel on every write and cannot be set back, so
//! a write that restores size and mtime is still seen. Millrace's own
//! writes are excepted by identity: a journaled queue mutation notes the
//! identities of the files it wrote in `.runtime/own_writes.log`, and a
//! `config set` by this process notes `millrace.toml` in memory only (a
//! note in a file an agent can write could excuse its own edit of the
//! config; for the stores, such a forgery can only add cards, which run
//! inside a stage like any other).

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::defs::layout::{Layout, TaskStore};

/// A file's identity: what any write changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ident {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Ident {
    fn of(meta: &std::fs::Metadata) -> Ident {
        Ident {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        }
    }

    fn text(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}",
            self.dev, self.ino, self.size, self.mtime_ns, self.ctime_ns
        )
    }
}

/// Files under `.runtime/` the engine rewrites while a stage runs.
const RUNTIME_CHURN: &[&str] = &[
    "state.json",
    "state_millrace.json",
    "backlog_depth.json",
    "stage_group",
    "notify_cursor.json",
    "last_run",
    "spend_day.json",
    "own_writes.log",
    "commands",
    "starting",
];

/// Where the guarded files are.
#[derive(Debug, Clone)]
pub struct GuardSet {
    pub config_path: PathBuf,
    pub root: PathBuf,
    pub agents: PathBuf,
}

/// What changed, by path, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: PathBuf,
    /// `changed`, `created` or `removed`.
    pub what: &'static str,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.path.display(), self.what)
    }
}

/// The guarded files' identities at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Keyed by the path's bytes (comparing `Path`s component by component
    /// cost more than the stats).
    files: HashMap<OsString, Ident>,
    /// Length of the own-writes log when taken.
    log_len: u64,
}

static OWN_CONFIG: Mutex<Vec<(PathBuf, Ident)>> = Mutex::new(Vec::new());

impl GuardSet {
    /// Every guarded file that exists now, with its identity.
    fn identities(&self) -> HashMap<OsString, Ident> {
        let mut out = HashMap::with_capacity(256);
        let mut add = |p: PathBuf| {
            if is_temp(&p) {
                return;
            }
            if let Ok(m) = std::fs::symlink_metadata(&p) {
                if !m.is_dir() {
                    out.insert(p.into_os_string(), Ident::of(&m));
                }
            }
        };
        add(self.config_path.clone());
        let layout = Layout::of(&self.agents);
        for store in TaskStore::ALL {
            add(layout.store(store));
        }
        add(self.agents.join("staging_manifest.yml"));
        if let Ok(entries) = std::fs::read_dir(&self.agents) {
            for e in entries.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('_') && name.ends_with(".md") {
                    add(e.path());
                }
            }
        }
        if let Ok(entries) = std::fs::read_dir(layout.runtime_dir()) {
            for e in entries.flatten() {
                let name = e.file_name();
                if !RUNTIME_CHURN.contains(&name.to_string_lossy().as_ref()) {
                    add(e.path());
                }
            }
        }
        let git = self.root.join("staging").join(".git");
        add(git.join("config"));
        let walked = [
            self.agents.join("registry"),
            self.agents.join("prompts"),
            git.join("hooks"),
        ];
        for dir in walked {
            for e in walkdir::WalkDir::new(dir)
                .follow_links(false)
                .max_depth(6)
                .into_iter()
                .flatten()
            {
                // walkdir has the entry's lstat: one stat per file.
                if !e.file_type().is_dir() && !is_temp(e.path()) {
                    if let Ok(m) = e.metadata() {
                        out.insert(e.into_path().into_os_string(), Ident::of(&m));
                    }
                }
            }
        }
        out
    }

    /// The identities now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            files: self.identities(),
            log_len: std::fs::metadata(own_log(&self.agents)).map_or(0, |m| m.len()),
        }
    }

    /// What changed since `before`, but `allowed` paths (the stage's
    /// declared artifacts) and millrace's own writes.
    pub fn changes(&self, before: &Snapshot, allowed: &[PathBuf]) -> Vec<Change> {
        let now = self.identities();
        let own = self.own_since(before.log_len);
        let excused = |p: &PathBuf, id: &Ident| {
            allowed.contains(p)
                || own.contains(&(p.clone(), id.text()))
                || OWN_CONFIG
                    .lock()
                    .map(|o| o.iter().any(|(q, i)| q == p && i == id))
                    .unwrap_or(false)
        };
        let mut out = Vec::new();
        for (p, id) in &now {
            let path = PathBuf::from(p);
            match before.files.get(p) {
                Some(old) if old == id => {}
                _ if excused(&path, id) => {}
                Some(_) => out.push(Change {
                    path,
                    what: "changed",
                }),
                None => out.push(Change {
                    path,
                    what: "created",
                }),
            }
        }
        for p in before.files.keys() {
            let path = PathBuf::from(p);
            let gone = (path.clone(), "-".to_string());
            if !now.contains_key(p) && !allowed.contains(&path) && !own.contains(&gone) {
                out.push(Change {
                    path,
                    what: "removed",
                });
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    /// (path, identity) notes appended to the own-writes log after `from`.
    fn own_since(&self, from: u64) -> BTreeSet<(PathBuf, String)> {
        let text = super::safe::read_text(&own_log(&self.agents), 8 << 20).unwrap_or_default();
        let from = if (from as usize) <= text.len() && text.is_char_boundary(from as usize) {
            from as usize
        } else {
            0
        };
        text[from..]
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(p, id)| (PathBuf::from(p), id.to_string()))
            .collect()
    }
}

/// A temp file of an atomic write in progress (`.millrace-*.tmp`): never
/// read as anything, and here one moment, renamed the next.
fn is_temp(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(".millrace-") && n.ends_with(".tmp"))
}

fn own_log(agents: &Path) -> PathBuf {
    Layout::of(agents).runtime_dir().join("own_writes.log")
}

/// Notes the identities of `paths` (under `agents/`, as a journaled queue
/// mutation just left them) and of the queue journal as millrace's own.
/// Best effort: a note that cannot be written only means a change millrace
/// made is reported.
pub fn note_paths<'a>(agents: &Path, rels: impl IntoIterator<Item = &'a str>) {
    let layout = Layout::of(agents);
    let mut lines = String::new();
    let paths = rels.into_iter().map(|r| layout.rel(r));
    for p in paths.chain([layout.queue_journal()]) {
        // A file the mutation removed (the journal) is noted as gone.
        let id =
            std::fs::symlink_metadata(&p).map_or_else(|_| "-".into(), |m| Ident::of(&m).text());
        lines.push_str(&format!("{}\t{id}\n", p.display()));
    }
    let log = own_log(agents);
    // Kept small: the guard reads only what was noted during one stage.
    if std::fs::metadata(&log).is_ok_and(|m| m.len() > 1 << 20) {
        let _ = std::fs::remove_file(&log);
    }
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(lines.as_bytes()));
}

/// Notes `path`'s identity as written by this process (`config set`).
pub fn note_config(path: &Path) {
    if let (Ok(m), Ok(mut own)) = (std::fs::symlink_metadata(path), OWN_CONFIG.lock()) {
        own.push((path.to_path_buf(), Ident::of(&m)));
        if own.len() > 64 {
            own.remove(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> (tempfile::TempDir, GuardSet) {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_path_buf();
        let agents = root.join("agents");
        std::fs::create_dir_all(agents.join("registry/loops")).unwrap();
        std::fs::create_dir_all(agents.join(".runtime")).unwrap();
        std::fs::write(root.join("millrace.toml"), "x = 1\n").unwrap();
        std::fs::write(agents.join("tasksbacklog.md"), "# Backlog\n").unwrap();
        std::fs::write(agents.join("registry/loops/a.yaml"), "id: a\n").unwrap();
        let g = GuardSet {
            config_path: root.join("millrace.toml"),
            root,
            agents,
        };
        (d, g)
    }

    #[test]
    fn edits_creations_and_removals_are_seen_and_own_writes_are_not() {
        let (_d, g) = set();
        let before = g.snapshot();
        assert!(g.changes(&before, &[]).is_empty());
        std::fs::write(&g.config_path, "x = 2\n").unwrap();
        std::fs::write(g.agents.join("registry/loops/b.yaml"), "id: b\n").unwrap();
        std::fs::remove_file(g.agents.join("registry/loops/a.yaml")).unwrap();
        std::fs::write(g.agents.join(".runtime/queue_journal.json"), "{}").unwrap();
        std::fs::write(g.agents.join(".runtime/state.json"), "{}").unwrap();
        std::fs::write(g.agents.join(".runtime/.millrace-x.tmp"), "").unwrap();
        let seen: Vec<String> = g
            .changes(&before, &[])
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(seen.iter().any(|c| c.ends_with("millrace.toml (changed)")));
        assert!(seen.iter().any(|c| c.ends_with("b.yaml (created)")));
        assert!(seen.iter().any(|c| c.ends_with("a.yaml (removed)")));
        // Millrace's own writes are excused.
        let before = g.snapshot();
        std::fs::write(g.agents.join("tasksbacklog.md"), "# Backlog\n\n## x\n").unwrap();
        note_paths(&g.agents, ["tasksbacklog.md"]);
        std::fs::write(&g.config_path, "x = 3\n").unwrap();
        note_config(&g.config_path);
        assert!(g.changes(&before, &[]).is_empty());
        // A declared artifact is the stage's to write.
        let before = g.snapshot();
        std::fs::write(g.agents.join("registry/loops/b.yaml"), "id: c\n").unwrap();
        let allowed = [g.agents.join("registry/loops/b.yaml")];
        assert!(g.changes(&before, &allowed).is_empty());
    }
}
