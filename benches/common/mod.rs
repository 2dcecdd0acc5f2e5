//! Helpers shared by the process-level benchmarks.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_millrace");

/// Runs the release binary on a workspace; panics on failure.
pub fn millrace(ws: &Path, args: &[&str]) -> Duration {
    let t = std::time::Instant::now();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(ws.join("millrace.toml"))
        .args(args)
        .output()
        .unwrap();
    let elapsed = t.elapsed();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

/// A fresh workspace (under `$TMPDIR`).
pub fn init() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("w");
    assert!(Command::new(BIN)
        .arg("init")
        .arg(&ws)
        .output()
        .unwrap()
        .status
        .success());
    (dir, ws)
}

/// A workspace whose `bench` mode runs the standard loop with a trivial
/// runner that prints the stage's success marker.
pub fn trivial_runner_workspace() -> (tempfile::TempDir, PathBuf) {
    let (d, ws) = init();
    let mut cfg = std::fs::read_to_string(ws.join("millrace.toml"))
        .unwrap()
        .replace("mode = \"standard\"", "mode = \"bench\"");
    cfg.push_str("\n[runners.trivial]\ncommand = [\"sh\", \"-c\", \"printf '### %s\\\\n' \\\"${MILLRACE_OUTCOMES%%,*}\\\"\"]\n");
    std::fs::write(ws.join("millrace.toml"), cfg).unwrap();
    std::fs::write(
        ws.join("agents/registry/modes/bench.yaml"),
        "id: bench\nloops: { execution: standard }\ndefaults: { runner: trivial }\n",
    )
    .unwrap();
    millrace(&ws, &["plan", "validate"]);
    (d, ws)
}

/// `n` cards written straight into the backlog (no add-task per card).
pub fn fill_backlog(ws: &Path, n: usize) {
    let mut text = String::from("# Task Backlog\n");
    for i in 0..n {
        text.push_str(&format!(
            "\n## 2026-11-23 - Backlog task number {i}\n- **Spec-ID:** SPEC-{i}\n\nImplement part {i} of the plan, with tests and docs.\n"
        ));
    }
    std::fs::write(ws.join("agents/tasksbacklog.md"), text).unwrap();
}

/// Cards in the archive.
pub fn archived(ws: &Path) -> usize {
    std::fs::read_to_string(ws.join("agents/tasksarchive.md"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("## 20"))
        .count()
}
