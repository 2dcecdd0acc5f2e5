//! The crash-and-fault suite: every durable write of promote → run start →
//! stage records → archive, and every step of the queue journal, is killed
//! (`abort`, as `kill -9` would) or failed (EIO, ENOSPC, a torn append)
//! through `MILLRACE_FAILPOINTS`. After each, plain restarts converge: every
//! task is archived exactly once, in no other store, and nothing is left
//! pending.

mod support;

use support::{OutputWithin, Ws};

const TITLES: [&str; 3] = ["First task", "Second task", "Third task"];

/// Durable writes in the order a task passes them; `#n` is the n-th time
/// the process passes that point (the first task's promote is journal
/// commit 1, its archive commit 2).
const POINTS: &[&str] = &[
    "journal.written",
    "journal.apply",
    "journal.apply#2",
    "journal.applied",
    "run.created",
    "run.started",
    "stage.started",
    "stage.finished",
    "stage.started#2",
    "stage.finished#3",
    "journal.written#2",
    "journal.apply#3",
    "journal.apply#4",
    "journal.applied#2",
    "run.finished",
    "run.meta",
];

fn scenario(point: &str, action: &str) {
    let ws = Ws::new();
    for t in TITLES {
        ws.add(t);
    }
    let out = ws
        .command(&["start", "--once"])
        .env("MILLRACE_FAILPOINTS", format!("{point}={action}"))
        .output_within();
    assert!(
        !out.status.success(),
        "{point}={action} did not fail the start:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    if action != "abort" {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("error:") && (err.contains("os error") || err.contains("Input/output")),
            "{point}={action}: no clear error: {err}"
        );
    }
    // Plain restarts converge.
    for _ in 0..6 {
        let q = ws.run(&["queue", "--json"]).code(0).json();
        let status = ws.run(&["status", "--json"]).code(0).json();
        if q["backlog_depth"] == 0
            && q["active_task"].is_null()
            && status["runtime"]["active_run"].is_null()
        {
            break;
        }
        ws.run(&["start", "--once"]).code(0);
    }
    let archive = ws.read("agents/tasksarchive.md");
    for t in TITLES {
        let n = archive.matches(&format!(" - {t}\n")).count();
        assert_eq!(
            n, 1,
            "{point}={action}: `{t}` archived {n} times:\n{archive}"
        );
        for store in ["tasks.md", "tasksbacklog.md", "tasksbackburner.md"] {
            assert!(
                !ws.read(&format!("agents/{store}")).contains(t),
                "{point}={action}: `{t}` also in {store}"
            );
        }
    }
    assert!(
        !ws.path("agents/.runtime/queue_journal.json").exists(),
        "{point}={action}: journal left"
    );
    assert!(
        !ws.path("agents/.runtime/active_run.json").exists(),
        "{point}={action}: active run left"
    );
    let h = ws.run(&["health", "--json"]).code(0).json();
    assert_eq!(h["status"], "pass", "{point}={action}: {h}");
    // No run stays "running": each finished, or was closed as abandoned.
    for e in std::fs::read_dir(ws.path("agents/runs")).unwrap() {
        let meta = e.unwrap().path().join("run.json");
        let Ok(text) = std::fs::read_to_string(&meta) else {
            continue;
        };
        let meta: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            !meta["finished_at"].is_null(),
            "{point}={action}: run {} stays running: {meta:#}",
            meta["run_id"]
        );
    }
}

