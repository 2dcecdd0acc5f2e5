//! One owner per workspace: `agents/.locks/engine.lock` (an OS lock plus a
//! pid/host/start-time record). A second `start` refuses while the owner
//! lives; the lock of a dead owner is reclaimed.

use crate::defs::layout::Layout;
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
    if let Some(dead) = &l.reclaimed_from {
        tracing::warn!(pid = dead.pid, purpose = %dead.purpose, "reclaimed the workspace lock of a dead process");
    }
    Ok(l)
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
