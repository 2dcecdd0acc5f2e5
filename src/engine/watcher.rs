//! File watching for the daemon (notify/inotify). Only the paths an operator
//! or another process changes are watched, so the runtime's own writes
//! (status files, events, runs) do not wake it: the backlog store, the
//! mailbox, raw ideas, audit requests, overlays and prompts,
//! `millrace.toml`, and the `STOP_AUTONOMY` / `AUTONOMY_COMPLETE` marker
//! files.

use crate::defs::layout::{Layout, StopMarker};
use std::path::{Path, PathBuf};

use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::UnboundedSender;

use crate::store::workspace::Workspace;

/// Why the daemon was woken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    Mailbox,
    Backlog,
    /// `millrace.toml`, an overlay or a prompt changed: recompile at the
    /// next run boundary.
    Inputs,
    Idea(PathBuf),
    /// A file in `ideas/audit/incoming/`: an operator asks for an audit.
    AuditRequest,
    /// `STOP_AUTONOMY` or `AUTONOMY_COMPLETE` appeared.
    Marker(StopMarker),
}

/// Keeps the OS watches alive; dropping it stops watching.
pub struct FileWatcher {
    _inner: RecommendedWatcher,
}

struct Paths {
    agents: PathBuf,
    incoming: PathBuf,
    ideas: PathBuf,
    audit: PathBuf,
    registry: PathBuf,
    prompts: PathBuf,
    config: PathBuf,
}

impl Paths {
    fn classify(&self, p: &Path) -> Option<Wake> {
        let name = p.file_name()?.to_str()?;
        let parent = p.parent()?;
        if name.starts_with('.') {
            return None; // temp files of atomic writes
        }
        if parent == self.incoming {
            return Some(Wake::Mailbox);
        }
        if parent == self.ideas {
            return Some(Wake::Idea(p.to_path_buf()));
        }
        if parent == self.audit {
            return Some(Wake::AuditRequest);
        }
        if p == self.config || p.starts_with(&self.registry) || p.starts_with(&self.prompts) {
            return Some(Wake::Inputs);
        }
        if parent == self.agents {
            if name == crate::store::queue::BACKLOG {
                return Some(Wake::Backlog);
            }
            if let Some(m) = StopMarker::ALL.into_iter().find(|m| m.file_name() == name) {
                return Some(Wake::Marker(m));
            }
        }
        None
    }
}

pub fn start(ws: &Workspace, tx: UnboundedSender<Wake>) -> notify::Result<FileWatcher> {
    let layout = Layout::of(&ws.agents);
    let paths = Paths {
        agents: ws.agents.clone(),
        incoming: crate::engine::mailbox::incoming_dir(&ws.agents),
        ideas: layout.ideas_raw(),
        audit: layout.rel(crate::defs::layout::AUDIT_INCOMING),
        registry: layout.registry(),
        prompts: layout.prompts(),
        config: ws.config_path.clone(),
    };
    for d in [
        &paths.incoming,
        &paths.ideas,
        &paths.audit,
        &paths.registry,
        &paths.prompts,
    ] {
        let _ = std::fs::create_dir_all(d);
    }
    // `[watchers] roots` chooses what is watched (v0.2.0's names); the
    // registry, the prompts and the audit intake live under `agents`.
    use crate::defs::config::WatchRoot;
    let roots = &ws.config.watchers.roots;
    let config_dir = paths
        .config
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let watched: Vec<(PathBuf, RecursiveMode)> = [
        (
            WatchRoot::Agents,
            paths.agents.clone(),
            RecursiveMode::NonRecursive,
        ),
        (
            WatchRoot::CommandsIncoming,
            paths.incoming.clone(),
            RecursiveMode::NonRecursive,
        ),
        (
            WatchRoot::IdeasRaw,
            paths.ideas.clone(),
            RecursiveMode::NonRecursive,
        ),
        (
            WatchRoot::Agents,
            paths.audit.clone(),
            RecursiveMode::NonRecursive,
        ),
        (
            WatchRoot::Agents,
            paths.registry.clone(),
            RecursiveMode::Recursive,
        ),
        (
            WatchRoot::Agents,
            paths.prompts.clone(),
            RecursiveMode::Recursive,
        ),
        (
            WatchRoot::ConfigFile,
            config_dir,
            RecursiveMode::NonRecursive,
        ),
    ]
    .into_iter()
    .filter(|(root, _, _)| roots.contains(root))
    .map(|(_, dir, mode)| (dir, mode))
    .collect();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<Event>| {
        let Ok(event) = res else { return };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        for p in &event.paths {
            if let Some(w) = paths.classify(p) {
                let _ = tx.send(w);
            }
        }
    })?;
    for (dir, mode) in watched {
        watcher.watch(&dir, mode)?;
    }
    Ok(FileWatcher { _inner: watcher })
}
