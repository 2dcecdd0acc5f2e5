//! One owner per workspace: `agents/.locks/engine.lock` (an OS lock plus a
//! pid/host/start-time record). A second `start` refuses while the owner
//! lives; the lock of a dead owner is reclaimed.

use crate::defs::layout::{Layout, MailboxDir};
use std::path::PathBuf;

use crate::store::lock::{self, FileLock, LockError, OwnerPurpose};
use crate::store::workspace::Workspace;

use super::EngineError;

pub fn lock_path(ws: &Workspace) -> PathBuf {
    Layout::of(&ws.agents).engine_lock()
}

/// Takes ownership of the workspace or reports the live owner.
pub fn own(ws: &Workspace, purpose: OwnerPurpose) -> Result<FileLock, EngineError> {
    let l = FileLock::try_acquire(&lock_path(ws), purpose).map_err(|e| match e {
        LockError::Held { owner, .. } => EngineError::Busy(owner),
        other => EngineError::Lock(other),
    })?;
    // A stage whose runtime was killed may still run: it is ours to end.
    if let Some(pgid) =
        crate::runner::process::sweep_recorded_group(&Layout::of(&ws.agents).stage_group())
    {
        tracing::warn!(pgid, "ended the stage processes a dead runtime left behind");
    }
    sweep_leftovers(ws);
    // A workspace v0.2.0 made lacks some of our directories: made here,
    // where the owner is the only writer.
    for d in crate::defs::layout::DIRS {
        let _ = std::fs::create_dir_all(Layout::of(&ws.agents).rel(d));
    }
    if let Some(dead) = &l.reclaimed_from {
        tracing::warn!(pid = dead.pid, purpose = %dead.purpose, "reclaimed the workspace lock of a dead process");
    }
    Ok(l)
}

/// Removes what crashed writers left: temp files of atomic writes older
/// than a minute (a younger one may belong to a writer still at work, such
/// as a concurrent `add-task`) and run directories that never got their
/// frozen plan (a crash inside run creation). Under the engine lock.
/// Whether `dir` is a real directory holding nothing but atomic-write temp
/// files (`.millrace-*.tmp`) of its own.
fn holds_only_temp_files(dir: &std::path::Path) -> bool {
    let is_dir = std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir());
    is_dir
        && std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().all(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                e.file_type().is_ok_and(|t| t.is_file())
                    && name.starts_with(".millrace-")
                    && name.ends_with(".tmp")
            })
        })
}

fn sweep_leftovers(ws: &Workspace) {
    let layout = Layout::of(&ws.agents);
    // Ages by the file system's clock, which stamped the files.
    let Some(clock) = crate::store::safe::FsClock::of(&ws.agents) else {
        return;
    };
    let old = |p: &std::path::Path| {
        clock
            .age(p)
            .is_some_and(|age| age > std::time::Duration::from_secs(60))
    };
    let mut dirs = vec![
        ws.agents.clone(),
        layout.runtime_dir(),
        layout
            .compiled_plan()
            .parent()
            .map(Into::into)
            .unwrap_or_default(),
        layout.ideas_raw(),
    ];
    dirs.extend(
        [
            MailboxDir::Incoming,
            MailboxDir::Processed,
            MailboxDir::Failed,
        ]
        .map(|d| layout.mailbox(d)),
    );
    let active = crate::store::runs::active(&ws.agents)
        .ok()
        .flatten()
        .map(|a| a.run_id);
    if let Ok(entries) = std::fs::read_dir(layout.runs_dir()) {
        for e in entries.flatten() {
            let run = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            // Only what millrace itself left and can prove empty goes: a
            // run directory holding nothing but our own temp files. One
            // with records in it (a v0.2.0 run, a half-made run of ours)
            // is kept, whatever it lacks.
            if !run.join(crate::store::runs::PLAN).exists()
                && Some(&name) != active.as_ref()
                && old(&run)
                && holds_only_temp_files(&run)
            {
                tracing::info!(run = %name, "removing an empty run directory left without its plan");
                let _ = std::fs::remove_dir_all(&run);
            } else {
                dirs.push(run);
            }
        }
    }
    match crate::store::runs::close_abandoned(&ws.agents) {
        Ok(closed) => {
            for run in closed {
                tracing::warn!(run = %run, "closed a run that never became active (abandoned)");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not close abandoned runs"),
    }
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".millrace-") && name.ends_with(".tmp") && old(&e.path()) {
                tracing::info!(file = %e.path().display(), "removing a temp file left by a crash");
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// The live owner, if any process owns the workspace now.
pub fn live_owner(ws: &Workspace) -> Option<lock::Owner> {
    let path = lock_path(ws);
    lock::is_held(&path)
        .then(|| lock::read_owner(&path))
        .flatten()
}

/// Whether a live process owns the workspace.
pub fn is_owned(ws: &Workspace) -> bool {
    lock::is_held(&lock_path(ws))
}
