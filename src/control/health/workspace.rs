//! Health's checks of the workspace's own files: what `init` creates (a
//! workspace v0.2.0 made lacks some; they warn), the status files, and the
//! mailbox commands that were not applied.

use crate::defs::layout::{self, Layout};
use crate::defs::stage_kind::Plane;
use crate::store::status;

use super::{all_or_fail, check, Check, CheckStatus, Workspace};

/// Mailbox commands that were not applied (kept in `commands/failed/`):
/// named, so that none is lost silently (a v0.2.0 envelope among them).
pub(super) fn mailbox_check(ws: &Workspace) -> Vec<Check> {
    let dir = Layout::of(&ws.agents).mailbox(crate::defs::layout::MailboxDir::Failed);
    let mut failed: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| ws.relative(&e.path()))
                .filter(|p| !p.ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default();
    if failed.is_empty() {
        return Vec::new();
    }
    failed.sort();
    vec![check(
        "mailbox.failed",
        "workspace",
        CheckStatus::Warn,
        format!(
            "{} mailbox command(s) were not applied; each file says why (apply it again by hand, then delete it)",
            failed.len()
        ),
        failed,
    )]
}
/// Exactly what `init` creates: its directories and files.
pub(super) fn layout_checks(ws: &Workspace) -> Vec<Check> {
    let layout = Layout::of(&ws.agents);
    let missing = |names: &[&str], present: fn(&std::path::Path) -> bool| -> Vec<String> {
        names
            .iter()
            .map(|d| layout.rel(d))
            .filter(|p| !present(p))
            .map(|p| ws.relative(&p))
            .collect()
    };
    // A workspace v0.2.0 made lacks some of ours: they are created on first
    // use (`start` makes the directories), so they warn, never fail.
    vec![
        all_or_warn(
            ("workspace.directories", "workspace"),
            "workspace directories present",
            missing(layout::DIRS, std::path::Path::is_dir),
            |n| {
                format!("{n} directories missing: `millrace start` creates them; `millrace init --force` adds them now and overwrites nothing")
            },
        ),
        all_or_warn(
            ("workspace.files", "workspace"),
            "stores and status files present",
            missing(layout::FILES, std::path::Path::is_file),
            |n| {
                format!("{n} files missing: they are created on first use; `millrace init --force` adds them now and overwrites nothing")
            },
        ),
    ]
}

/// [`all_or_fail`] that warns instead.
fn all_or_warn(
    (id, category): (&'static str, &'static str),
    ok: &str,
    problems: Vec<String>,
    warn: impl FnOnce(usize) -> String,
) -> Check {
    let mut c = all_or_fail((id, category), ok, problems, warn);
    if c.status == CheckStatus::Fail {
        c.status = CheckStatus::Warn;
    }
    c
}

pub(super) fn status_files_check(ws: &Workspace) -> Vec<Check> {
    let bad: Vec<String> = Plane::ALL
        .iter()
        .filter_map(|p| status::read(&ws.agents, *p).err().map(|e| e.to_string()))
        .collect();
    vec![all_or_fail(
        ("status.files", "workspace"),
        "status files hold one marker each",
        bad,
        |_| "malformed status file".to_string(),
    )]
}
