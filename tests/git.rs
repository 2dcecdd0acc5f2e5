//! `[git] commit`: a task's work as commits in the workspace's real git
//! repository (isolated from the user's git config by `support::bin`).

mod support;

use std::process::Command;

use support::{skip_without, Ws};

fn git(ws: &Ws, args: &[&str]) -> String {
    let mut c = Command::new("git");
    support::isolate_git(&mut c);
    let out = c.arg("-C").arg(&ws.root).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A workspace whose root is a git repository with one commit; millrace's
/// directory and the fake agent's scratch files are ignored.
fn repo() -> Option<Ws> {
    if skip_without("git", "per-task commits need a git repository") {
        return None;
    }
    let ws = Ws::new();
    ws.write(".gitignore", "agents/\nfake/\nfake-calls.log\n");
    git(&ws, &["init", "-q", "-b", "main"]);
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-q", "-m", "initial"]);
    Some(ws)
}

fn start(ws: &Ws) -> serde_json::Value {
    ws.run(&["start", "--once", "--json"]).json()
}

/// Adds task `title`, scripts the builder with `builder` and runs it once:
/// the report and the run id.
fn task(ws: &Ws, title: &str, builder: &str) -> (serde_json::Value, String) {
    ws.add(title);
    ws.script("builder", &[builder]);
    let r = start(ws);
    let run_id = r["run"]["run_id"].as_str().unwrap().to_string();
    (r, run_id)
}

/// Scripts the loop so that the task ends quarantined (quickfix exhausted,
/// then research needed).
fn quarantine_next(ws: &Ws) {
    ws.script("qa", &["QUICKFIX_NEEDED"]);
    ws.script("doublecheck", &["QUICKFIX_NEEDED"]);
    ws.script("troubleshoot", &["BLOCKED"]);
    ws.script("consult", &["NEEDS_RESEARCH"]);
}

fn provenance_git(ws: &Ws, run_id: &str) -> serde_json::Value {
    ws.run(&["run-provenance", run_id, "--json"]).code(0).json()["run"]["git"].clone()
}

#[test]
fn an_archived_tasks_work_is_one_commit_with_its_trailers() {
    let Some(ws) = repo() else { return };
    let base = git(&ws, &["rev-parse", "HEAD"]);
    let (r, run_id) = task(&ws, "Write the notes", "TAMPER notes.txt");
    let run_id = run_id.as_str();
    assert_eq!(r["run"]["queue_effect"], "archive", "{r}");
    let head = git(&ws, &["rev-parse", "HEAD"]);
    assert_ne!(head, base);
    assert_eq!(git(&ws, &["log", "-1", "--format=%s"]), "Write the notes");
    let trailers = git(&ws, &["log", "-1", "--format=%(trailers:only,unfold)"]);
    assert!(
        trailers.contains("Millrace-Task: 2026-11-24__write-the-notes"),
        "{trailers}"
    );
    assert!(
        trailers.contains(&format!("Millrace-Run: {run_id}")),
        "{trailers}"
    );
    assert_eq!(
        git(&ws, &["show", "--name-only", "--format=", "HEAD"]),
        "notes.txt"
    );
    assert_eq!(
        git(&ws, &["status", "--porcelain"]),
        "",
        "nothing left over"
    );
    let g = provenance_git(&ws, run_id);
    assert_eq!(g["base"], base.as_str());
    assert_eq!(g["target_branch"], "main");
    assert_eq!(g["commits"], serde_json::json!([head]));
    let text = ws.run(&["run-provenance", run_id]).code(0).stdout;
    assert!(
        text.contains(&format!(
            "git base {} on main; commits {}",
            &base[..12],
            &head[..12]
        )),
        "{text}"
    );
    let status = ws.run(&["status"]).code(0).stdout;
    assert!(status.contains("git base"), "{status}");
    for by in ["run", "task"] {
        let usage = ws.run(&["usage", "--by", by, "--json"]).code(0).json();
        assert_eq!(
            usage["rows"][0]["commits"],
            serde_json::json!([head]),
            "{usage}"
        );
    }
    let usage = ws.run(&["usage", "--by", "run"]).code(0).stdout;
    assert!(
        usage.contains(&format!("commits {}", &head[..12])),
        "{usage}"
    );
}

#[test]
fn a_task_with_no_changes_makes_no_commit_and_a_second_task_its_own() {
    let Some(ws) = repo() else { return };
    let base = git(&ws, &["rev-parse", "HEAD"]);
    ws.add("Nothing to change");
    let r = start(&ws);
    let run_id = r["run"]["run_id"].as_str().unwrap().to_string();
    assert_eq!(git(&ws, &["rev-parse", "HEAD"]), base);
    assert_eq!(
        provenance_git(&ws, &run_id)["commits"],
        serde_json::json!([])
    );
    ws.add("Then change one");
    ws.script("builder", &["TAMPER two.txt"]);
    let r = start(&ws);
    let second = r["run"]["run_id"].as_str().unwrap();
    assert_eq!(
        git(&ws, &["rev-list", "--count", &format!("{base}..HEAD")]),
        "1"
    );
    assert_eq!(provenance_git(&ws, second)["base"], base.as_str());
}

#[test]
fn a_quarantined_tasks_work_is_parked_off_the_target_branch() {
    let Some(ws) = repo() else { return };
    let base = git(&ws, &["rev-parse", "HEAD"]);
    ws.add("Hopeless");
    ws.script("builder", &["TAMPER hopeless.txt"]);
    quarantine_next(&ws);
    let r = start(&ws);
    assert_eq!(r["run"]["queue_effect"], "quarantine", "{r}");
    let run_id = r["run"]["run_id"].as_str().unwrap();
    let branch = format!("millrace/parked/{run_id}");
    assert_eq!(git(&ws, &["rev-parse", "main"]), base, "main is untouched");
    assert_eq!(git(&ws, &["symbolic-ref", "--short", "HEAD"]), "main");
    assert!(!ws.path("hopeless.txt").exists(), "the work left the tree");
    assert_eq!(
        git(&ws, &["show", "--name-only", "--format=", &branch]),
        "hopeless.txt"
    );
    let trailers = git(
        &ws,
        &["log", "-1", "--format=%(trailers:only,unfold)", &branch],
    );
    assert!(
        trailers.contains(&format!("Millrace-Run: {run_id}")),
        "{trailers}"
    );
    let g = provenance_git(&ws, run_id);
    assert_eq!(g["parked_branch"], branch.as_str());
}

#[test]
fn commit_off_and_a_plain_directory_leave_git_alone() {
    let Some(ws) = repo() else { return };
    ws.append_config("[git]\ncommit = \"off\"\n");
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-q", "-m", "config"]);
    let base = git(&ws, &["rev-parse", "HEAD"]);
    let (_, run_id) = task(&ws, "Write the notes", "TAMPER notes.txt");
    let run_id = run_id.as_str();
    assert_eq!(git(&ws, &["rev-parse", "HEAD"]), base);
    assert!(provenance_git(&ws, run_id).is_null());
    assert!(!ws
        .read(&format!("agents/runs/{run_id}/run.json"))
        .contains("\"git\""));
    // No repository, no `[git]`: nothing is recorded either.
    let plain = Ws::new();
    plain.add("Write the notes");
    let r = start(&plain);
    let run_id = r["run"]["run_id"].as_str().unwrap();
    assert!(!plain
        .read(&format!("agents/runs/{run_id}/run.json"))
        .contains("\"git\""));
}

#[test]
fn the_repositorys_hooks_never_run() {
    let Some(ws) = repo() else { return };
    ws.write(
        ".git/hooks/pre-commit",
        "#!/bin/sh\ntouch \"$(git rev-parse --show-toplevel)/hook-ran\"\nexit 1\n",
    );
    let hook = ws.path(".git/hooks/pre-commit");
    std::fs::set_permissions(
        &hook,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
    let (_, run_id) = task(&ws, "Write the notes", "TAMPER notes.txt");
    let run_id = run_id.as_str();
    assert!(
        !ws.path("hook-ran").exists(),
        "a hook an agent could write ran"
    );
    assert_eq!(
        provenance_git(&ws, run_id)["commits"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// `kill -9` right after the task's commit, and after the parked branch
/// was made: the next start finishes the run without a second commit.
#[test]
fn a_kill_mid_commit_or_mid_park_converges_with_nothing_done_twice() {
    let Some(ws) = repo() else { return };
    let base = git(&ws, &["rev-parse", "HEAD"]);
    ws.add("Write the notes");
    ws.script("builder", &["TAMPER notes.txt"]);
    assert!(ws.killed_at(&["start", "--once"], "git.committed"));
    let r = start(&ws);
    let run_id = r["run"]["run_id"].as_str().unwrap();
    assert_eq!(r["run"]["resumed"], true, "{r}");
    assert_eq!(
        git(&ws, &["rev-list", "--count", &format!("{base}..HEAD")]),
        "1"
    );
    assert_eq!(ws.cards_in("tasksarchive.md"), 1);
    assert_eq!(
        provenance_git(&ws, run_id)["commits"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let base = git(&ws, &["rev-parse", "HEAD"]);
    ws.add("Hopeless");
    ws.script("builder", &["TAMPER hopeless.txt"]);
    quarantine_next(&ws);
    assert!(ws.killed_at(&["start", "--once"], "git.parking"));
    let r = start(&ws);
    let run_id = r["run"]["run_id"].as_str().unwrap();
    assert_eq!(r["run"]["queue_effect"], "quarantine", "{r}");
    assert_eq!(git(&ws, &["symbolic-ref", "--short", "HEAD"]), "main");
    assert_eq!(git(&ws, &["rev-parse", "main"]), base);
    let branch = format!("millrace/parked/{run_id}");
    assert_eq!(
        git(&ws, &["rev-list", "--count", &format!("{base}..{branch}")]),
        "1"
    );
    assert!(!ws.path("hopeless.txt").exists());
}

/// The agent committed its work itself: its commit stays as it is, and an
/// empty commit carries the task's trailers.
#[test]
fn an_agents_own_commit_is_kept_and_the_trailers_follow_it() {
    let Some(ws) = repo() else { return };
    let base = git(&ws, &["rev-parse", "HEAD"]);
    let (_, run_id) = task(&ws, "Commit it yourself", "COMMIT own.txt");
    let run_id = run_id.as_str();
    let log = git(&ws, &["log", "--format=%s", &format!("{base}..HEAD")]);
    assert_eq!(log, "Commit it yourself\nagent: own.txt");
    assert_eq!(git(&ws, &["show", "--name-only", "--format=", "HEAD"]), "");
    let trailers = git(&ws, &["log", "-1", "--format=%(trailers:only,unfold)"]);
    assert!(
        trailers.contains(&format!("Millrace-Run: {run_id}")),
        "{trailers}"
    );
    let commits = provenance_git(&ws, run_id)["commits"].clone();
    assert_eq!(commits.as_array().unwrap().len(), 2, "{commits}");
}

/// `health` says whether runs will commit, and what stops them: a
/// repository config that names a program (an agent can write `.git/`),
/// or `per_task` without a repository.
#[test]
fn health_names_what_stops_per_task_commits() {
    let Some(ws) = repo() else { return };
    let check = |ws: &Ws| {
        let h = ws.run(&["health", "--json"]).json();
        h["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check_id"] == "git.commit")
            .cloned()
            .expect("a git.commit check")
    };
    assert_eq!(check(&ws)["status"], "pass");
    git(&ws, &["config", "core.hooksPath", "/tmp"]);
    git(&ws, &["config", "filter.x.clean", "sh -c evil"]);
    let c = check(&ws);
    assert_eq!(c["status"], "warn", "{c}");
    assert!(
        c["details"][0].as_str().unwrap().contains("filter.x.clean"),
        "{c}"
    );
    // A task still runs; the run records why nothing was committed.
    ws.add("Write the notes");
    ws.script("builder", &["TAMPER notes.txt"]);
    let r = start(&ws);
    assert_eq!(r["run"]["queue_effect"], "archive", "{r}");
    let g = provenance_git(&ws, r["run"]["run_id"].as_str().unwrap());
    assert!(
        g["error"].as_str().unwrap().contains("filter.x.clean"),
        "{g}"
    );
    assert_eq!(g["commits"], serde_json::json!([]));
    let plain = Ws::new();
    assert!(plain
        .run(&["health", "--json"])
        .stdout
        .find("git.commit")
        .is_none());
    plain.append_config("[git]\ncommit = \"per_task\"\n");
    assert_eq!(check(&plain)["status"], "warn");
}

/// A repository that tracks `agents/` itself: the task's commit still
/// holds only the agent's work; the runtime's files stay uncommitted.
#[test]
fn a_tracked_agents_directory_stays_out_of_the_task_commit() {
    let Some(ws) = repo() else { return };
    ws.write(".gitignore", "fake/\nfake-calls.log\n");
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-q", "-m", "track agents/"]);
    let (r, run_id) = task(&ws, "Write the notes", "TAMPER notes.txt");
    assert_eq!(r["run"]["queue_effect"], "archive", "{r}");
    assert_eq!(
        git(&ws, &["show", "--name-only", "--format=", "HEAD"]),
        "notes.txt"
    );
    assert!(provenance_git(&ws, &run_id)["error"].is_null());
    let left = git(&ws, &["status", "--porcelain"]);
    let paths = left.lines().filter_map(|l| l.split_whitespace().last());
    assert!(paths.clone().all(|p| p.starts_with("agents/")), "{left}");
    assert!(paths.count() > 0, "{left}");
}
