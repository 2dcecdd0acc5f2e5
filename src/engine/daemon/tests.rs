//! Daemon unit tests: draining with a scripted runner, outages waited out
//! and paused on, probes recorded, a failing runner survived.

use std::sync::mpsc;

use super::*;
use crate::defs::layout::{Layout, TaskStore, DIRS};
use crate::runner::scripted::{Failing, Scripted};
use crate::store::cards::Card;

/// A workspace on disk with `titles` queued.
fn workspace(titles: &[&str]) -> (tempfile::TempDir, Workspace) {
    workspace_with(titles, "")
}

fn workspace_with(titles: &[&str], extra: &str) -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("millrace.toml");
    std::fs::write(
            &config,
            // No update with no task after the drain: these tests count runs.
            format!(
                "[engine]\npoll_interval_seconds = 1\n[execution]\nrun_update_on_empty = false\n{extra}"
            ),
        )
        .unwrap();
    let ws = Workspace::open(&config).unwrap();
    for d in DIRS {
        std::fs::create_dir_all(Layout::of(&ws.agents).rel(d)).unwrap();
    }
    let queue = Queue::new(&ws.agents);
    for t in titles {
        queue.add(Card::new("2026-11-24", t, None, None)).unwrap();
    }
    (dir, ws)
}

/// Runs a daemon on a thread; `until` is polled (bounded) before the
/// daemon is stopped with the STOP_AUTONOMY marker.
fn drive(
    ws: Workspace,
    adapter: Arc<dyn Adapter + Send + Sync>,
    until: impl Fn(&Workspace) -> bool,
) -> DaemonReport {
    let (tx, rx) = mpsc::channel();
    let daemon_ws = ws.clone();
    std::thread::spawn(move || {
        let options = Options {
            listener: None,
            adapter: Some(adapter),
        };
        let _ = tx.send(run(daemon_ws, options));
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !until(&ws) {
        assert!(Instant::now() < deadline, "condition not reached in 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(
        Layout::of(&ws.agents).stop_marker(crate::defs::layout::StopMarker::StopAutonomy),
        "",
    )
    .unwrap();
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the daemon stops")
        .expect("the daemon ends cleanly")
}

fn cards(ws: &Workspace, store: TaskStore) -> usize {
    std::fs::read_to_string(Layout::of(&ws.agents).store(store))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("## "))
        .count()
}

#[test]
fn drains_the_backlog_with_a_scripted_runner() {
    let (_dir, ws) = workspace(&["One", "Two", "Three"]);
    let agent = Arc::new(Scripted::new());
    let report = drive(ws.clone(), agent.clone(), |ws| {
        cards(ws, TaskStore::Archive) == 3
    });
    assert_eq!(report.runs_finished, 3);
    assert_eq!(report.stop_reason, "STOP_AUTONOMY");
    assert_eq!(agent.nodes().len(), 9, "{:?}", agent.nodes());
    let state = state::read(&ws.agents).unwrap();
    assert!(!state.process_running);
    assert_eq!(state.backlog_depth, 0);
}

fn events(ws: &Workspace) -> Vec<String> {
    std::fs::read_to_string(Layout::of(&ws.agents).events_log())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|e| e["type"].as_str().unwrap_or("").to_string())
        .collect()
}

fn paused_reason(ws: &Workspace) -> Option<String> {
    state::read(&ws.agents).and_then(|s| s.pause_reason)
}

#[test]
fn an_outage_is_waited_out_with_backoff_then_the_stage_retried() {
    use crate::runner::scripted::Reply;
    let (_dir, ws) = workspace_with(
        &["Flaky", "Next"],
        "[outage]\nwait_initial_seconds = 0\nmax_waits = 5\n",
    );
    let down = Reply::AgentError("unexpected status 503 Service Unavailable".into());
    let agent = Arc::new(Scripted::new().script("builder", [down.clone(), down]));
    let report = drive(ws.clone(), agent.clone(), |ws| {
        cards(ws, TaskStore::Archive) == 2
    });
    assert_eq!(report.runs_finished, 2);
    // The same node was retried; nothing was routed to recovery.
    let nodes = agent.nodes();
    assert_eq!(
        nodes[..4],
        ["builder", "builder", "builder", "qa"],
        "{nodes:?}"
    );
    assert!(!nodes.iter().any(|n| n == "troubleshoot"));
    let types = events(&ws);
    assert_eq!(types.iter().filter(|t| *t == "engine.net_wait").count(), 2);
}

#[test]
fn failed_outage_probes_are_recorded_and_reach_the_bundle() {
    let (_dir, ws) = workspace_with(
            &["Down"],
            "[outage]\nwait_initial_seconds = 0\nmax_waits = 3\nprobe_command = [\"false\", \"--secret-token\"]\n",
        );
    let failing = Arc::new(Failing(
        "unexpected status 500 Internal Server Error".into(),
    ));
    drive(ws.clone(), failing, |ws| {
        paused_reason(ws).is_some_and(|r| r.starts_with("net_wait_exhausted"))
    });
    let bundles: Vec<_> = std::fs::read_dir(Layout::of(&ws.agents).rel("diagnostics"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(crate::store::runs::OUTAGE_PROBES).exists())
        .collect();
    assert_eq!(bundles.len(), 1, "one bundle with the probes");
    let text = std::fs::read_to_string(bundles[0].join(crate::store::runs::OUTAGE_PROBES)).unwrap();
    let probes: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The first wait retries without a probe; each later one probes.
    assert!(probes.len() >= 2, "{text}");
    assert!(probes
        .iter()
        .all(|p| p["ready"] == false && p["program"] == "false"));
    assert!(!text.contains("secret-token"), "arguments are not recorded");
}

#[test]
fn repeated_outages_pause_the_daemon_with_the_reason() {
    let (_dir, ws) = workspace_with(
        &["Down", "Queued"],
        "[outage]\nwait_initial_seconds = 0\nmax_waits = 2\n",
    );
    let failing = Arc::new(Failing(
        "unexpected status 500 Internal Server Error".into(),
    ));
    drive(ws.clone(), failing, |ws| {
        paused_reason(ws).is_some_and(|r| r.starts_with("net_wait_exhausted"))
    });
    let types = events(&ws);
    let waits = types.iter().filter(|t| *t == "engine.net_wait").count();
    assert_eq!(waits, 2, "{types:?}");
    assert!(types.iter().any(|t| t == "engine.paused"));
    assert_eq!(
        cards(&ws, TaskStore::Backlog),
        1,
        "the backlog is untouched"
    );
    assert_eq!(cards(&ws, TaskStore::Active), 1);
    let status = crate::store::status::read(&ws.agents, Plane::Execution).unwrap();
    assert_eq!(status, "NET_WAIT");
}

#[test]
fn a_bad_key_pauses_at_once() {
    let (_dir, ws) = workspace(&["Key"]);
    let failing = Arc::new(Failing("401 Incorrect API key provided".into()));
    drive(ws.clone(), failing, |ws| {
        paused_reason(ws).is_some_and(|r| r.starts_with("env_blocked: auth"))
    });
    assert!(!events(&ws).iter().any(|t| t == "engine.net_wait"));
    let status = crate::store::status::read(&ws.agents, Plane::Execution).unwrap();
    assert_eq!(status, "ENV_BLOCKED");
}

#[test]
fn a_failing_runner_does_not_take_the_daemon_down() {
    let (_dir, ws) = workspace(&["Doomed", "Frozen"]);
    let report = drive(
        ws.clone(),
        Arc::new(Failing("provider down".into())),
        |ws| cards(ws, TaskStore::Blocker) == 1,
    );
    assert_eq!(report.runs_finished, 1);
    // The backlog was frozen with the failed task, as v0.2.0 does.
    assert_eq!(cards(&ws, TaskStore::Backlog), 0);
}
