//! A task's work as commits in the workspace's git repository
//! (`[git] commit = "per_task"`): the base commit recorded when the run
//! starts; when the task is archived, what the agent left uncommitted is
//! committed with the card's title and the trailers `Millrace-Task` and
//! `Millrace-Run` (an empty commit carries them when the agent committed
//! everything itself), and the commits since the base are recorded; a task
//! that ends quarantined or blocked has its work moved to the branch
//! `millrace/parked/<run id>` and the target branch back to the base.
//!
//! git runs through [`SafeGit`] with the repository's hooks off (the agent
//! could have written them). The agents directory and the publish staging
//! directory are never committed. A git failure is the environment's, not
//! the task's: it is recorded in the run (`git.error`) and warned about,
//! and the task's outcome stands. Each step is idempotent: a run resumed
//! after a crash finds its own commit by its `Millrace-Run` trailer.

use crate::defs::config::GitCommit;
use crate::runner::git::{GitError, SafeGit};
use crate::store::runs::RunGit;

use super::Runtime;

/// Whether runs commit here (`[git] commit`, else: the root is a
/// repository).
fn enabled(rt: &Runtime) -> bool {
    match rt.config.git.commit {
        Some(GitCommit::PerTask) => true,
        Some(GitCommit::Off) => false,
        None => rt.root.join(".git").exists(),
    }
}

/// The git repository runs commit in, when `[git] commit` says so.
fn repo(rt: &Runtime) -> Option<SafeGit> {
    if !enabled(rt) {
        return None;
    }
    match SafeGit::new(&rt.root, false) {
        Ok(g) => Some(g),
        Err(e) => {
            tracing::warn!("git: {e}");
            None
        }
    }
}

fn trimmed(s: String) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The run's starting point, when millrace commits here.
pub fn base(rt: &Runtime) -> Option<RunGit> {
    if !enabled(rt) {
        return None;
    }
    let git = match SafeGit::new(&rt.root, false) {
        Ok(g) => g,
        Err(e) => {
            tracing::warn!("git: {e}");
            return Some(RunGit {
                error: Some(e.to_string()),
                ..RunGit::default()
            });
        }
    };
    if !rt.root.join(".git").exists() {
        return Some(RunGit {
            error: Some(format!(
                "[git] commit = \"per_task\" but {} is not a git repository",
                rt.root.display()
            )),
            ..RunGit::default()
        });
    }
    let dirty_at_start: Vec<String> = changed(&git, rt)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.get(3..))
        .take(20)
        .map(str::to_string)
        .collect();
    if !dirty_at_start.is_empty() {
        tracing::warn!(
            "git: {} file(s) had uncommitted changes before the task started ({}, …); they will be part of its commit",
            dirty_at_start.len(),
            dirty_at_start[0]
        );
    }
    Some(RunGit {
        dirty_at_start,
        base: git
            .run(&["rev-parse", "-q", "--verify", "HEAD^{commit}"])
            .ok()
            .and_then(trimmed),
        target_branch: git
            .run(&["symbolic-ref", "--short", "-q", "HEAD"])
            .ok()
            .and_then(trimmed),
        ..RunGit::default()
    })
}

/// Millrace's own directories inside the repository: the agents
/// directory and the publish staging repository.
fn own_dirs(rt: &Runtime) -> Vec<String> {
    let staging = rt.root.join("staging");
    [rt.agents.as_path(), staging.as_path()]
        .iter()
        .filter_map(|dir| dir.strip_prefix(&rt.root).ok())
        .filter(|rel| !rel.as_os_str().is_empty())
        .map(|rel| rel.display().to_string())
        .collect()
}

/// Pathspecs of everything but millrace's own directories.
fn pathspecs(rt: &Runtime) -> Vec<String> {
    let mut specs = vec![".".to_string()];
    specs.extend(own_dirs(rt).iter().map(|d| format!(":(exclude){d}")));
    specs
}

/// What a task run is for the commit message.
pub struct Task<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub run_id: &'a str,
}

/// Stages everything the agent left (millrace's directories aside) and
/// commits it with the task's trailers; `allow_empty` commits the trailers
/// alone. Whether a commit was made.
fn commit(git: &SafeGit, rt: &Runtime, task: &Task, allow_empty: bool) -> Result<bool, GitError> {
    // `add` refuses an exclude pathspec that names an ignored directory,
    // so millrace's directories are added and then taken out again.
    git.run(&["add", "-A", "--", "."])?;
    let ours = own_dirs(rt);
    let mut unstage = vec!["reset", "-q", "--"];
    unstage.extend(ours.iter().map(String::as_str));
    if git.run(&unstage).is_err() {
        let mut rm = vec!["rm", "--cached", "-r", "-q", "--ignore-unmatch", "--"];
        rm.extend(ours.iter().map(String::as_str));
        git.run(&rm)?;
    }
    let staged = git.run(&["diff", "--cached", "--quiet"]).is_err();
    if !staged && !allow_empty {
        return Ok(false);
    }
    let trailers = format!("Millrace-Task: {}\nMillrace-Run: {}", task.id, task.run_id);
    let subject = crate::defs::text::clean_line(task.title);
    let subject = if subject.is_empty() {
        task.id.to_string()
    } else {
        subject
    };
    let mut args = vec![
        "commit",
        "-q",
        "--no-verify",
        "-m",
        &subject,
        "-m",
        &trailers,
    ];
    if !staged {
        args.push("--allow-empty");
    }
    git.run_env(&args, &git.identity())?;
    Ok(true)
}