#[test]
fn a_run_killed_before_its_pointer_is_closed_as_abandoned_and_names_its_successor() {
    let ws = Ws::new();
    ws.add("Only task");
    assert!(ws.killed_at(&["start", "--once"], "run.started"));
    let first = std::fs::read_dir(ws.path("agents/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    let r = ws.run(&["start", "--once", "--json"]).code(0).json();
    let second = r["run"]["run_id"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    assert_eq!(r["run"]["terminal"], "archived");
    // That start, the next owner, closed the first before it ran the task.
    let meta: serde_json::Value =
        serde_json::from_str(&ws.read(&format!("agents/runs/{first}/run.json"))).unwrap();
    assert_eq!(meta["state"], "abandoned", "{meta:#}");
    let p = ws.run(&["run-provenance", &first, "--json"]).code(0).stdout;
    assert!(p.contains("run.abandoned"), "{p}");
    let history = ws.read(&format!("agents/runs/{first}/transition_history.jsonl"));
    let last: serde_json::Value = serde_json::from_str(history.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "run.abandoned");
    let why = last["failure"].as_str().unwrap();
    assert!(
        why.starts_with("abandoned: the run never became the active run")
            && why.contains("its task runs again under a new run"),
        "{why}"
    );
}

#[test]
fn a_kill_at_any_durable_write_converges() {
    for point in POINTS {
        scenario(point, "abort");
    }
}

#[test]
fn an_io_error_at_any_durable_write_converges() {
    for point in POINTS {
        scenario(point, "eio");
    }
}

#[test]
fn a_full_disk_mid_append_converges_without_a_torn_card() {
    scenario("append.torn", "torn");
    scenario("journal.apply#3", "enospc");
}

#[test]
fn leftovers_of_crashed_writers_are_swept_under_the_lock() {
    let ws = Ws::new();
    let tmp = ws.path("agents/.millrace-abc123.tmp");
    let fresh = ws.path("agents/.millrace-fresh.tmp");
    let run = ws.path("agents/runs/20260101T000000000000Z__dead");
    std::fs::write(&tmp, "half").unwrap();
    std::fs::write(&fresh, "a writer at work").unwrap();
    std::fs::create_dir_all(&run).unwrap();
    // A run directory with records in it but not our plan (v0.2.0's runs
    // look like this) is never removed.
    let v020 = ws.path("agents/runs/run-v020-finished");
    std::fs::create_dir_all(&v020).unwrap();
    std::fs::write(v020.join("run.json"), "{\"run_id\": \"run-v020-finished\"}").unwrap();
    // Two minutes older than a file written now, by the file system's
    // clock (not the wall clock, which a faked clock moves).
    let now = std::fs::metadata(&fresh).unwrap().modified().unwrap();
    for p in [&tmp, &run, &v020] {
        std::fs::File::open(p)
            .unwrap()
            .set_modified(now - std::time::Duration::from_secs(120))
            .unwrap();
    }
    ws.run(&["start", "--once"]).code(0);
    assert!(!tmp.exists(), "an old temp file was left");
    assert!(
        !run.exists(),
        "an empty run directory without its plan was left"
    );
    assert!(
        v020.join("run.json").exists(),
        "a run directory with records was removed"
    );
    assert!(
        fresh.exists(),
        "a young temp file may be a writer's at work"
    );
}

#[test]
fn a_kill_during_a_quarantine_converges_with_every_card_frozen_once() {
    for point in [
        "journal.written#2",
        "journal.apply#3",
        "journal.apply#6",
        "run.finished",
    ] {
        let ws = Ws::new();
        for t in TITLES {
            ws.add(t);
        }
        ws.script("builder", &["BLOCKED"]);
        ws.script("troubleshoot", &["BLOCKED"]);
        ws.script("consult", &["NEEDS_RESEARCH"]);
        let out = ws
            .command(&["start", "--once"])
            .env("MILLRACE_FAILPOINTS", format!("{point}=abort"))
            .output_within();
        assert!(!out.status.success(), "{point} did not fire");
        ws.run(&["start", "--once"]).code(0);
        let backburner = ws.read("agents/tasksbackburner.md");
        for t in TITLES {
            assert_eq!(
                backburner.matches(&format!(" - {t}\n")).count(),
                1,
                "{point}: `{t}` not frozen exactly once:\n{backburner}"
            );
            for store in ["tasks.md", "tasksbacklog.md", "tasksarchive.md"] {
                assert!(
                    !ws.read(&format!("agents/{store}")).contains(t),
                    "{point}: `{t}` in {store}"
                );
            }
        }
        assert!(
            !ws.path("agents/.runtime/active_run.json").exists(),
            "{point}"
        );
    }
}

#[test]
fn a_torn_add_task_append_is_replaced_not_followed() {
    let ws = Ws::new();
    ws.add("Before");
    let out = ws
        .command(&["add-task", "Torn"])
        .env("MILLRACE_FAILPOINTS", "append.torn=torn")
        .output_within();
    // The command failed, so nothing changed: the torn bytes are cut back
    // off, and the next append follows a whole file.
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing was changed"), "{err}");
    ws.add("After");
    let titles = ws.backlog_titles();
    let q = ws.run(&["queue", "inspect", "--json"]).code(0).json();
    assert_eq!(
        titles,
        ["Before", "After"],
        "{}",
        ws.read("agents/tasksbacklog.md")
    );
    assert!(q["warnings"].as_array().unwrap().is_empty(), "{q}");
}

#[test]
fn a_failed_add_task_changed_nothing_or_says_it_completes_later() {
    // EIO right after the journal is written: the append is undone, the
    // command fails saying so, and a retry adds the card once.
    let ws = Ws::new();
    let out = ws
        .command(&["add-task", "Retried"])
        .env("MILLRACE_FAILPOINTS", "journal.written=eio")
        .output_within();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("nothing was changed"), "{err}");
    ws.run(&["queue", "--json"]).code(0);
    assert_eq!(ws.cards_in("tasksbacklog.md"), 0);
    ws.run(&["add-task", "Retried"]).code(0);
    assert_eq!(ws.backlog_titles(), ["Retried"]);
    // EIO after the append, when only the journal's removal is left: the
    // command says the change completes at the next queue operation, and
    // it does.
    let out = ws
        .command(&["add-task", "Completed later"])
        .env("MILLRACE_FAILPOINTS", "journal.applied=eio")
        .output_within();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("completes at the next queue operation"),
        "{err}"
    );
    ws.run(&["queue", "--json"]).code(0);
    assert_eq!(ws.backlog_titles(), ["Retried", "Completed later"]);
    assert!(!ws.path("agents/.runtime/queue_journal.json").exists());
}
