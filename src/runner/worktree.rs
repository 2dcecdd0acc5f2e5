//! The git parts lanes are built from, driven through the git CLI with
//! [`SafeGit`]: a task's worktree on its own branch (`millrace/<task id>`)
//! under a root outside the tracked tree, checked before git runs in it
//! (its `.git` file must still name the worktree millrace made — an agent
//! could rewrite it to point anywhere); landing a branch on the target
//! branch (rebase or merge, then fast-forward), with a conflict reported as
//! its paths and nothing left half-done; recognising a branch that already
//! landed (by ancestry), so a landing repeated after a crash is not applied
//! twice; and the leftovers (`git worktree list`, `millrace/*` branches).

use std::path::{Path, PathBuf};

use super::git::{GitError, Result, SafeGit};

/// A task's worktree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worktree {
    pub path: PathBuf,
    pub branch: String,
}

/// The branch of task `task_id`.
pub fn branch_of(task_id: &str) -> String {
    format!("millrace/{task_id}")
}

/// The oldest git lanes run with: `merge-tree --write-tree` is 2.38's.
pub const MIN_GIT: (u32, u32) = (2, 38);

/// The repository at `root` (its `.git` a directory, its config safe).
pub fn main_repo(root: &Path) -> Result<SafeGit> {
    match super::git::version() {
        Some(v) if v >= MIN_GIT => {}
        found => {
            return Err(GitError::Refused(format!(
                "lanes need git {}.{} or newer (`git merge-tree --write-tree`); found {}",
                MIN_GIT.0,
                MIN_GIT.1,
                found.map_or_else(|| "none".to_string(), |(a, b)| format!("{a}.{b}"))
            )))
        }
    }
    if !root.join(".git").is_dir() {
        return Err(GitError::Refused(format!(
            "{}: not a git repository (lanes need one)",
            root.display()
        )));
    }
    SafeGit::new(root, false)
}

/// Adds a worktree at `path` (e.g. `<lanes root>/lane-1`) on the branch
/// of `task_id`, made from `from` (a commit or branch) unless it exists.
/// A worktree already there is checked and returned as it is (a resumed
/// lane).
pub fn add(
    main: &SafeGit,
    root: &Path,
    path: &Path,
    task_id: &str,
    from: &str,
) -> Result<Worktree> {
    let wt = Worktree {
        path: path.to_path_buf(),
        branch: branch_of(task_id),
    };
    if wt.path.join(".git").exists() {
        checked(main, root, &wt)?;
        return Ok(wt);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(GitError::Spawn)?;
    }
    let dir = wt.path.display().to_string();
    if branch_exists(main, &wt.branch) {
        main.run(&["worktree", "add", "-q", &dir, &wt.branch])?;
    } else {
        main.run(&["worktree", "add", "-q", "-b", &wt.branch, &dir, from])?;
    }
    Ok(wt)
}

/// [`land`] moves a rebased branch without touching its worktree, which
/// then still holds the branch's previous commit. When it holds exactly
/// that (no other change, nothing untracked), it is brought to the branch
/// (a two-way `read-tree`, only the differing files); whether it was.
fn synced_after_landing(in_wt: &SafeGit, branch: &str) -> Result<bool> {
    let previous = format!("{branch}@{{1}}");
    let Ok(old) = in_wt.run(&["rev-parse", "-q", "--verify", &previous]) else {
        return Ok(false);
    };
    let old = old.trim();
    let untracked = in_wt
        .run(&["status", "--porcelain"])?
        .lines()
        .any(|l| l.starts_with("??"));
    if untracked
        || in_wt.run(&["diff", "--quiet", old]).is_err()
        || in_wt.run(&["diff", "--cached", "--quiet", old]).is_err()
    {
        return Ok(false);
    }
    in_wt.run(&["read-tree", "-m", "-u", old, "HEAD"])?;
    Ok(true)
}

fn branch_exists(main: &SafeGit, branch: &str) -> bool {
    main.run(&[
        "rev-parse",
        "-q",
        "--verify",
        &format!("refs/heads/{branch}"),
    ])
    .is_ok()
}

