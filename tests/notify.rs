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
