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
    let watched = [
        (paths.agents.clone(), RecursiveMode::NonRecursive),
        (paths.incoming.clone(), RecursiveMode::NonRecursive),
        (paths.ideas.clone(), RecursiveMode::NonRecursive),
        (paths.audit.clone(), RecursiveMode::NonRecursive),
        (paths.registry.clone(), RecursiveMode::Recursive),
        (paths.prompts.clone(), RecursiveMode::Recursive),
        (
            paths
                .config
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            RecursiveMode::NonRecursive,
        ),
    ];
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