/// The lane's worktree `wt` switched to the branch of `task_id` (made from
/// `from` unless it exists): only the files that differ are rewritten, so
/// a lane keeps one worktree instead of a full checkout per task. Refused
/// while the worktree holds changes no commit has.
pub fn reuse(
    main: &SafeGit,
    root: &Path,
    wt: &Worktree,
    task_id: &str,
    from: &str,
) -> Result<Worktree> {
    let in_wt = checked(main, root, wt)?;
    let next = Worktree {
        path: wt.path.clone(),
        branch: branch_of(task_id),
    };
    if in_wt
        .run(&["symbolic-ref", "--short", "-q", "HEAD"])
        .unwrap_or_default()
        .trim()
        == next.branch
    {
        return Ok(next);
    }
    if !in_wt.run(&["status", "--porcelain"])?.trim().is_empty()
        && !synced_after_landing(&in_wt, &wt.branch)?
    {
        return Err(GitError::Refused(format!(
            "{}: uncommitted changes on {}; commit or park them before the lane takes the next task",
            wt.path.display(),
            wt.branch
        )));
    }
    if branch_exists(main, &next.branch) {
        in_wt.run(&["switch", "-q", &next.branch])?;
    } else {
        in_wt.run(&["switch", "-q", "-c", &next.branch, from])?;
    }
    Ok(next)
}

/// git in worktree `wt`, once its `.git` file is checked to name the
/// worktree `main` made for it.
pub fn checked(main: &SafeGit, root: &Path, wt: &Worktree) -> Result<SafeGit> {
    let dot_git = wt.path.join(".git");
    let meta = std::fs::symlink_metadata(&dot_git).map_err(GitError::Spawn)?;
    let text = if meta.is_file() {
        std::fs::read_to_string(&dot_git).map_err(GitError::Spawn)?
    } else {
        String::new()
    };
    let gitdir = text.trim().strip_prefix("gitdir: ").map(PathBuf::from);
    let admin = root.join(".git/worktrees");
    let ours = gitdir.as_deref().is_some_and(|g| {
        g.parent() == Some(admin.as_path())
            && g.join("commondir").is_file()
            && std::fs::read_to_string(g.join("gitdir"))
                .is_ok_and(|back| Path::new(back.trim()) == dot_git)
    });
    if !ours {
        return Err(GitError::Refused(format!(
            "{}: does not name the worktree millrace made under {} (it may have been rewritten); git is not run there",
            dot_git.display(),
            admin.display()
        )));
    }
    Ok(SafeGit::worktree(&wt.path, main))
}

/// How a finished branch joins the target branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrate {
    Rebase,
    Merge,
}

/// What landing a branch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landing {
    /// The target branch now holds the branch's commits; its new head.
    Landed { head: String },
    /// The branch was on the target branch already (a repeated landing).
    AlreadyLanded { head: String },
    /// Integration stopped on these paths; nothing was changed.
    Conflict { paths: Vec<String> },
}

fn head_of(git: &SafeGit, rev: &str) -> Result<String> {
    Ok(git.run(&["rev-parse", "--verify", rev])?.trim().to_string())
}

/// A commit of `tree` on `parents` with `c`'s author and message (and
/// `committer`, when git knows none).
fn commit_like(
    main: &SafeGit,
    c: &str,
    tree: &str,
    parents: &[&str],
    committer: &[(&'static str, &'static str)],
    message: Option<&str>,
) -> Result<String> {
    let out = main.run(&["log", "-1", "--format=%an%x00%ae%x00%aD%x00%B", c])?;
    let mut parts = out.splitn(4, '\0');
    let mut env: Vec<(&str, &str)> = ["GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE"]
        .into_iter()
        .map(|k| (k, parts.next().unwrap_or_default()))
        .collect();
    let own = parts.next().unwrap_or_default().trim_end().to_string();
    env.extend(
        committer
            .iter()
            .filter(|(k, _)| k.starts_with("GIT_COMMITTER")),
    );
    let mut args = vec!["commit-tree", tree];
    for p in parents {
        args.extend(["-p", p]);
    }
    args.extend(["-m", message.unwrap_or(&own)]);
    Ok(main.run_env(&args, &env)?.trim().to_string())
}

