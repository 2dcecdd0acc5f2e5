//! `publish` against a scratch staging repository with a bare origin: sync
//! (never runtime noise), every preflight state, commit, push, no changes,
//! a missing origin and a detached HEAD, through the real `git`.

mod support;

use std::path::Path;
use std::process::Command;

use support::{OutputWithin, Ws};

fn git(dir: &Path, args: &[&str]) -> String {
    let out =
        support::isolate_git(Command::new("git").arg("-C").arg(dir).args(args)).output_within();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A workspace with one finished run and a staging repo (`main`) whose
/// origin is a bare repository.
fn setup() -> (Ws, std::path::PathBuf, std::path::PathBuf) {
    let ws = Ws::new();
    ws.add("Publish me");
    ws.run(&["start", "--once"]).code(0);
    ws.write("README.md", "# Project\n");
    let bare = ws.dir.path().join("origin.git");
    let staging = ws.root.join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    git(
        ws.dir.path(),
        &["init", "-q", "--bare", bare.to_str().unwrap()],
    );
    git(&staging, &["init", "-q", "-b", "main"]);
    git(&staging, &["config", "user.name", "t"]);
    git(&staging, &["config", "user.email", "t@example.com"]);
    (ws, staging, bare)
}

#[test]
fn sync_copies_the_manifest_but_never_runtime_noise() {
    let (ws, staging, _) = setup();
    // init writes the editable manifest; without it the packaged default
    // (the same paths) applies.
    assert!(ws.path("agents/staging_manifest.yml").is_file());
    std::fs::remove_file(ws.path("agents/staging_manifest.yml")).unwrap();
    let r = ws.run(&["publish", "sync", "--json"]).code(0).json();
    assert_eq!(r["selection"]["manifest_source_kind"], "packaged");
    assert!(staging.join("agents/tasksarchive.md").exists());
    assert!(staging.join("README.md").exists());
    for noise in [
        "agents/runs",
        "agents/.runtime",
        "agents/.locks",
        "agents/engine_events.log",
        "agents/historylog",
    ] {
        assert!(!staging.join(noise).exists(), "{noise} was published");
    }
    // A workspace manifest: a missing required path is an error, a
    // missing optional one is removed from the staging repo.
    ws.write(
        "agents/staging_manifest.yml",
        "version: 1\npaths:\n  - agents/tasksarchive.md\noptional_paths:\n  - README.md\n",
    );
    std::fs::remove_file(ws.path("README.md")).unwrap();
    let r = ws.run(&["publish", "sync", "--json"]).code(0).json();
    let actions: Vec<&str> = r["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["synced", "removed_optional"]);
    assert!(!staging.join("README.md").exists());
    ws.write(
        "agents/staging_manifest.yml",
        "version: 1\npaths:\n  - nope.md\n",
    );
    let r = ws.run(&["publish", "sync"]).code(1);
    assert!(
        r.stderr.contains("manifest source missing: nope.md"),
        "{}",
        r.stderr
    );
    ws.write(
        "agents/staging_manifest.yml",
        "version: 1\npaths:\n  - ../outside\n",
    );
    let r = ws.run(&["publish", "sync"]).code(1);
    assert!(
        r.stderr
            .contains("must be relative to the workspace, stay inside it"),
        "{}",
        r.stderr
    );
    // Nor into the staging repository's own `.git`.
    ws.write(
        "agents/staging_manifest.yml",
        "version: 1\npaths:\n  - .git/hooks\n",
    );
    let r = ws.run(&["publish", "sync"]).code(1);
    assert!(r.stderr.contains("`.git`"), "{}", r.stderr);
}

#[test]
fn preflight_commit_and_push_through_git() {
    let (ws, staging, bare) = setup();
    ws.run(&["publish", "sync"]).code(0);
    // No origin yet.
    let p = ws
        .run(&["publish", "preflight", "--push", "--json"])
        .code(0)
        .json();
    assert_eq!(
        (p["status"].as_str(), p["skip_reason"].as_str()),
        (Some("ready"), Some("missing_origin"))
    );
    assert!(p["has_changes"].as_bool().unwrap());
    let c = ws
        .run(&["publish", "commit", "--push", "--json"])
        .code(0)
        .json();
    assert_eq!(c["status"], "committed");
    assert!(c["marker"]
        .as_str()
        .unwrap()
        .starts_with("SKIP_PUBLISH reason=missing_origin path="));
    // Nothing new.
    let p = ws.run(&["publish", "preflight", "--json"]).code(0).json();
    assert_eq!(p["status"], "no_changes");
    let c = ws.run(&["publish", "commit", "--json"]).code(0).json();
    assert_eq!(c["marker"], "NO_CHANGES");
    // With an origin: pushed.
    git(
        &staging,
        &["remote", "add", "origin", bare.to_str().unwrap()],
    );
    ws.write("README.md", "# Project, changed\n");
    ws.run(&["publish", "sync"]).code(0);
    let p = ws
        .run(&["publish", "preflight", "--push", "--json"])
        .code(0)
        .json();
    assert_eq!(
        (p["status"].as_str(), p["publish_allowed"].as_bool()),
        (Some("ready"), Some(true))
    );
    let c = ws
        .run(&["publish", "commit", "--push", "-m", "sync 2", "--json"])
        .code(0)
        .json();
    assert_eq!(c["marker"], "PUSH_OK remote=origin branch=main");
    let sha = c["commit_sha"].as_str().unwrap();
    assert_eq!(git(&bare, &["rev-parse", "main"]).trim(), sha);
    assert!(git(&bare, &["log", "-1", "--format=%s", "main"]).contains("sync 2"));
    // Without --push: committed, not pushed.
    ws.write("README.md", "# Project, changed again\n");
    ws.run(&["publish", "sync"]).code(0);
    let c = ws.run(&["publish", "commit"]).code(0);
    assert!(
        c.stdout.starts_with("SKIP_PUBLISH reason=push_disabled"),
        "{}",
        c.stdout
    );
    // Detached HEAD: committed, the push is skipped.
    git(&staging, &["checkout", "-q", "--detach"]);
    ws.write("README.md", "# Detached\n");
    ws.run(&["publish", "sync"]).code(0);
    let c = ws
        .run(&["publish", "commit", "--push", "--json"])
        .code(0)
        .json();
    assert!(
        c["marker"]
            .as_str()
            .unwrap()
            .starts_with("SKIP_PUBLISH reason=detached_head"),
        "{c:#}"
    );
    // No repository at all: skipped, exit 0.
    let c = ws
        .run(&[
            "publish",
            "commit",
            "--staging-repo-dir",
            ws.dir.path().join("none").to_str().unwrap(),
            "--json",
        ])
        .code(0)
        .json();
    assert_eq!(c["status"], "skipped");
    assert_eq!(c["skip_reason"], "missing_git_worktree");
    // A git failure exits 1 with git's message: a push rejected by origin.
    git(&staging, &["checkout", "-q", "main"]);
    let other = ws.dir.path().join("other");
    git(
        ws.dir.path(),
        &[
            "clone",
            "-q",
            "-b",
            "main",
            bare.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    std::fs::write(other.join("x"), "x").unwrap();
    git(&other, &["add", "x"]);
    git(
        &other,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "commit",
            "-q",
            "-m",
            "other",
        ],
    );
    git(&other, &["push", "-q", "origin", "HEAD:main"]);
    ws.write("README.md", "# Diverged\n");
    ws.run(&["publish", "sync"]).code(0);
    let r = ws.run(&["publish", "commit", "--push"]).code(1);
    assert!(r.stderr.contains("git push"), "{}", r.stderr);
}

/// The TUI's Publish panel drives the same control calls: preflight on
/// opening, sync / commit / push each behind a `y` confirmation.
#[test]
fn the_tui_publish_panel_syncs_commits_and_pushes_after_confirmation() {
    use millrace::tui::app::{App, Overlay, Snapshot};
    use ratatui::crossterm::event::{KeyCode, KeyEvent};
    let (ws, staging, bare) = setup();
    git(
        &staging,
        &["remote", "add", "origin", bare.to_str().unwrap()],
    );
    let open = millrace::control::Workspace::open(&ws.config()).unwrap();
    let mut app = App::new(Snapshot::load(&open));
    let press = |app: &mut App, c: char| app.key(&open, KeyEvent::from(KeyCode::Char(c)));
    press(&mut app, '7');
    let status = |app: &App| match &app.snapshot.preflight {
        Some(Ok(p)) => p.status.clone(),
        other => panic!("no preflight: {}", other.is_some()),
    };
    assert_eq!(status(&app), "no_changes", "an empty staging repo");
    press(&mut app, 'S');
    assert!(matches!(app.overlay, Overlay::Confirm(_)));
    press(&mut app, 'y');
    assert!(staging.join("agents/tasksarchive.md").exists());
    assert_eq!(status(&app), "ready", "the panel reloads after the sync");
    // A commit declined with `n` commits nothing.
    press(&mut app, 'C');
    press(&mut app, 'n');
    assert_eq!(git(&staging, &["rev-list", "--all", "--count"]).trim(), "0");
    press(&mut app, 'P');
    press(&mut app, 'y');
    let said = &app.notices.back().unwrap().1;
    assert!(said.contains("PUSH_OK"), "{said}");
    assert_eq!(git(&bare, &["log", "--oneline", "main"]).lines().count(), 1);
    assert_eq!(status(&app), "no_changes");
}

/// Publish never wipes the workspace, never writes through or copies a
/// symlink, and never runs what the staging repository's files name.
#[test]
fn publish_refuses_hostile_staging_and_runs_nothing_the_repo_names() {
    let (ws, staging, bare) = setup();
    let backlog = ws.read("agents/tasks.md");
    let root = ws.root.display().to_string();
    for dir in [
        root.clone(),
        format!("{root}/agents/.."),
        format!("{root}/agents/staging"),
        format!("{root}/agents"),
        ws.dir.path().display().to_string(),
    ] {
        let r = ws
            .run(&["publish", "sync", "--staging-repo-dir", &dir])
            .code(2);
        assert!(r.stderr.contains("staging directory"), "{}", r.stderr);
    }
    assert_eq!(ws.read("agents/tasks.md"), backlog);
    assert!(!ws.path("agents/staging").exists());
    // A staging directory that is a symlink is refused.
    std::os::unix::fs::symlink(&staging, ws.dir.path().join("st-link")).unwrap();
    ws.run(&[
        "publish",
        "sync",
        "--staging-repo-dir",
        ws.dir.path().join("st-link").to_str().unwrap(),
    ])
    .code(2);

    // Symlinks on both sides: nothing outside is read or written.
    let outside = ws.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "SECRET").unwrap();
    std::fs::write(outside.join("victim.txt"), "keep").unwrap();
    let _ = std::fs::remove_dir_all(ws.path("docs"));
    std::os::unix::fs::symlink(&outside, ws.path("docs")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), ws.path("agents/leak.md")).unwrap();
    std::fs::create_dir_all(staging.join("agents")).unwrap();
    std::fs::remove_dir_all(staging.join("agents")).unwrap();
    std::os::unix::fs::symlink(&outside, staging.join("agents")).unwrap();
    std::os::unix::fs::symlink(outside.join("victim.txt"), staging.join("README.md")).unwrap();
    let r = ws.run(&["publish", "sync", "--json"]).code(0).json();
    let warnings = r["warnings"].to_string();
    assert!(warnings.contains("leak.md"), "{warnings}");
    assert!(warnings.contains("docs"), "{warnings}");
    assert_eq!(
        std::fs::read_to_string(outside.join("victim.txt")).unwrap(),
        "keep"
    );
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        2,
        "wrote outside"
    );
    assert!(!std::fs::symlink_metadata(staging.join("agents"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(staging.join("agents/tasks.md").exists());
    assert!(!staging.join("agents/leak.md").exists());
    assert!(!staging.join("docs").exists());

    // Programs planted in the staging repository never run.
    let proof = ws.dir.path().join("ran");
    let hook = staging.join(".git/hooks/pre-commit");
    let script = format!("#!/bin/sh\necho hook >> {}\n", proof.display());
    std::fs::write(&hook, &script).unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let fsmon = ws.dir.path().join("fsmon.sh");
    std::fs::write(&fsmon, script.replace("hook", "fsmonitor")).unwrap();
    std::fs::set_permissions(&fsmon, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    git(
        &staging,
        &["config", "core.fsmonitor", fsmon.to_str().unwrap()],
    );
    git(
        &staging,
        &[
            "config",
            "core.sshCommand",
            &format!("{} #", fsmon.display()),
        ],
    );
    git(
        &staging,
        &[
            "remote",
            "add",
            "origin",
            &format!("ssh://example.invalid/{}", bare.display()),
        ],
    );
    let p = ws
        .run(&["publish", "preflight", "--push", "--json"])
        .code(0)
        .json();
    assert_eq!(p["repo_hooks_run"], false);
    assert!(
        p["origin_push_url"]
            .as_str()
            .unwrap()
            .contains("example.invalid"),
        "{p:#}"
    );
    let c = ws.run(&["publish", "commit", "--push", "--json"]);
    assert!(
        !proof.exists(),
        "a program named by the staging repo ran: {}",
        std::fs::read_to_string(&proof).unwrap_or_default()
    );
    assert_ne!(
        c.out.status.code(),
        Some(0),
        "the push to example.invalid cannot succeed"
    );
    // Files that make git read other configuration are refused.
    std::fs::write(staging.join(".git/commondir"), "/elsewhere\n").unwrap();
    let r = ws.run(&["publish", "preflight"]).code(2);
    assert!(r.stderr.contains("commondir"), "{}", r.stderr);
    std::fs::remove_file(staging.join(".git/commondir")).unwrap();
    // A config that names a program is refused before git runs, by key.
    git(
        &staging,
        &["config", "filter.x.clean", fsmon.to_str().unwrap()],
    );
    let r = ws.run(&["publish", "preflight"]).code(2);
    assert!(r.stderr.contains("filter.x.clean"), "{}", r.stderr);
    assert!(!proof.exists());
    // The opt-in runs the repository's hooks, and preflight says so.
    git(&staging, &["config", "--unset", "filter.x.clean"]);
    git(&staging, &["config", "--unset", "core.fsmonitor"]);
    ws.append_config("\n[publish]\nrun_repo_hooks = true\n");
    let r = ws.run(&["publish", "preflight"]).code(0);
    assert!(r.stdout.contains("hooks will run"), "{}", r.stdout);
    ws.write("README.md", "# changed again\n");
    ws.run(&["publish", "sync"]).code(0);
    ws.run(&["publish", "commit"]).code(0);
    assert_eq!(std::fs::read_to_string(&proof).unwrap(), "hook\n");
}
