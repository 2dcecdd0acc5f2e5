//! The lane git parts in real repositories (skipped, saying so, where
//! git is missing).

use std::process::Command;

use super::*;

/// git in `dir` for the test's own setup, with a fixed identity.
fn sh(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgSign=false",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository with `a.txt` and `b.txt` on `main`, and its lanes root.
fn repo() -> Option<(tempfile::TempDir, PathBuf, PathBuf, SafeGit)> {
    if crate::runner::git::version().is_none_or(|v| v < MIN_GIT) {
        eprintln!(
            "SKIPPED: git {}.{} or newer is not installed",
            MIN_GIT.0, MIN_GIT.1
        );
        return None;
    }
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("ws");
    std::fs::create_dir_all(&root).unwrap();
    sh(&root, &["init", "-q", "-b", "main"]);
    std::fs::write(root.join("a.txt"), "one\ntwo\nthree\n").unwrap();
    std::fs::write(root.join("b.txt"), "b\n").unwrap();
    sh(&root, &["add", "-A"]);
    sh(&root, &["commit", "-q", "-m", "initial"]);
    let lanes = d.path().join("lanes");
    let main = main_repo(&root).unwrap();
    Some((d, root, lanes, main))
}

fn edit_and_commit(wt: &Worktree, file: &str, text: &str) {
    std::fs::write(wt.path.join(file), text).unwrap();
    sh(&wt.path, &["commit", "-q", "-am", &format!("edit {file}")]);
}

#[test]
fn two_tasks_land_one_after_the_other_and_leave_nothing_behind() {
    let Some((_d, root, lanes, main)) = repo() else {
        return;
    };
    let a = add(&main, &root, &lanes.join("t-a"), "t-a", "main").unwrap();
    let b = add(&main, &root, &lanes.join("t-b"), "t-b", "main").unwrap();
    assert_eq!(a.branch, "millrace/t-a");
    edit_and_commit(&a, "a.txt", "ONE\ntwo\nthree\n");
    edit_and_commit(&b, "b.txt", "B\n");
    let first = land(&main, &root, &a, "main", Integrate::Rebase).unwrap();
    assert!(matches!(first, Landing::Landed { .. }), "{first:?}");
    let second = land(&main, &root, &b, "main", Integrate::Rebase).unwrap();
    let Landing::Landed { head } = second else {
        panic!("{second:?}")
    };
    assert_eq!(sh(&root, &["rev-parse", "main"]), head);
    assert_eq!(
        std::fs::read_to_string(root.join("a.txt")).unwrap(),
        "ONE\ntwo\nthree\n"
    );
    assert_eq!(std::fs::read_to_string(root.join("b.txt")).unwrap(), "B\n");
    // Landing again (a crash before the record) applies nothing twice.
    let again = land(&main, &root, &b, "main", Integrate::Rebase).unwrap();
    assert_eq!(again, Landing::AlreadyLanded { head: head.clone() });
    assert_eq!(sh(&root, &["rev-list", "--count", "main"]), "3");
    for wt in [&a, &b] {
        remove(&main, wt).unwrap();
    }
    assert_eq!(leftovers(&main).unwrap(), (vec![], vec![]));
}

#[test]
fn a_conflict_names_its_paths_and_changes_nothing() {
    let Some((_d, root, lanes, main)) = repo() else {
        return;
    };
    for how in [Integrate::Rebase, Integrate::Merge] {
        let (ta, tb) = (format!("a-{how:?}"), format!("b-{how:?}"));
        let a = add(&main, &root, &lanes.join(&ta), &ta, "main").unwrap();
        let b = add(&main, &root, &lanes.join(&tb), &tb, "main").unwrap();
        edit_and_commit(&a, "a.txt", &format!("one\nTWO by a {how:?}\nthree\n"));
        edit_and_commit(&b, "a.txt", &format!("one\nTWO by b {how:?}\nthree\n"));
        assert!(matches!(
            land(&main, &root, &a, "main", how).unwrap(),
            Landing::Landed { .. }
        ));
        let before = sh(&root, &["rev-parse", "main"]);
        let b_head = sh(&b.path, &["rev-parse", "HEAD"]);
        let c = land(&main, &root, &b, "main", how).unwrap();
        assert_eq!(
            c,
            Landing::Conflict {
                paths: vec!["a.txt".into()]
            },
            "{how:?}"
        );
        assert_eq!(sh(&root, &["rev-parse", "main"]), before);
        assert_eq!(sh(&b.path, &["rev-parse", "HEAD"]), b_head);
        assert_eq!(sh(&b.path, &["status", "--porcelain"]), "");
    }
    let (worktrees, branches) = leftovers(&main).unwrap();
    assert_eq!(worktrees.len(), 4);
    assert_eq!(branches.len(), 4);
}

#[test]
fn a_rewritten_dot_git_file_is_refused() {
    let Some((_d, root, lanes, main)) = repo() else {
        return;
    };
    let a = add(&main, &root, &lanes.join("t-a"), "t-a", "main").unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    sh(elsewhere.path(), &["init", "-q"]);
    std::fs::write(
        a.path.join(".git"),
        format!("gitdir: {}\n", elsewhere.path().join(".git").display()),
    )
    .unwrap();
    let e = land(&main, &root, &a, "main", Integrate::Rebase).unwrap_err();
    assert!(matches!(e, GitError::Refused(_)), "{e}");
    assert!(e.to_string().contains("rewritten"), "{e}");
    // Adding it again finds it and refuses the same way.
    assert!(add(&main, &root, &lanes.join("t-a"), "t-a", "main").is_err());
}

#[test]
fn add_resumes_an_existing_worktree_and_needs_a_repository() {
    let Some((_d, root, lanes, main)) = repo() else {
        return;
    };
    let a = add(&main, &root, &lanes.join("t-a"), "t-a", "main").unwrap();
    edit_and_commit(&a, "b.txt", "changed\n");
    let again = add(&main, &root, &lanes.join("t-a"), "t-a", "main").unwrap();
    assert_eq!(again, a);
    assert_eq!(sh(&again.path, &["log", "-1", "--format=%s"]), "edit b.txt");
    let plain = tempfile::tempdir().unwrap();
    assert!(matches!(main_repo(plain.path()), Err(GitError::Refused(_))));
}

#[test]
fn a_branch_of_several_commits_keeps_its_order_authors_and_messages() {
    let Some((_d, root, lanes, main)) = repo() else {
        return;
    };
    let a = add(&main, &root, &lanes.join("t-a"), "t-a", "main").unwrap();
    let b = add(&main, &root, &lanes.join("t-b"), "t-b", "main").unwrap();
    edit_and_commit(&a, "b.txt", "moved on\n");
    edit_and_commit(&b, "a.txt", "one\ntwo\nthree\nfour\n");
    std::fs::write(b.path.join("c.txt"), "new\n").unwrap();
    sh(&b.path, &["add", "c.txt"]);
    sh(
        &b.path,
        &[
            "-c",
            "user.name=Agent",
            "commit",
            "-q",
            "-m",
            "add c\n\nMillrace-Task: t-b",
        ],
    );
    land(&main, &root, &a, "main", Integrate::Rebase).unwrap();
    let Landing::Landed { head } = land(&main, &root, &b, "main", Integrate::Rebase).unwrap()
    else {
        panic!("not landed")
    };
    let log = sh(
        &root,
        &[
            "log",
            "--format=%an|%s|%(trailers:only,unfold)",
            "-3",
            &head,
        ],
    );
    assert_eq!(
        log.lines().filter(|l| !l.is_empty()).collect::<Vec<_>>(),
        [
            "Agent|add c|Millrace-Task: t-b",
            "t|edit a.txt|",
            "t|edit b.txt|"
        ]
    );
    assert_eq!(sh(&root, &["rev-parse", "millrace/t-b"]), head);
    assert_eq!(sh(&root, &["status", "--porcelain"]), "");
}

/// A crash after the branch moved onto the target but before the target
/// fast-forwarded: landing again only fast-forwards.
#[test]
fn a_landing_cut_short_after_the_rebase_finishes_without_new_commits() {
    let Some((_d, root, lanes, main)) = repo() else {
        return;
    };
    let a = add(&main, &root, &lanes.join("t-a"), "t-a", "main").unwrap();
    let b = add(&main, &root, &lanes.join("t-b"), "t-b", "main").unwrap();
    edit_and_commit(&a, "a.txt", "ONE\ntwo\nthree\n");
    edit_and_commit(&b, "b.txt", "B\n");
    land(&main, &root, &a, "main", Integrate::Rebase).unwrap();
    sh(&b.path, &["rebase", "-q", "main"]);
    let rebased = sh(&b.path, &["rev-parse", "HEAD"]);
    let landed = land(&main, &root, &b, "main", Integrate::Rebase).unwrap();
    assert_eq!(landed, Landing::Landed { head: rebased });
}

#[test]
fn landing_needs_the_target_checked_out_at_the_root() {
    let Some((_d, root, lanes, main)) = repo() else {
        return;
    };
    let a = add(&main, &root, &lanes.join("t-a"), "t-a", "main").unwrap();
    edit_and_commit(&a, "a.txt", "ONE\ntwo\nthree\n");
    sh(&root, &["switch", "-q", "-c", "elsewhere"]);
    let e = land(&main, &root, &a, "main", Integrate::Rebase).unwrap_err();
    assert!(
        e.to_string().contains("not the target branch `main`"),
        "{e}"
    );
    assert_eq!(
        sh(&root, &["rev-parse", "main"]),
        sh(&root, &["rev-parse", "elsewhere"])
    );
}

/// One worktree per lane: after its task landed (rebased onto a target
/// another lane moved, so the branch moved under the worktree), the lane
/// switches to the next task's branch; a worktree with uncommitted work is
/// not switched.
#[test]
fn a_lane_keeps_its_worktree_from_task_to_task() {
    let Some((_d, root, lanes, main)) = repo() else {
        return;
    };
    let other = add(&main, &root, &lanes.join("lane-2"), "t-0", "main").unwrap();
    let lane = lanes.join("lane-1");
    let first = add(&main, &root, &lane, "t-1", "main").unwrap();
    edit_and_commit(&other, "b.txt", "B\n");
    edit_and_commit(&first, "a.txt", "ONE\ntwo\nthree\n");
    land(&main, &root, &other, "main", Integrate::Rebase).unwrap();
    land(&main, &root, &first, "main", Integrate::Rebase).unwrap();
    let second = reuse(&main, &root, &first, "t-2", "main").unwrap();
    drop_branch(&main, &first.branch).unwrap();
    assert_eq!(second.path, lane);
    assert_eq!(
        sh(&lane, &["symbolic-ref", "--short", "HEAD"]),
        "millrace/t-2"
    );
    assert_eq!(
        sh(&lane, &["rev-parse", "HEAD"]),
        sh(&root, &["rev-parse", "main"])
    );
    assert_eq!(sh(&lane, &["status", "--porcelain"]), "");
    assert_eq!(
        std::fs::read_to_string(lane.join("a.txt")).unwrap(),
        "ONE\ntwo\nthree\n"
    );
    assert_eq!(std::fs::read_to_string(lane.join("b.txt")).unwrap(), "B\n");
    std::fs::write(lane.join("b.txt"), "uncommitted\n").unwrap();
    let e = reuse(&main, &root, &second, "t-3", "main").unwrap_err();
    assert!(e.to_string().contains("uncommitted changes"), "{e}");
    assert!(!leftovers(&main)
        .unwrap()
        .1
        .contains(&"millrace/t-1".to_string()));
}
