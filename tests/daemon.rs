//! Integration tests of `start --daemon`: the real binary, fake agents on
//! PATH, operators in other processes.

mod support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::{wait_for, Ws};

/// A daemon child that is killed if a test fails before stopping it.
struct Daemon(Option<Child>);

impl Daemon {
    fn start(ws: &Ws) -> Daemon {
        Daemon::start_with_log(ws, "warn")
    }

    /// With `RUST_LOG=<log>` (the daemon's log goes to stderr).
    fn start_with_log(ws: &Ws, log: &str) -> Daemon {
        let child = ws
            .command(&["start", "--daemon"])
            .env("RUST_LOG", log)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let d = Daemon(Some(child));
        until(
            10,
            || ws.path("agents/.runtime/state.json").exists(),
            "daemon state",
        );
        d
    }

    /// Waits for the daemon to exit; returns its stdout.
    fn wait(self, secs: u64) -> (bool, String) {
        let (ok, stdout, _) = self.wait_output(secs);
        (ok, stdout)
    }

    /// Waits for the daemon to exit; returns its stdout and stderr.
    fn wait_output(mut self, secs: u64) -> (bool, String, String) {
        let mut child = self.0.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let out = support::output_of(child);
                return (
                    status.success(),
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                );
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not exit within {secs}s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill9(mut self) {
        let mut child = self.0.take().unwrap();
        child.kill().unwrap();
        support::wait_within(&mut child);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[track_caller]
fn until(secs: u64, mut cond: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn state(ws: &Ws) -> serde_json::Value {
    serde_json::from_str(&ws.read("agents/.runtime/state_millrace.json")).unwrap_or_default()
}

#[test]
fn drains_30_queued_tasks_without_idle_gaps() {
    let ws = Ws::new();
    for i in 0..30 {
        ws.add(&format!("Queued task {i}"));
    }
    let d = Daemon::start(&ws);
    until(
        120,
        || ws.cards_in("tasksarchive.md") == 30,
        "30 archived tasks",
    );
    ws.run(&["stop"]).code(0);
    let (ok, out) = d.wait(30);
    assert!(ok);
    assert!(out.contains("30 run(s) finished"), "{out}");
    // between archiving one task and promoting the next, the daemon does not idle
    let events = ws.events();
    let ts = |e: &serde_json::Value| {
        e["timestamp"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
    };
    let mut worst = Duration::ZERO;
    for (i, e) in events.iter().enumerate() {
        if e["type"] == "execution.task.archived" {
            if let Some(next) = events[i..]
                .iter()
                .find(|n| n["type"] == "execution.task.promoted")
            {
                let gap = ts(next).duration_since(ts(e));
                worst = worst.max(Duration::try_from(gap).unwrap());
            }
        }
    }
    // An idle daemon sleeps until a wake or 5 × poll_interval_seconds
    // (300 s by default); any gap far below that means it went straight on.
    assert!(
        worst < Duration::from_secs(30),
        "idle gap of {worst:?} between tasks"
    );
    assert_eq!(state(&ws)["process_running"], false);
}

#[test]
fn commands_go_through_the_mailbox_and_pause_holds_the_next_stage() {
    let ws = Ws::new();
    ws.add("First");
    ws.script("builder", &["WAITGO", "BUILDER_COMPLETE"]);
    let d = Daemon::start(&ws);
    wait_for(&ws.path("fake/builder.started"), 30);

    let add = ws
        .run(&["add-task", "Added while running", "--json"])
        .code(0)
        .json();
    assert_eq!(
        (add["mode"].as_str(), add["applied"].as_bool()),
        (Some("mailbox"), Some(true))
    );
    assert!(add["command_id"].as_str().unwrap().ends_with("__add_task"));
    let pause = ws.run(&["pause"]).code(0);
    assert!(
        pause.stdout.contains("Mode: mailbox") && pause.stdout.contains("Message: engine paused"),
        "{}",
        pause.stdout
    );
    assert!(ws
        .run(&["pause"])
        .code(0)
        .stdout
        .contains("engine already paused"));
    ws.write("fake/go", "");
    // the builder stage finishes; nothing new starts while paused
    until(
        20,
        || ws.trace().len() == 1 && ws.read("agents/status.md").contains("BUILDER_COMPLETE"),
        "builder done",
    );
    let status = ws.run(&["status", "--json"]).code(0).json();
    assert_eq!(status["daemon"]["paused"], true);
    assert_eq!(status["runtime"]["process_running"], true);

    ws.run(&["resume"]).code(0);
    until(
        60,
        || ws.cards_in("tasksarchive.md") == 2,
        "both tasks archived",
    );
    ws.run(&["stop"]).code(0);
    assert!(d.wait(30).0);
    // Event order, not timing: while paused no stage started; the next one
    // started only after the resume.
    let types = ws.event_types();
    let at = |t: &str| types.iter().position(|x| x == t).unwrap();
    let starts: Vec<usize> = types
        .iter()
        .enumerate()
        .filter(|(_, t)| *t == "execution.stage.started")
        .map(|(i, _)| i)
        .collect();
    let (paused, resumed) = (at("engine.paused"), at("engine.resumed"));
    assert!(
        starts.iter().all(|i| *i < paused || *i > resumed),
        "a stage started while paused: {types:?}"
    );
    assert!(starts.iter().any(|i| *i > resumed), "{types:?}");
    let processed = std::fs::read_dir(ws.path("agents/.runtime/commands/processed"))
        .unwrap()
        .count();
    assert_eq!(processed, 5, "add, pause, pause, resume, stop");
    let types = ws.event_types();
    for t in [
        "control.command.received",
        "control.command.applied",
        "engine.paused",
        "engine.resumed",
    ] {
        assert!(types.iter().any(|x| x == t), "{t} missing");
    }
    // every event is mirrored in the history log
    assert!(ws
        .read("agents/historylog.md")
        .contains("[execution.task.archived]"));
}

#[test]
fn stop_during_a_long_stage_leaves_the_run_resumable() {
    let ws = Ws::new();
    ws.set_stop_grace(1);
    ws.add("Long");
    ws.script("builder", &["SLEEP", "BUILDER_COMPLETE"]);
    let d = Daemon::start(&ws);
    wait_for(&ws.path("fake/builder.child.pid"), 30);
    ws.run(&["stop"]).code(0);
    // The stage sleeps for 60 s; the daemon ends it after the 1 s grace.
    let (ok, out) = d.wait(30);
    assert!(ok, "{out}");
    assert!(out.contains("1 interrupted"), "{out}");
    let types = ws.event_types();
    let at = |t: &str| types.iter().position(|x| x == t);
    assert!(
        at("execution.run.interrupted") < at("engine.stopped"),
        "{types:?}"
    );
    assert_eq!(state(&ws)["process_running"], false);
    let child: u32 = ws.read("fake/builder.child.pid").trim().parse().unwrap();
    assert!(
        !support::running(child),
        "the stage's process group was killed"
    );
    assert!(
        ws.path("agents/.runtime/active_run.json").exists(),
        "the run stays resumable"
    );
    let r = ws.run(&["start", "--once", "--json"]).code(0).json();
    assert_eq!(
        (r["outcome"].as_str(), r["run"]["terminal"].as_str()),
        (Some("resumed"), Some("archived"))
    );
    assert_eq!(ws.nodes_visited(), ["builder", "builder", "qa", "update"]);
}

#[test]
fn malformed_mailbox_commands_fail_and_the_daemon_keeps_running() {
    let ws = Ws::new();
    let d = Daemon::start(&ws);
    ws.write("agents/.runtime/commands/incoming/bad.json", "{not json");
    ws.write(
        "agents/.runtime/commands/incoming/unknown.json",
        r#"{"command_id":"x","issued_at":"t","command":"explode","payload":{},"issuer":"cli"}"#,
    );
    ws.write(
        "agents/.runtime/commands/incoming/huge.json",
        &"x".repeat(3_000_000),
    );
    // A fifo and a directory are refused without blocking the daemon.
    let fifo = ws.path("agents/.runtime/commands/incoming/fifo.json");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    std::fs::create_dir(ws.path("agents/.runtime/commands/incoming/dir.json")).unwrap();
    until(
        10,
        || {
            // Temp files of records being written do not count.
            std::fs::read_dir(ws.path("agents/.runtime/commands/failed"))
                .map(|d| {
                    d.flatten()
                        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                        .count()
                })
                .unwrap_or(0)
                == 6
        },
        "5 failed (and the refused directory moved aside)",
    );
    assert!(ws
        .read("agents/.runtime/commands/failed/fifo.json")
        .contains("a fifo"));
    let failed = ws.read("agents/.runtime/commands/failed/unknown.json");
    assert!(failed.contains("unknown command `explode`"), "{failed}");
    assert!(ws
        .read("agents/.runtime/commands/failed/bad.json")
        .contains("malformed JSON"));
    assert!(ws
        .read("agents/.runtime/commands/failed/huge.json")
        .contains("oversized"));
    // still alive and obeying
    ws.add("After the junk");
    until(30, || ws.cards_in("tasksarchive.md") == 1, "task archived");
    ws.run(&["stop"]).code(0);
    assert!(d.wait(30).0);
}

#[test]
fn a_second_daemon_is_refused_and_a_killed_one_is_resumed() {
    let ws = Ws::new();
    ws.add("Survivor");
    ws.script("qa", &["WAITGO", "QA_COMPLETE"]);
    let d = Daemon::start(&ws);
    wait_for(&ws.path("fake/qa.started"), 30);
    let second = ws.run(&["start", "--daemon"]).code(1);
    assert!(
        second
            .stderr
            .contains("another millrace process owns this workspace"),
        "{}",
        second.stderr
    );
    ws.run(&["start", "--once"]).code(1);
    d.kill9();
    let agent: u32 = ws.read("fake/qa.pid").trim().parse().unwrap();
    let _ = std::process::Command::new("kill")
        .arg("-9")
        .arg(agent.to_string())
        .status();
    // a stale state.json must not fool the CLI: commands act directly
    let op = ws.run(&["pause", "--json"]).code(0).json();
    assert_eq!(
        (op["mode"].as_str(), op["message"].as_str()),
        (Some("direct"), Some("engine is not running"))
    );

    let d = Daemon::start(&ws);
    until(
        30,
        || ws.cards_in("tasksarchive.md") == 1,
        "the interrupted run finished",
    );
    ws.run(&["stop"]).code(0);
    assert!(d.wait(30).0);
    assert_eq!(ws.nodes_visited(), ["builder", "qa", "qa", "update"]);
    assert_eq!(ws.cards_in("tasks.md") + ws.cards_in("tasksbacklog.md"), 0);
}

#[test]
fn a_broken_edit_stops_new_runs_until_fixed() {
    let ws = Ws::new();
    let d = Daemon::start(&ws);
    // an overlay with an unbounded cycle
    ws.write(
        "agents/registry/loops/standard.yaml",
        "id: standard\nplane: execution\nextends: standard\nedges:\n  - { from: update, on: [UPDATE_COMPLETE], to: builder }\n",
    );
    ws.add("Must wait");
    until(
        20,
        || state(&ws)["plan_problem"].is_string(),
        "plan problem reported",
    );
    assert!(ws.trace().is_empty(), "no run starts on a stale plan");
    let status = ws.run(&["status"]).code(0).stdout;
    assert!(
        status.contains("Daemon is not starting runs: the plan does not compile"),
        "{status}"
    );
    let stale = ws
        .events()
        .into_iter()
        .find(|e| e["type"] == "plan.stale")
        .expect("plan.stale event");
    assert!(
        stale["payload"]["errors"][0]
            .as_str()
            .unwrap()
            .contains("graph.unbounded_cycle"),
        "{stale}"
    );

    std::fs::remove_file(ws.path("agents/registry/loops/standard.yaml")).unwrap();
    until(
        30,
        || ws.cards_in("tasksarchive.md") == 1,
        "work resumes once fixed",
    );
    // Event order: the only stage starts came after the plan recovered.
    let types = ws.event_types();
    let recovered = types.iter().position(|t| t == "plan.recovered").unwrap();
    let first_start = types
        .iter()
        .position(|t| t == "execution.stage.started")
        .unwrap();
    assert!(recovered < first_start, "{types:?}");
    ws.run(&["stop"]).code(0);
    assert!(d.wait(30).0);
}

#[test]
fn config_set_validates_and_reaches_a_running_daemon() {
    let ws = Ws::new();
    // direct mode: validated before it is written
    let bad = ws
        .run(&["config", "set", "engine.poll_intervall_seconds", "5"])
        .code(1);
    assert!(
        bad.stderr
            .contains("unknown config key segment: poll_intervall_seconds"),
        "{}",
        bad.stderr
    );
    ws.run(&["config", "set", "engine.poll_interval_seconds", "soon"])
        .code(1);
    let ok = ws
        .run(&["config", "set", "stages.qa.model", "o9", "--json"])
        .code(0)
        .json();
    assert_eq!(
        (ok["mode"].as_str(), ok["applied"].as_bool()),
        (Some("direct"), Some(true))
    );
    assert!(ws
        .read("millrace.toml")
        .contains("[stages.qa]\nmodel = \"o9\""));
    let shown = ws.run(&["config", "show", "--json"]).code(0).json();
    assert_eq!(shown["config"]["stages"]["qa"]["model"], "o9");

    let d = Daemon::start(&ws);
    let via = ws
        .run(&[
            "config",
            "set",
            "engine.poll_interval_seconds",
            "7",
            "--json",
        ])
        .code(0)
        .json();
    assert_eq!(via["mode"], "mailbox");
    let refused = ws
        .run(&["config", "set", "paths.agents_dir", "elsewhere"])
        .code(1);
    assert!(
        refused
            .stderr
            .contains("cannot change startup-only field at runtime"),
        "{}",
        refused.stderr
    );
    assert!(ws
        .run(&["config", "reload"])
        .code(0)
        .stdout
        .contains("config already current"));
    ws.add("Uses the new model");
    until(30, || ws.cards_in("tasksarchive.md") == 1, "task archived");
    ws.run(&["stop"]).code(0);
    assert!(d.wait(30).0);
    assert!(
        ws.read("fake-calls.log")
            .lines()
            .nth(1)
            .unwrap()
            .contains("-m o9"),
        "qa ran with the configured model"
    );
}

/// Runs `logs --follow --json` for `limit` new events while adding tasks
/// titled `<prefix> <n>` until it ends (it may start before or after any
/// add; --idle-timeout and the bounded wait keep it from hanging). Returns
/// the titles it saw and how many tasks were added.
fn follow_adds(ws: &Ws, limit: usize, prefix: &str) -> (Vec<String>, usize) {
    let mut follower = ws
        .command(&[
            "logs",
            "--follow",
            "--tail",
            "0",
            "--limit",
            &limit.to_string(),
            "--idle-timeout",
            "30",
            "--json",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut added = 0;
    until(
        120,
        || {
            if follower.try_wait().unwrap().is_some() {
                return true;
            }
            ws.add(&format!("{prefix} {added}"));
            added += 1;
            false
        },
        "the follower to see its events",
    );
    let out = support::output_of(follower);
    let titles = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|e| e["payload"]["title"].as_str().unwrap_or("").to_string())
        .collect();
    (titles, added)
}

#[test]
fn logs_follow_streams_new_events() {
    let ws = Ws::new();
    let (titles, _) = follow_adds(&ws, 2, "Task");
    assert_eq!(titles.len(), 2, "{titles:?}");
    let k: u32 = titles[0].trim_start_matches("Task ").parse().unwrap();
    assert_eq!(titles[1], format!("Task {}", k + 1));
    let idle = ws
        .run(&["logs", "--follow", "--tail", "1", "--idle-timeout", "0.2"])
        .code(0);
    assert_eq!(idle.stdout.lines().count(), 1);
}

#[test]
fn the_event_log_rotates_and_logs_and_follow_read_across_rotations() {
    let ws = Ws::new();
    ws.run(&["config", "set", "engine.event_log_max_bytes", "1500"])
        .code(0);
    ws.run(&["config", "set", "engine.event_log_keep", "50"])
        .code(0);
    // The follower must see 40 consecutive task.added events, however many
    // rotations (one every ~6 events) happen while it follows.
    let (titles, added) = follow_adds(&ws, 40, "Rotating task");
    let rotated = ws.path("agents/engine_events.1.log");
    assert!(rotated.exists(), "the log was rotated");
    assert!(
        std::fs::metadata(ws.path("agents/engine_events.log"))
            .unwrap()
            .len()
            < 3000,
        "the live log stays near its bound"
    );
    let first: usize = titles[0]
        .trim_start_matches("Rotating task ")
        .parse()
        .unwrap();
    let expected: Vec<String> = (first..first + 40)
        .map(|n| format!("Rotating task {n}"))
        .collect();
    assert_eq!(
        titles, expected,
        "the follower saw every event once, in order"
    );
    // `logs --tail` reads back across the rotated files, in order.
    let expected: Vec<String> = (added - 40..added)
        .map(|n| format!("Rotating task {n}"))
        .collect();
    let tail = ws.run(&["logs", "--tail", "40", "--json"]).code(0).json();
    let titles: Vec<&str> = tail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, expected);
    let text = ws.run(&["logs", "--tail", "2"]).code(0).stdout;
    assert_eq!(text.lines().count(), 2);
    assert!(
        text.contains(&format!("Rotating task {}", added - 1)),
        "{text}"
    );
}

#[test]
fn sigterm_stops_the_daemon_gracefully() {
    let ws = Ws::new();
    let d = Daemon::start(&ws);
    let pid = d.0.as_ref().unwrap().id();
    std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    let (ok, out) = d.wait(30);
    assert!(ok && out.contains("daemon stopped (SIGTERM)"), "{out}");
    assert_eq!(state(&ws)["process_running"], false);
    assert!(ws.event_types().ends_with(&["engine.stopped".to_string()]));
    // and a STOP_AUTONOMY marker file stops a new one
    let d = Daemon::start(&ws);
    ws.write("agents/STOP_AUTONOMY", "");
    let (ok, out) = d.wait(30);
    assert!(ok && out.contains("STOP_AUTONOMY"), "{out}");
}

#[test]
fn fifty_parallel_add_tasks_through_the_mailbox_lose_none() {
    let ws = Ws::new();
    let d = Daemon::start(&ws);
    ws.run(&["pause"]).code(0);
    let rounds = 20;
    for round in 0..rounds {
        let children: Vec<_> = (0..50)
            .map(|i| {
                ws.command(&["add-task", &format!("Round {round} task {i}"), "--json"])
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut ids = std::collections::HashSet::new();
        for c in children {
            let out = support::output_of(c);
            assert!(out.status.success());
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["mode"], "mailbox");
            // Each CLI reports its own task, never another's.
            assert!(ids.insert(v["payload"]["task_id"].as_str().unwrap().to_string()));
        }
    }
    let q = ws.run(&["queue", "--json"]).code(0).json();
    assert_eq!(q["backlog_depth"], 50 * rounds);
    ws.run(&["stop"]).code(0);
    assert!(d.wait(30).0);
}

#[test]
fn a_stop_left_for_a_dead_daemon_does_not_stop_the_next() {
    let ws = Ws::new();
    ws.write(
        "agents/.runtime/commands/incoming/old__stop.json",
        r#"{"command_id":"old__stop","issued_at":"2026-01-01T00:00:00.000000Z","command":"stop","payload":{},"issuer":"cli"}"#,
    );
    let d = Daemon::start(&ws);
    until(
        10,
        || {
            ws.path("agents/.runtime/commands/failed/old__stop.json")
                .exists()
        },
        "the stale stop failed",
    );
    assert!(ws
        .read("agents/.runtime/commands/failed/old__stop.json")
        .contains("stale"));
    ws.add("Still served");
    until(30, || ws.cards_in("tasksarchive.md") == 1, "task archived");
    ws.run(&["stop"]).code(0);
    assert!(d.wait(30).0);
}

#[test]
fn a_budget_cap_pauses_the_daemon_and_raising_it_then_resume_continues_the_run() {
    let ws = Ws::new();
    ws.write(
        "agents/registry/modes/viaclaude.yaml",
        "id: viaclaude\nloops: { execution: standard }\ndefaults: { runner: claude, model: sonnet }\n",
    );
    ws.run(&["config", "set", "plan.mode", "viaclaude"]).code(0);
    ws.run(&["config", "set", "budget.task.usd", "0.5"]).code(0);
    ws.write("fake/cost", "0.20");
    ws.add("Capped");
    let d = Daemon::start(&ws);
    until(
        30,
        || {
            state(&ws)["pause_reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("budget: budget.task.usd"))
        },
        "a budget pause",
    );
    assert_eq!(ws.nodes_visited(), ["builder", "qa"]);
    ws.run(&["config", "set", "budget.task.usd", "1"]).code(0);
    ws.run(&["resume"]).code(0);
    until(
        30,
        || ws.cards_in("tasksarchive.md") == 1,
        "the task archived",
    );
    assert_eq!(ws.nodes_visited(), ["builder", "qa", "update"]);
    ws.run(&["stop"]).code(0);
    assert!(d.wait(30).0);
}

/// With `execution.run_update_on_empty`, a daemon that drains its backlog
/// runs one update with no task, then idles (no update per poll).
#[test]
fn a_drained_daemon_runs_one_update_then_idles() {
    let ws = Ws::new();
    ws.run(&["config", "set", "execution.run_update_on_empty", "true"])
        .code(0);
    ws.run(&["config", "set", "engine.poll_interval_seconds", "1"])
        .code(0);
    ws.add("The only task");
    // `--monitor` prints a line per idle wake-up: the test waits for one
    // instead of sleeping through one.
    let monitor = ws.path("monitor.log");
    let mut child = ws
        .command(&["start", "--daemon", "--monitor"])
        .stdout(std::fs::File::create(&monitor).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let wakes = || {
        std::fs::read_to_string(&monitor)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" idle"))
            .count()
    };
    let update_runs = || {
        std::fs::read_dir(ws.path("agents/runs"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with("__update-empty"))
                    .count()
            })
            .unwrap_or(0)
    };
    until(30, || update_runs() == 1, "the update-on-empty run");
    until(
        30,
        || {
            ws.nodes_visited() == ["builder", "qa", "update", "update"]
                && !ws.path("agents/.runtime/active_run.json").exists()
        },
        "the update to finish",
    );
    // An idle daemon wakes at least every 5 × poll_interval_seconds: after
    // a wake-up that came after the update, still one.
    let seen = wakes();
    until(15, || wakes() > seen, "an idle wake-up after the update");
    assert_eq!(update_runs(), 1);
    ws.run(&["stop"]).code(0);
    assert!(support::wait_within(&mut child).success());
    let out = ws.read("monitor.log");
    assert!(out.contains("2 run(s) finished"), "{out}");
}

/// `engine.idle_mode = "poll"` (for file systems without inotify, such as
/// NFS): no watcher; the daemon still takes a command within a poll.
/// In watch mode an idea written in several writes is submitted once
/// within `watchers.debounce_seconds`.
#[test]
fn poll_mode_takes_work_without_a_watcher_and_ideas_are_debounced() {
    let ws = Ws::new();
    ws.run(&["config", "set", "engine.poll_interval_seconds", "1"])
        .code(0);
    let d = Daemon::start(&ws);
    let idea = ws.path("agents/ideas/raw/idea.md");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&idea).unwrap();
        for part in ["# An idea\n", "\nMore.\n", "\nAnd more.\n"] {
            f.write_all(part.as_bytes()).unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    until(
        10,
        || {
            ws.event_types()
                .iter()
                .any(|t| t == "handoff.idea_submitted")
        },
        "idea_submitted",
    );
    std::thread::sleep(Duration::from_millis(700));
    let submitted = ws
        .event_types()
        .iter()
        .filter(|t| *t == "handoff.idea_submitted")
        .count();
    assert_eq!(submitted, 1, "{:?}", ws.event_types());
    ws.run(&["stop"]).code(0);
    assert!(d.wait(30).0);

    ws.run(&["config", "set", "engine.idle_mode", "poll"])
        .code(0);
    let d = Daemon::start_with_log(&ws, "info");
    ws.add("Taken by polling");
    until(
        20,
        || ws.cards_in("tasksarchive.md") == 1,
        "the task archived",
    );
    ws.run(&["stop"]).code(0);
    let (ok, _, err) = d.wait_output(30);
    assert!(ok, "{err}");
    assert!(err.contains("engine.idle_mode = \"poll\""), "{err}");
}

/// A stage that edits `millrace.toml` or a registry overlay is not
/// trusted: `start --once` exits 3 naming the file, the daemon pauses with
/// the paths and a hint, and nothing runs until the operator resumes.
#[test]
fn a_stage_that_edits_the_runtimes_files_pauses_with_the_paths() {
    let ws = Ws::new();
    ws.add("Sneaky");
    ws.script("builder", &["TAMPER millrace.toml", "TAMPER millrace.toml"]);
    let r = ws.run(&["start", "--once"]).code(3);
    assert!(r.stderr.contains("millrace.toml (changed)"), "{}", r.stderr);
    assert!(r.stderr.contains("not trusted"), "{}", r.stderr);
    assert_eq!(
        ws.nodes_visited(),
        ["builder"],
        "qa never ran on a tampered outcome"
    );
    let history: Vec<serde_json::Value> = std::fs::read_dir(ws.path("agents/runs"))
        .unwrap()
        .flatten()
        .flat_map(|d| {
            std::fs::read_to_string(d.path().join("transition_history.jsonl"))
                .unwrap_or_default()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        history.iter().any(|t| t["class"] == "tamper"),
        "{history:#?}"
    );

    // The daemon: an overlay edited by the stage pauses it.
    let ws = Ws::new();
    ws.add("Sneaky overlay");
    ws.write(
        "agents/registry/loops/mine.yaml",
        "id: mine\nplane: execution\nextends: standard\n",
    );
    ws.script("builder", &["TAMPER agents/registry/loops/mine.yaml"]);
    let d = Daemon::start(&ws);
    until(
        30,
        || ws.events().iter().any(|e| e["type"] == "engine.paused"),
        "a pause",
    );
    let paused = ws
        .events()
        .into_iter()
        .find(|e| e["type"] == "engine.paused")
        .unwrap();
    let reason = paused["payload"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("registry/loops/mine.yaml (changed)"),
        "{paused}"
    );
    assert_eq!(paused["payload"]["class"], "tamper");
    assert!(paused["payload"]["hint"]
        .as_str()
        .unwrap()
        .contains("resume"));
    assert_eq!(ws.nodes_visited(), ["builder"]);
    ws.run(&["stop"]).code(0);
    assert!(d.wait(30).0);
}

/// While a stage runs, the mailbox (which that stage's agent can write)
/// does not change a key that names a program.
#[test]
fn programs_are_not_changed_through_the_mailbox_while_a_stage_runs() {
    let ws = Ws::new();
    ws.add("Long");
    ws.script("builder", &["WAITGO"]);
    let d = Daemon::start(&ws);
    support::wait_for(&ws.path("fake/builder.started"), 30);
    let r = ws.run(&[
        "config",
        "set",
        "notify.command",
        "[\"sh\", \"-c\", \"id\"]",
    ]);
    assert_ne!(r.out.status.code(), Some(0), "{}", r.stdout);
    assert!(r.stderr.contains("while a stage runs"), "{}", r.stderr);
    assert!(!ws.read("millrace.toml").contains("[notify]"));
    // Other keys still apply at the next run.
    ws.run(&["config", "set", "budget.task.usd", "5"]).code(0);
    ws.write("fake/go", "");
    until(
        30,
        || ws.cards_in("tasksarchive.md") == 1,
        "the task archived",
    );
    ws.run(&["stop"]).code(0);
    assert!(d.wait(30).0);
}

/// v0.2.0's pending `add_idea {file}` envelopes: a file inside the
/// workspace becomes an idea (the event names the origin); one outside is
/// set aside, said on stderr and named by `health`.
#[test]
fn v020_add_idea_envelopes_become_ideas_or_are_set_aside_loudly() {
    let ws = Ws::new();
    let inside = ws.path("notes/idea.md");
    ws.write("notes/idea.md", "# An idea from v0.2.0\n");
    let outside = ws.dir.path().join("secret.md");
    std::fs::write(&outside, "outside\n").unwrap();
    let incoming = ws.path("agents/.runtime/commands/incoming");
    for (id, file) in [
        ("20260101T000000000000Z__add_idea", &inside),
        ("20260101T000000000001Z__add_idea", &outside),
    ] {
        let env = serde_json::json!({
            "command_id": id, "issued_at": "2026-01-01T00:00:00Z", "command": "add_idea",
            "payload": {"file": file.to_str().unwrap()}, "issuer": "cli"
        });
        std::fs::write(incoming.join(format!("{id}.json")), env.to_string()).unwrap();
    }
    let d = Daemon::start(&ws);
    until(
        30,
        || std::fs::read_dir(&incoming).unwrap().count() == 0,
        "both envelopes processed",
    );
    ws.run(&["stop"]).code(0);
    let (ok, _out, err) = d.wait_output(30);
    assert!(ok);
    assert!(err.contains("not applied"), "{err}");
    let raw: Vec<String> = std::fs::read_dir(ws.path("agents/ideas/raw"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    let finished: Vec<String> = [
        "agents/ideas/raw",
        "agents/ideas/finished",
        "agents/ideas/archived",
    ]
    .iter()
    .flat_map(|d| {
        std::fs::read_dir(ws.path(d))
            .into_iter()
            .flatten()
            .flatten()
    })
    .map(|e| e.file_name().to_string_lossy().into_owned())
    .collect();
    assert!(
        raw.iter().any(|t| t.contains("An idea from v0.2.0"))
            || finished.iter().any(|n| n.contains("idea.md")),
        "{raw:?} {finished:?}"
    );
    assert!(ws
        .events()
        .iter()
        .any(|e| e["type"] == "control.command.received"
            && e["payload"]["issuer"] == "v0.2.0 envelope"));
    let health = ws.run(&["health", "--json"]).json();
    let failed = health["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check_id"] == "mailbox.failed")
        .cloned()
        .unwrap_or_default();
    assert_eq!(failed["status"], "warn", "{health:#}");
    assert!(failed["details"][0]
        .as_str()
        .unwrap()
        .contains("000001Z__add_idea"));
}
