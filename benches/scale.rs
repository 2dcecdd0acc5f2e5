//! Growth curves for issue 10 (`cargo bench --bench scale`): every read
//! command, `add-task`, `queue reorder`, `start --once` and a daemon drain
//! at 1k / 10k / 100k backlog cards; `logs --tail` at 50 / 10k / 100k on a
//! 1M-line event log; `status` with 10k run directories.
//!
//! Each figure is the median wall time of whole release-binary processes,
//! and the peak RSS of one more run under `/usr/bin/time`. Sizes can be chosen
//! with `SCALE_SIZES=1000,10000`. Figures go to docs/benchmarks.md.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{archived, fill_backlog, millrace, trivial_runner_workspace, BIN};

const RUNS: usize = 7;

/// Runs one process to completion: its wall time in ms.
fn wall(ws: &Path, args: &[&str]) -> f64 {
    let t = Instant::now();
    let status = Command::new(BIN)
        .arg("--config")
        .arg(ws.join("millrace.toml"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{args:?} failed");
    t.elapsed().as_secs_f64() * 1000.0
}

/// Peak RSS in KiB of one more run, from `/usr/bin/time` (a process
/// spawned from this large benchmark process would be charged this
/// process's pages until it execs); 0 without it.
fn peak_rss(ws: &Path, args: &[&str]) -> i64 {
    let out = tempfile::NamedTempFile::new().unwrap();
    let ran = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(out.path())
        .arg(BIN)
        .arg("--config")
        .arg(ws.join("millrace.toml"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match ran {
        Ok(s) if s.success() => std::fs::read_to_string(out.path())
            .unwrap()
            .trim()
            .parse()
            .unwrap_or(0),
        _ => 0,
    }
}

fn measure(ws: &Path, args: &[&str]) -> (f64, i64) {
    (wall(ws, args), 0)
}

fn row(label: &str, samples: Vec<(f64, i64)>) {
    let mut walls: Vec<f64> = samples
        .iter()
        .map(|s| s.0)
        .filter(|w| !w.is_nan())
        .collect();
    walls.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let rss = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let rss = if rss > 0 {
        format!("peak RSS {:.1} MB", rss as f64 / 1024.0)
    } else {
        "peak RSS n/a".into()
    };
    println!(
        "{label}: median {:.1} ms, min {:.1} ms, {rss} ({} runs)",
        walls[walls.len() / 2],
        walls[0],
        walls.len()
    );
}

/// `RUNS` timed runs, then one more for the peak RSS.
fn repeat(ws: &Path, args: &[&str]) -> Vec<(f64, i64)> {
    let mut samples: Vec<_> = (0..RUNS).map(|_| measure(ws, args)).collect();
    samples.push((f64::NAN, peak_rss(ws, args)));
    samples
}

fn cards(n: usize) {
    let (_d, ws) = trivial_runner_workspace();
    fill_backlog(&ws, n);
    for (name, args) in [
        ("status --json", &["status", "--json"][..]),
        ("status --detail --json", &["status", "--detail", "--json"]),
        ("queue --json", &["queue", "--json"]),
        ("queue inspect --json", &["queue", "inspect", "--json"]),
        ("health --json", &["health", "--json"]),
    ] {
        row(&format!("{n} cards: {name}"), repeat(&ws, args));
    }
    let mut adds: Vec<_> = (0..RUNS)
        .map(|i| measure(&ws, &["add-task", &format!("Added task {i}")]))
        .collect();
    adds.push((f64::NAN, peak_rss(&ws, &["add-task", "Added for the RSS"])));
    row(&format!("{n} cards: add-task"), adds);

    // `queue reorder` takes every id on the command line; at 100k that is
    // beyond ARG_MAX, so it is timed in-process (no process start).
    let workspace = millrace::control::Workspace::open(&ws.join("millrace.toml")).unwrap();
    let ids: Vec<String> = millrace::store::queue::Queue::new(&ws.join("agents"))
        .snapshot()
        .unwrap()
        .backlog
        .iter()
        .map(|c| c.id.clone())
        .collect();
    let reorders = (0..RUNS)
        .map(|i| {
            let mut order = ids.clone();
            order.swap(0, 1 + i);
            let t = Instant::now();
            millrace::control::queue::reorder(&workspace, &order, false).unwrap();
            (t.elapsed().as_secs_f64() * 1000.0, 0)
        })
        .collect();
    row(&format!("{n} cards: queue reorder (in-process)"), reorders);

    let once = repeat(&ws, &["start", "--once"]);
    row(&format!("{n} cards: start --once (one task)"), once);

    // A daemon drains 20 tasks off the same backlog.
    let before = archived(&ws);
    let t = Instant::now();
    let mut daemon = Command::new(BIN)
        .arg("--config")
        .arg(ws.join("millrace.toml"))
        .args(["start", "--daemon"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    while archived(&ws) < before + 20 {
        assert!(t.elapsed() < Duration::from_secs(300), "drain stalled");
        std::thread::sleep(Duration::from_millis(5));
    }
    let total = t.elapsed().as_secs_f64() * 1000.0;
    millrace(&ws, &["stop"]);
    daemon.wait().unwrap();
    println!(
        "{n} cards: daemon drain of 20 tasks: {:.0} ms ({:.1} ms per task)",
        total,
        total / 20.0
    );
}

fn logs() {
    let (_d, ws) = trivial_runner_workspace();
    let line = r#"{"event_id":"e","type":"execution.stage.started","timestamp":"2026-11-24T00:00:00Z","source":"execution","payload":{"run_id":"r","stage":"builder","task_id":"2026-11-23__bench-task","node":"builder","padding":"the quick brown fox jumps over the lazy dog"}}"#;
    let mut text = String::with_capacity(1_000_000 * (line.len() + 1));
    for _ in 0..1_000_000 {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(ws.join("agents/engine_events.log"), &text).unwrap();
    // Freed before any child starts, so no child's RSS counts it.
    drop(text);
    for k in ["50", "10000", "100000"] {
        row(
            &format!("1M-line log: logs --tail {k} --json"),
            repeat(&ws, &["logs", "--tail", k, "--json"]),
        );
    }
}

fn runs() {
    let (_d, ws) = trivial_runner_workspace();
    millrace(&ws, &["add-task", "One real run"]);
    millrace(&ws, &["start", "--once"]);
    let dir = ws.join("agents/runs");
    for i in 0..10_000 {
        std::fs::create_dir_all(dir.join(format!("20260101T000000Z-{i:05}"))).unwrap();
    }
    row(
        "10k runs: status --json",
        repeat(&ws, &["status", "--json"]),
    );
}

fn main() {
    let sizes: Vec<usize> = std::env::var("SCALE_SIZES")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("SCALE_SIZES: numbers"))
        .collect();
    for n in sizes {
        cards(n);
    }
    logs();
    runs();
}