/// A merge computed without a checkout: its tree, or the conflicting paths.
fn merge_tree(
    main: &SafeGit,
    base: Option<&str>,
    ours: &str,
    theirs: &str,
) -> Result<Result<String, Vec<String>>> {
    let mut args = vec!["merge-tree", "--write-tree", "--name-only"];
    if let Some(b) = base {
        args.extend(["--merge-base", b]);
    }
    args.extend([ours, theirs]);
    let (clean, out) = main.run_answer(&args)?;
    let mut lines = out.lines();
    let tree = lines.next().unwrap_or_default().trim().to_string();
    if clean {
        return Ok(Ok(tree));
    }
    if tree.is_empty() {
        return Err(GitError::Failed(format!(
            "git merge-tree {ours} {theirs}: {out}"
        )));
    }
    let mut paths: Vec<String> = lines
        .take_while(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    paths.dedup();
    Ok(Err(paths))
}

/// The branch's commits replayed onto `onto` (rebase) or merged with it,
/// as new commits only — no ref, index or file changes: the new tip, or
/// the conflicting paths.
fn integrate(
    main: &SafeGit,
    branch: &str,
    onto: &str,
    how: Integrate,
) -> Result<Result<String, Vec<String>>> {
    let committer = main.identity();
    if how == Integrate::Merge {
        let tip = head_of(main, branch)?;
        let message = format!("Merge {branch}");
        return Ok(match merge_tree(main, None, onto, &tip)? {
            Ok(tree) => Ok(commit_like(
                main,
                &tip,
                &tree,
                &[onto, &tip],
                &committer,
                Some(&message),
            )?),
            Err(paths) => Err(paths),
        });
    }
    let commits = main.run(&[
        "rev-list",
        "--reverse",
        "--parents",
        &format!("{onto}..{branch}"),
    ])?;
    if commits.lines().any(|l| l.split_whitespace().count() > 2) {
        return Err(GitError::Refused(format!(
            "{branch} holds merge commits: rebase it by hand or use [lanes] integrate = \"merge\""
        )));
    }
    let mut tip = onto.to_string();
    for line in commits.lines() {
        let mut ids = line.split_whitespace();
        let (Some(c), Some(parent)) = (ids.next(), ids.next()) else {
            continue;
        };
        let tree = match merge_tree(main, Some(parent), &tip, c)? {
            Ok(tree) => tree,
            Err(paths) => return Ok(Err(paths)),
        };
        tip = commit_like(main, c, &tree, &[&tip], &committer, None)?;
    }
    Ok(Ok(tip))
}

/// Lands `wt`'s branch on `target`, which is checked out at `root`: the
/// commits are made without a checkout (`merge-tree`, `commit-tree`), the
/// branch moves to them, then the target fast-forwards (git updates the
/// root's files). The lane's worktree is not updated: remove it next. A conflict changes
/// nothing. Repeated after a crash at any step, it finishes the landing
/// instead of making new commits.
pub fn land(
    main: &SafeGit,
    root: &Path,
    wt: &Worktree,
    target: &str,
    how: Integrate,
) -> Result<Landing> {
    checked(main, root, wt)?;
    let branch = wt.branch.as_str();
    if main
        .run(&["merge-base", "--is-ancestor", branch, target])
        .is_ok()
    {
        return Ok(Landing::AlreadyLanded {
            head: head_of(main, target)?,
        });
    }
    let onto = head_of(main, target)?;
    let head = if main
        .run(&["merge-base", "--is-ancestor", &onto, branch])
        .is_ok()
    {
        head_of(main, branch)?
    } else {
        let new = match integrate(main, branch, &onto, how)? {
            Ok(new) => new,
            Err(paths) => return Ok(Landing::Conflict { paths }),
        };
        // The branch moves (compare-and-swap); its worktree is left at the
        // old commit: after landing it is removed, never worked in again.
        let old = head_of(main, branch)?;
        main.run(&["update-ref", &format!("refs/heads/{branch}"), &new, &old])?;
        new
    };
    let current = main
        .run(&["symbolic-ref", "--short", "-q", "HEAD"])
        .unwrap_or_default();
    if current.trim() != target {
        return Err(GitError::Refused(format!(
            "{} has `{}` checked out, not the target branch `{target}`: check it out again to land",
            root.display(),
            current.trim()
        )));
    }
    main.run(&["merge", "-q", "--ff-only", &head])?;
    Ok(Landing::Landed { head })
}

/// Deletes a landed task's branch (its commits are on the target).
pub fn drop_branch(main: &SafeGit, branch: &str) -> Result<()> {
    if branch_exists(main, branch) {
        main.run(&["branch", "-q", "-D", branch])?;
    }
    Ok(())
}

/// Removes `wt` and its branch (after it landed, or when its task is
/// given up: then its commits stay reachable only if another ref names
/// them).
pub fn remove(main: &SafeGit, wt: &Worktree) -> Result<()> {
    if wt.path.exists() {
        main.run(&[
            "worktree",
            "remove",
            "--force",
            &wt.path.display().to_string(),
        ])?;
    }
    main.run(&["worktree", "prune"])?;
    let _ = main.run(&["branch", "-q", "-D", &wt.branch]);
    Ok(())
}

/// The worktrees and `millrace/*` branches that exist (to converge with the
/// records after a crash).
pub fn leftovers(main: &SafeGit) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let worktrees = main
        .run(&["worktree", "list", "--porcelain"])?
        .lines()
        .filter_map(|l| l.strip_prefix("worktree "))
        .map(PathBuf::from)
        .skip(1)
        .collect();
    let branches = main
        .run(&[
            "for-each-ref",
            "--format=%(refname:short)",
            "refs/heads/millrace/",
        ])?
        .lines()
        .map(str::to_string)
        .collect();
    Ok((worktrees, branches))
}

#[cfg(test)]
#[path = "worktree_tests.rs"]
mod tests;
