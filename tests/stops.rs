//! Every stop is recorded as what it was, for every runner: `start --once`
//! interrupted by SIGTERM or SIGINT while a Claude, Pi or Codex stage runs.
//! The fake agent exits 143 on SIGTERM (as Claude Code does) after a tool
//! call moved to its own session (`setsid`, as Claude Code 2.1.197's Bash
//! tool does). The run records `interrupted` (not a task failure), nothing
//! the stage started survives, and the next start resumes the same stage.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{output_of, running, wait_for, Ws};

fn history(ws: &Ws, run_id: &str) -> Vec<serde_json::Value> {
    ws.read(&format!("agents/runs/{run_id}/transition_history.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn stop_mid_stage(runner: &str, signal: &str) {
    let ws = Ws::new();
    ws.set_stop_grace(5);
    ws.append_config(&format!(
        "[stages.builder]\nrunner = \"{runner}\"\nmodel = \"m\"\n"
    ));
    ws.add("Stopped");
    ws.script("builder", &["TERM143", "BUILDER_COMPLETE"]);
    let child = ws
        .command(&["start", "--once", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_for(&ws.path("fake/builder.escapee.pid"), 30);
    wait_for(&ws.path("fake/builder.child.pid"), 30);
    let signalled = Instant::now();
    std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    let out = output_of(child);
    let took = signalled.elapsed();
    let what = format!("{runner}/{signal}");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        took < Duration::from_secs(5),
        "{what}: took {took:?}, past the grace"
    );
    for file in ["builder.escapee.pid", "builder.child.pid"] {
        let p: u32 = ws.read(&format!("fake/{file}")).trim().parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while running(p) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!running(p), "{what}: {file} {p} survived the stop");
    }
    let status = ws.run(&["status", "--json"]).code(0).json();
    let run_id = status["runtime"]["active_run"]["run_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no resumable run: {status:#}"))
        .to_string();
    let h = history(&ws, &run_id);
    let last = h.last().unwrap();
    assert_eq!(last["event"], "run.interrupted", "{what}: {last:#}");
    assert_eq!(last["class"], "interrupted", "{what}");
    assert!(
        !h.iter().any(|t| t["class"] == "task_failure"),
        "{what}: a stop recorded as a failure"
    );
    if runner == "claude" {
        // What the stopped call had streamed is spent, and marked a floor.
        assert_eq!(last["usage"]["input"], 7, "{what}: {last:#}");
        assert_eq!(last["usage"]["partial"], true, "{what}");
        let usage = ws.run(&["usage", "--json"]).code(0).json();
        assert_eq!(usage["total"]["partial"], 1, "{what}: {usage:#}");
    }
    let r = ws.run(&["start", "--once", "--json"]).code(0).json();
    assert_eq!(r["outcome"], "resumed", "{what}: {r:#}");
    assert_eq!(r["run"]["terminal"], "archived", "{what}");
    assert_eq!(
        ws.nodes_visited(),
        ["builder", "builder", "qa", "update"],
        "{what}: the same stage runs again"
    );
}

#[test]
fn sigterm_mid_stage_is_an_interruption_for_claude() {
    stop_mid_stage("claude", "TERM");
}

#[test]
fn sigterm_mid_stage_is_an_interruption_for_pi() {
    stop_mid_stage("pi", "TERM");
}

#[test]
fn sigint_mid_stage_is_an_interruption_for_codex() {
    stop_mid_stage("codex", "INT");
}
