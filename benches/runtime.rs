//! Runtime benchmarks (`cargo bench --bench runtime`), whole processes of
//! the release binary:
//!
//! - per-task engine overhead of the standard loop with a trivial runner:
//!   wall time of `start --once` minus the runner processes' own time (the
//!   `duration_ms` of every stage in the transition history);
//! - `status --json`, `queue inspect --json` and `add-task` against a
//!   10,000-card backlog.
//!
//! Figures go to docs/benchmarks.md.

mod common;

use std::path::Path;

use common::{fill_backlog, init, millrace, trivial_runner_workspace};
use std::time::{Duration, Instant};

fn stats(name: &str, mut xs: Vec<f64>) {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p = |q: usize| xs[(xs.len() * q / 100).min(xs.len() - 1)];
    println!(
        "{name}: median {:.2} ms, min {:.2} ms, p95 {:.2} ms ({} runs)",
        p(50),
        xs[0],
        p(95),
        xs.len()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Sum of the runner processes' own time in the newest run.
fn runner_ms(ws: &Path) -> f64 {
    let run = std::fs::read_dir(ws.join("agents/runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .max()
        .unwrap();
    let history = std::fs::read_to_string(run.join("transition_history.jsonl")).unwrap();
    history
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|t| t["duration_ms"].as_f64())
        .sum()
}

fn bench_workspace() -> (tempfile::TempDir, std::path::PathBuf) {
    trivial_runner_workspace()
}

const TASKS: usize = 30;

fn engine_overhead_per_process() {
    let (_d, ws) = bench_workspace();
    for i in 0..TASKS {
        millrace(&ws, &["add-task", &format!("Bench task {i}")]);
    }
    let (mut walls, mut overhead) = (Vec::new(), Vec::new());
    for _ in 0..TASKS {
        let wall = ms(millrace(&ws, &["start", "--once"]));
        walls.push(wall);
        overhead.push(wall - runner_ms(&ws));
    }
    stats(
        "`millrace start --once` process, one standard-loop task (3 stages), wall",
        walls,
    );
    stats(
        "  engine overhead per task, whole process (wall minus runner processes)",
        overhead,
    );
}

/// Tasks driven one after another in one process, as a daemon drains a
/// backlog: no process start or compile per task.
fn engine_overhead_in_process() {
    let (_d, ws) = bench_workspace();
    for i in 0..TASKS {
        millrace(&ws, &["add-task", &format!("Bench task {i}")]);
    }
    let workspace = millrace::control::Workspace::open(&ws.join("millrace.toml")).unwrap();
    let mut overhead = Vec::new();
    for _ in 0..TASKS {
        let t = Instant::now();
        let report = millrace::control::start::once(&workspace).unwrap();
        assert_eq!(report.run.unwrap().terminal, "archived");
        overhead.push(ms(t.elapsed()) - runner_ms(&ws));
    }
    stats(
        "  engine overhead per task, in-process drain (wall minus runner processes)",
        overhead,
    );
}

/// Runner time of run `run_id`.
fn runner_ms_of(ws: &Path, run_id: &str) -> f64 {
    std::fs::read_to_string(
        ws.join("agents/runs")
            .join(run_id)
            .join("transition_history.jsonl"),
    )
    .unwrap()
    .lines()
    .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
    .filter_map(|t| t["duration_ms"].as_f64())
    .sum()
}

/// One idea per `start --once` process: a goalspec research run (five
/// stages, artifacts checked, cards appended and the idea archived in one
/// journaled transaction) and then the execution pass over its first card,
/// with the bundled demo agent (which writes the artifacts).
fn research_overhead_per_process() {
    let (_d, ws) = init();
    let cfg = std::fs::read_to_string(ws.join("millrace.toml"))
        .unwrap()
        .replace("mode = \"standard\"", "mode = \"demo\"")
        .replace(
            "[research]\nmode = \"stub\"",
            "[research]\nmode = \"auto\"\naudit_on_empty = false",
        );
    std::fs::write(ws.join("millrace.toml"), cfg).unwrap();
    millrace(&ws, &["plan", "validate"]);
    let newest = |kind: &str| {
        std::fs::read_dir(ws.join("agents/runs"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(kind))
            .max()
            .unwrap()
    };
    let mut overhead = Vec::new();
    for i in 0..TASKS {
        std::fs::write(
            ws.join(format!("agents/ideas/raw/idea-{i:03}.md")),
            format!("# Idea {i}\n\nDo thing {i}.\n"),
        )
        .unwrap();
        let wall = ms(millrace(&ws, &["start", "--once"]));
        let research = newest("__goalspec-");
        let meta = std::fs::read_to_string(ws.join("agents/runs").join(&research).join("run.json"))
            .unwrap();
        assert!(meta.contains("\"state\": \"idle\""), "{meta}");
        let task = newest("__2026-");
        overhead.push(wall - runner_ms_of(&ws, &research) - runner_ms_of(&ws, &task));
    }
    stats(
        "  engine overhead, whole process, one idea → goalspec run (5 stages) + its first card (3 stages)",
        overhead,
    );
}

fn big_backlog() {
    let (_d, ws) = init();
    fill_backlog(&ws, 10_000);
    let runs = 30;
    for (name, args) in [
        ("status --json", vec!["status", "--json"]),
        ("queue inspect --json", vec!["queue", "inspect", "--json"]),
    ] {
        millrace(&ws, &args);
        stats(
            &format!("{name} (10,000-card backlog)"),
            (0..runs).map(|_| ms(millrace(&ws, &args))).collect(),
        );
    }
    let adds = (0..runs)
        .map(|i| ms(millrace(&ws, &["add-task", &format!("Added {i}")])))
        .collect();
    stats("add-task (10,000-card backlog)", adds);
}

fn main() {
    engine_overhead_per_process();
    engine_overhead_in_process();
    research_overhead_per_process();
    big_backlog();
}