/// The commits since `base` (all of `HEAD`'s without one), oldest first.
/// The revision range of the run's work: `base..HEAD`, or all of `HEAD`.
fn range(base: Option<&str>) -> String {
    base.map_or_else(|| "HEAD".to_string(), |b| format!("{b}..HEAD"))
}

fn since(git: &SafeGit, base: Option<&str>) -> Result<Vec<String>, GitError> {
    let range = range(base);
    if git
        .run(&["rev-parse", "-q", "--verify", "HEAD^{commit}"])
        .is_err()
    {
        return Ok(Vec::new());
    }
    Ok(git
        .run(&["rev-list", "--reverse", &range])?
        .lines()
        .map(str::to_string)
        .collect())
}

/// Whether this run already committed (a resumed run).
fn sealed(git: &SafeGit, base: Option<&str>, run_id: &str) -> bool {
    let range = range(base);
    git.run(&[
        "log",
        "--format=%H",
        "--fixed-strings",
        &format!("--grep=Millrace-Run: {run_id}"),
        &range,
    ])
    .is_ok_and(|out| !out.trim().is_empty())
}

/// Commits an archived task's work and records its commits in `g`.
pub fn seal(rt: &Runtime, g: &mut RunGit, task: &Task) {
    let Some(git) = repo(rt) else { return };
    if g.error.is_some() {
        return;
    }
    let result = (|| {
        let base = g.base.as_deref();
        if !sealed(&git, base, task.run_id) {
            let agent_commits = !since(&git, base)?.is_empty();
            commit(&git, rt, task, agent_commits)?;
            // A kill here: the resumed run finds the commit by its trailer.
            let _ = crate::store::failpoint::hit("git.committed");
        }
        since(&git, base)
    })();
    match result {
        Ok(commits) => g.commits = commits,
        Err(e) => fail(g, "commit", e),
    }
}

fn fail(g: &mut RunGit, what: &str, e: GitError) {
    tracing::warn!("git: cannot {what} the task's work: {e}");
    g.error = Some(format!("cannot {what} the task's work: {e}"));
}

/// `git status --porcelain` of everything but millrace's directories.
fn changed(git: &SafeGit, rt: &Runtime) -> Result<String, GitError> {
    let specs = pathspecs(rt);
    let mut args = vec!["status", "--porcelain", "--"];
    args.extend(specs.iter().map(String::as_str));
    git.run(&args)
}

/// Whether anything outside millrace's directories differs from `HEAD`.
fn dirty(git: &SafeGit, rt: &Runtime) -> Result<bool, GitError> {
    Ok(!changed(git, rt)?.trim().is_empty())
}

/// Moves the work of a task that was not archived to its own branch and
/// the target branch back to the run's base. Resumable: a branch already
/// made is finished, not made again.
pub fn park(rt: &Runtime, g: &mut RunGit, task: &Task) {
    let Some(git) = repo(rt) else { return };
    if g.error.is_some() || g.parked_branch.is_some() {
        return;
    }
    let branch = format!("millrace/parked/{}", task.run_id);
    let result = (|| {
        let base = g.base.as_deref();
        let made = git
            .run(&[
                "rev-parse",
                "-q",
                "--verify",
                &format!("refs/heads/{branch}"),
            ])
            .is_ok();
        if !made {
            if base.is_none() || (!dirty(&git, rt)? && since(&git, base)?.is_empty()) {
                return Ok(None);
            }
            git.run(&["switch", "-q", "-c", &branch])?;
            let _ = crate::store::failpoint::hit("git.parking");
        }
        let current = git
            .run(&["symbolic-ref", "--short", "-q", "HEAD"])
            .ok()
            .and_then(trimmed);
        if current.as_deref() == Some(branch.as_str()) {
            commit(&git, rt, task, false)?;
            match (&g.target_branch, base) {
                (Some(target), _) => git.run(&["switch", "-q", target])?,
                (None, Some(b)) => git.run(&["switch", "-q", "--detach", b])?,
                (None, None) => String::new(),
            };
        }
        if let (Some(_), Some(b)) = (&g.target_branch, base) {
            git.run(&["reset", "-q", "--keep", b])?;
        }
        Ok(Some(branch.clone()))
    })();
    match result {
        Ok(parked) => g.parked_branch = parked,
        Err(e) => fail(g, "park", e),
    }
}
