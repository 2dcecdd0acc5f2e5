//! Notifications through the real binary: one per notifiable event, most
//! urgent first, each with an idempotency key; a kill between delivering
//! and recording the cursor repeats (never loses) a notification.

mod support;

use support::Ws;

/// A workspace whose notify command appends each notification to `notes.log`.
fn notified() -> Ws {
    let ws = Ws::new();
    ws.append_config("[notify]\ncommand = [\"sh\", \"-c\", \"cat >> notes.log\"]\n");
    ws
}

fn notes(ws: &Ws) -> Vec<serde_json::Value> {
    ws.read("notes.log")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn each_notifiable_event_is_sent_once_most_urgent_first() {
    let ws = notified();
    ws.add("First");
    ws.add("Hopeless");
    ws.run(&["start", "--once"]).code(0);
    let n = notes(&ws);
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0]["class"], "run_finished");
    assert_eq!(n[0]["event"]["payload"]["title"], "First");
    ws.script("qa", &["QUICKFIX_NEEDED"]);
    ws.script("doublecheck", &["QUICKFIX_NEEDED"]);
    ws.script("troubleshoot", &["BLOCKED"]);
    ws.script("consult", &["NEEDS_RESEARCH"]);
    ws.run(&["start", "--once"]).code(0);
    let n = notes(&ws);
    assert_eq!(n.len(), 2, "{n:?}");
    assert_eq!(n[1]["class"], "run_failed");
    // Nothing new: nothing sent.
    ws.run(&["start", "--once"]).code(0);
    assert_eq!(notes(&ws).len(), 2);
    let keys: std::collections::BTreeSet<&str> =
        n.iter().map(|x| x["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), 2);
}

#[test]
fn a_kill_before_the_cursor_is_saved_repeats_with_the_same_key_and_loses_nothing() {
    let ws = notified();
    ws.add("One");
    assert!(ws.killed_at(&["start", "--once"], "notify.cursor#2"));
    assert_eq!(notes(&ws).len(), 1, "delivered before the kill");
    ws.add("Two");
    ws.run(&["start", "--once"]).code(0);
    let n = notes(&ws);
    let titles: Vec<&str> = n
        .iter()
        .map(|x| x["event"]["payload"]["title"].as_str().unwrap())
        .collect();
    // `One` again (same key: a receiver drops it), then `Two`; none lost.
    assert_eq!(titles, ["One", "One", "Two"]);
    assert_eq!(n[0]["key"], n[1]["key"]);
    let unique: std::collections::BTreeSet<&str> =
        n.iter().map(|x| x["key"].as_str().unwrap()).collect();
    assert_eq!(unique.len(), 2);
}

/// A notifier that hangs and never reads its stdin delays no task and
/// blocks no `stop`; at the stop it is killed with what it started, and
/// its notifications are delivered again later (at least once).
#[test]
fn a_hung_notifier_delays_no_task_and_blocks_no_stop() {
    use std::time::{Duration, Instant};
    let ws = Ws::new();
    ws.append_config(
        "[notify]\ncommand = [\"sh\", \"-c\", \"sleep 30 & echo $! >> notifier.pids; echo $$ >> notifier.pids; wait\"]\n",
    );
    for t in ["One", "Two", "Three"] {
        ws.add(t);
    }
    let child = ws
        .command(&["start", "--daemon"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while ws.cards_in("tasksarchive.md") < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "tasks waited on the notifier: {} archived",
            ws.cards_in("tasksarchive.md")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A large event must not wedge anything either: the notifier is
    // running (and not reading) by now.
    support::wait_for(&ws.path("notifier.pids"), 10);
    ws.run(&["stop"]).code(0);
    let stopping = Instant::now();
    let out = support::output_of(child);
    assert!(out.status.success());
    assert!(
        stopping.elapsed() < Duration::from_secs(6),
        "stop took {:?}",
        stopping.elapsed()
    );
    std::thread::sleep(Duration::from_millis(200));
    for pid in ws.read("notifier.pids").lines() {
        let pid: u32 = pid.trim().parse().unwrap();
        assert!(
            !support::running(pid),
            "notifier process {pid} left running"
        );
    }
}
