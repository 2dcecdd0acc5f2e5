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
    use crate::defs::layout::MailboxDir;
    let files = |which| -> Vec<String> {
        let dir = Layout::of(&ws.agents).mailbox(which);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .map(|e| ws.relative(&e.path()))
                    .filter(|p| !p.ends_with(".tmp"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let mut checks = Vec::new();
    let pending = files(MailboxDir::Incoming);
    let daemon = crate::engine::owner::live_owner(ws)
        .is_some_and(|o| o.purpose == crate::store::lock::OwnerPurpose::Daemon);
    if !pending.is_empty() && !daemon {
        checks.push(check(
            "mailbox.pending",
            "workspace",
            CheckStatus::Warn,
            format!(
                "{} mailbox command(s) wait with no daemon to apply them: `millrace start --daemon` applies them (one meant for a process that has ended is set aside)",
                pending.len()
            ),
            pending,
        ));
    }
    let failed = files(MailboxDir::Failed);
    if failed.is_empty() {
        return checks;
    }
    checks.push(check(
        "mailbox.failed",
        "workspace",
        CheckStatus::Warn,
        format!(
            "{} mailbox command(s) were not applied; each file says why (apply it again by hand, then delete it)",
            failed.len()
        ),
        failed,
    ));
    checks
}
/// `workspace.origin`: a workspace Python Millrace v0.2.0 made (its
/// `agents/_start.md`, or a state file of its bundle) that `init --force`
/// has not yet adopted (our `agents/registry/README.md` is missing) warns,
/// saying what the first `start` changes and what `init --force` adds.
pub(super) fn origin_check(ws: &Workspace) -> Vec<Check> {
    let layout = Layout::of(&ws.agents);
    let v020_state = crate::store::safe::read_text(&layout.state_json(), 1 << 20)
        .is_ok_and(|t| t.contains("\"baseline-bundle-"));
    if !(ws.agents.join("_start.md").is_file() || v020_state) {
        return Vec::new();
    }
    let v020_runs = std::fs::read_dir(layout.runs_dir())
        .map(|d| {
            d.flatten()
                .filter(|e| crate::store::v020::is_v020_run(&e.path()))
                .count()
        })
        .unwrap_or(0);
    if layout.rel(layout::REGISTRY_README).is_file() {
        return vec![check(
            "workspace.origin",
            "workspace",
            CheckStatus::Pass,
            format!(
                "adopted from Millrace v0.2.0 ({v020_runs} v0.2.0 run(s) kept and read as such)"
            ),
            vec![],
        )];
    }
    vec![check(
        "workspace.origin",
        "workspace",
        CheckStatus::Warn,
        "a Millrace v0.2.0 workspace: every command works on it as it is; nothing of v0.2.0's is deleted or rewritten",
        vec![
            format!("{v020_runs} v0.2.0 run(s) are read as such (run-provenance, usage, status, the TUI)"),
            "the first `start` creates the missing directories, closes a run v0.2.0 left unfinished as `abandoned (v0.2.0 run)`, and writes state.json in v0.2.0's shape (ours whole in state_millrace.json), so v0.2.0 can still read the workspace".into(),
            "a daemon (`start --daemon`) applies pending v0.2.0 mailbox commands; one meant for a v0.2.0 process that has ended is set aside and named here".into(),
            "`millrace init --force` adds the missing files and the guides (OPERATOR_GUIDE.md, ADVISOR.md, docs/millrace/) and overwrites nothing".into(),
        ],
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

/// `[git] commit`: whether runs will commit in the workspace's repository,
/// and what would stop them. Shown only where git is in play (a
/// repository at the root, or `[git] commit` set).
pub(super) fn git_check(ws: &Workspace) -> Vec<Check> {
    use crate::defs::config::GitCommit;
    let is_repo = ws.root.join(".git").exists();
    let setting = ws.config.git.commit;
    if !is_repo && setting.is_none() {
        return Vec::new();
    }
    let (status, message, details) = match (setting, is_repo) {
        (Some(GitCommit::Off), _) => (
            CheckStatus::Pass,
            "[git] commit = \"off\": runs do not touch the repository".to_string(),
            vec![],
        ),
        (_, false) => (
            CheckStatus::Warn,
            format!(
                "[git] commit = \"per_task\" but {} is not a git repository: runs record the problem and commit nothing",
                ws.root.display()
            ),
            vec!["`git init` the workspace root, or set [git] commit = \"off\"".into()],
        ),
        (_, true) => match crate::runner::git::SafeGit::new(&ws.root, false) {
            Ok(_) => (
                CheckStatus::Pass,
                "each archived task's work is committed with Millrace-Task/Millrace-Run trailers; unfinished work is parked on millrace/parked/<run id>".to_string(),
                vec![],
            ),
            Err(e) => (
                CheckStatus::Warn,
                "runs cannot commit in the workspace's repository until this is fixed (tasks still run)".to_string(),
                vec![e.to_string()],
            ),
        },
    };
    vec![check("git.commit", "workspace", status, message, details)]
}
