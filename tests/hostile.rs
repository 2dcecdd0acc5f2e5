//! Hostile input is refused without blocking: special files where files
//! are expected, card injection, absurd numbers, paths out of the
//! workspace. Every refusal names what was refused and nothing stored
//! changes.

mod support;

use std::time::{Duration, Instant};

use support::{bin, OutputWithin, Ws};

fn mkfifo(path: &std::path::Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

#[test]
fn special_files_are_refused_within_a_second() {
    let ws = Ws::new();
    // A fifo as --config.
    let fifo = ws.dir.path().join("config.toml");
    mkfifo(&fifo);
    let started = Instant::now();
    let out = bin()
        .args(["--config", fifo.to_str().unwrap(), "status"])
        .output_within();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a fifo"));
    assert!(started.elapsed() < Duration::from_secs(1));
    // A fifo as a store.
    std::fs::remove_file(ws.path("agents/tasksbacklog.md")).unwrap();
    mkfifo(&ws.path("agents/tasksbacklog.md"));
    let started = Instant::now();
    let r = ws.run(&["queue"]).code(1);
    assert!(
        r.stderr.contains("not a regular file (a fifo)"),
        "{}",
        r.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    // A fifo as the event log or a runtime record.
    std::fs::remove_file(ws.path("agents/engine_events.log")).unwrap();
    mkfifo(&ws.path("agents/engine_events.log"));
    let started = Instant::now();
    let r = ws.run(&["logs"]).code(1);
    assert!(r.stderr.contains("a fifo"), "{}", r.stderr);
    mkfifo(&ws.path("agents/.runtime/queue_journal.json"));
    ws.run(&["add-task", "Blocked by nothing"]).code(1);
    assert!(started.elapsed() < Duration::from_secs(2));
    // A device as an idea.
    let r = ws.run(&["add-idea", "/dev/zero"]).code(2);
    assert!(r.stderr.contains("a device"), "{}", r.stderr);
}

#[test]
fn cards_cannot_smuggle_in_other_cards() {
    let ws = Ws::new();
    let before = ws.read("agents/tasksbacklog.md");
    for args in [
        vec!["add-task", "Two\n## 2026-11-24 - Injected"],
        vec!["add-task", "Bell\u{7}"],
        vec![
            "add-task",
            "Body",
            "--body",
            "text\n## 2026-11-24 - Injected\nmore",
        ],
        vec![
            "add-task",
            "Spec",
            "--spec-id",
            "S-1\n## 2026-11-24 - Injected",
        ],
    ] {
        let r = ws.run(&args).code(2);
        assert!(r.stderr.contains("error:"), "{args:?}: {}", r.stderr);
    }
    assert_eq!(
        ws.read("agents/tasksbacklog.md"),
        before,
        "nothing stored changed"
    );
    ws.run(&["add-task", "Fine", "--body", "  ## indented is fine"])
        .code(0);
    assert_eq!(
        ws.run(&["queue", "--json"]).code(0).json()["backlog_depth"],
        1
    );
}

#[test]
fn absurd_numbers_and_escaping_paths_are_refused_with_the_line() {
    let ws = Ws::new();
    let r = ws
        .run(&["logs", "--follow", "--idle-timeout", "inf"])
        .code(2);
    assert!(r.stderr.contains("at most 604800"), "{}", r.stderr);
    for (key, value, why) in [
        ("engine.poll_interval_seconds", "0", "between 1 and 86400"),
        (
            "engine.stop_grace_seconds",
            "99999999999",
            "between 0 and 86400",
        ),
        ("paths.agents_dir", "../outside", "inside the workspace"),
        ("paths.workspace", "/", "inside the workspace"),
        ("watchers.debounce_seconds", "nan", "from 0 to 3600"),
    ] {
        let before = ws.read("millrace.toml");
        let r = ws.run(&["config", "set", key, value]).code(1);
        assert!(r.stderr.contains(why), "{key}={value}: {}", r.stderr);
        assert_eq!(ws.read("millrace.toml"), before);
    }
    // Hand-edited: the error names the line.
    ws.append_config("\n[stages.qa]\ntimeout_seconds = 0\n");
    let r = ws.run(&["status"]).code(1);
    assert!(
        r.stderr.contains("stages.qa.timeout_seconds") && r.stderr.contains("millrace.toml:"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_symlinked_store_is_written_through() {
    let ws = Ws::new();
    let elsewhere = ws.dir.path().join("backlog-elsewhere.md");
    std::fs::copy(ws.path("agents/tasksbacklog.md"), &elsewhere).unwrap();
    std::fs::remove_file(ws.path("agents/tasksbacklog.md")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, ws.path("agents/tasksbacklog.md")).unwrap();
    ws.add("Through the link");
    let meta = std::fs::symlink_metadata(ws.path("agents/tasksbacklog.md")).unwrap();
    assert!(meta.file_type().is_symlink(), "the link was replaced");
    assert!(std::fs::read_to_string(&elsewhere)
        .unwrap()
        .contains("Through the link"));
}

#[test]
fn a_runaway_prompt_template_is_stopped() {
    let ws = Ws::new();
    ws.write(
        "agents/prompts/runaway.md",
        "{% for a in range(10000) %}{% for b in range(10000) %}{{ a }}{% endfor %}{% endfor %}\n",
    );
    ws.write(
        "agents/registry/modes/standard.yaml",
        "id: standard\nloops: { execution: standard }\nstages:\n  builder: { prompt: runaway.md }\n",
    );
    ws.add("Runaway");
    let started = Instant::now();
    let r = ws.run(&["start", "--once"]).code(3);
    assert!(
        r.stderr.contains("(config)") && r.stderr.contains("fuel"),
        "{}",
        r.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn non_utf8_overlays_are_located() {
    let ws = Ws::new();
    std::fs::write(
        ws.path("agents/registry/loops/bad.yaml"),
        b"id: bad\nplane: ex\xffecution\n",
    )
    .unwrap();
    let r = ws.run(&["plan", "validate"]).code(1);
    assert!(
        r.stderr
            .contains("not UTF-8 (invalid byte at line 2, column 10)")
            && r.stderr.contains("agents/registry/loops/bad.yaml:2:10"),
        "{}",
        r.stderr
    );
}

#[test]
fn hand_edited_stores_are_linted_not_silently_merged() {
    let ws = Ws::new();
    ws.write(
        "agents/tasksbacklog.md",
        "# Task Backlog\n\n## 2026-11-24 - Same\n\nbody\n\n## 2026-11-24 -\n\nlost title\n\n## 2026-11-24 - Same\n",
    );
    let q = ws.run(&["queue", "inspect", "--json"]).code(0).json();
    let warnings: Vec<&str> = q["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("tasksbacklog.md line 7: a card heading without a title")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("line 11: task id `2026-11-24__same` is also used at line 3")),
        "{warnings:?}"
    );
    let h = ws.run(&["health", "--json"]).code(0).json();
    assert!(h["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["check_id"] == "queue.cards"));
    let status = ws.run(&["status", "--detail"]).code(0).stdout;
    assert!(
        status.contains("warning: tasksbacklog.md line 7"),
        "{status}"
    );
}

#[test]
fn an_overlay_cycle_names_the_overlay_and_corrupt_run_files_are_named() {
    let ws = Ws::new();
    ws.write(
        "agents/registry/loops/standard.yaml",
        "id: standard\nplane: execution\nextends: standard\nedges:\n  - { from: update, on: [UPDATE_COMPLETE], to: builder }\n",
    );
    let r = ws.run(&["plan", "validate"]).code(1);
    assert!(
        r.stderr.contains("graph.unbounded_cycle")
            && r.stderr
                .contains("--> agents/registry/loops/standard.yaml:5"),
        "{}",
        r.stderr
    );
    std::fs::remove_file(ws.path("agents/registry/loops/standard.yaml")).unwrap();
    ws.add("Run once");
    let done = ws.run(&["start", "--once", "--json"]).code(0).json();
    let run_dir = done["run"]["run_dir"].as_str().unwrap().to_string();
    ws.write(&format!("{run_dir}/plan.json"), "{ not a plan");
    let id = done["run"]["run_id"].as_str().unwrap().to_string();
    let r = ws.run(&["run-provenance", &id]).code(1);
    assert!(r.stderr.contains("plan.json"), "{}", r.stderr);
}

#[test]
fn a_choice_in_the_schema_says_what_it_expected_and_where() {
    let ws = Ws::new();
    ws.write(
        "agents/registry/loops/standard.yaml",
        "id: standard\nplane: execution\nextends: standard\nthresholds:\n  - counter: quickfix_attempts\n    count: [{ node: qa, on: QUICKFIX_NEEDED }]\n    limit: 99999999999999999999999\n    exhausted: troubleshoot\n",
    );
    let r = ws.run(&["plan", "validate"]).code(1);
    assert!(
        r.stderr
            .contains("expected a whole number of at least 0, or an object with `config`")
            && r.stderr.contains("standard.yaml:7:12"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_untitled_heading_is_reported_everywhere_and_never_archived_with_its_neighbour() {
    let ws = Ws::new();
    ws.write(
        "agents/tasksbacklog.md",
        "# Task Backlog\n\n## 2026-11-24 - First\n\nbody A\n\n## \n\nlost text\n\n## 2026-11-24 - Second\n\nbody B\n",
    );
    let status = ws.run(&["status"]).code(0).stdout;
    assert!(
        status.contains("warning: tasksbacklog.md line 7: a card heading without a title"),
        "{status}"
    );
    let add = ws.run(&["add-task", "Third"]).code(0);
    assert!(
        add.stderr
            .contains("line 7: a card heading without a title"),
        "{}",
        add.stderr
    );
    let start = ws.run(&["start", "--once", "--json"]).code(0);
    assert!(
        start.stderr.contains("a card heading without a title"),
        "{}",
        start.stderr
    );
    assert_eq!(start.json()["run"]["task_title"], "First");
    let archive = ws.read("agents/tasksarchive.md");
    assert!(archive.contains("body A"), "{archive}");
    assert!(
        !archive.contains("lost text"),
        "archived with its neighbour: {archive}"
    );
    let backlog = ws.read("agents/tasksbacklog.md");
    assert!(backlog.contains("lost text"), "{backlog}");
    assert_eq!(ws.backlog_titles(), ["Second", "Third"]);
    // Still reported, at its new line.
    let status = ws.run(&["status"]).code(0).stdout;
    assert!(
        status.contains("a card heading without a title"),
        "{status}"
    );
}

/// A `## ` line inside a fenced block is card text everywhere (depth, the
/// next card, archiving), and a title too long for a file name still runs.
#[test]
fn fenced_headings_stay_text_and_long_titles_still_run() {
    let ws = Ws::new();
    let mut tasks = ws.read("agents/tasksbacklog.md");
    tasks.push_str(&format!(
        "\n## {d} - Fenced\n\n```md\n## {d} - Not a card\n```\n\n~~~~\n## {d} - Nor this\n~~~~\n",
        d = support::TODAY
    ));
    ws.write("agents/tasksbacklog.md", &tasks);
    let q = ws.run(&["queue", "--json"]).code(0).json();
    assert_eq!(q["backlog_depth"], 1, "{q:#}");
    ws.run(&["start", "--once"]).code(0);
    assert_eq!(ws.cards_in("tasksbacklog.md"), 0);
    let archive = ws.read("agents/tasksarchive.md");
    assert!(
        archive.contains("## 2026-11-24 - Not a card") && archive.contains("Nor this"),
        "{archive}"
    );
    // A body that opens a fence it never closes is refused; a heading
    // inside a closed fence is body text.
    ws.run(&["add-task", "Open", "--body", "```\ncode"]).code(2);
    ws.run(&[
        "add-task",
        "Fenced body",
        "--body",
        "```\n## 2026-11-24 - Not a card\n```",
    ])
    .code(0);
    let q = ws.run(&["queue", "--json"]).code(0).json();
    assert_eq!(q["backlog_depth"], 1, "{q:#}");
    ws.run(&["start", "--once"]).code(0);

    let long = "L".repeat(150) + &" word".repeat(40);
    ws.run(&["add-task", &long]).code(0);
    ws.add("After the long one");
    ws.run(&["start", "--once"]).code(0);
    ws.run(&["start", "--once"]).code(0);
    assert_eq!(ws.cards_in("tasksbacklog.md"), 0);
    assert!(
        ws.read("agents/tasksarchive.md").contains(&long),
        "the full title stays in the card"
    );
    for run in std::fs::read_dir(ws.path("agents/runs")).unwrap().flatten() {
        assert!(run.file_name().len() < 200, "{:?}", run.file_name());
    }
}

/// Concurrent `config set`s of different keys all land.
#[test]
fn concurrent_config_sets_lose_nothing() {
    let ws = Ws::new();
    let keys = [
        ("budget.task.usd", "1.5"),
        ("budget.run.usd", "2.5"),
        ("budget.day.usd", "3.5"),
        ("budget.task.tokens", "1000"),
        ("budget.run.tokens", "2000"),
        ("budget.day.tokens", "3000"),
    ];
    let children: Vec<_> = keys
        .iter()
        .map(|(k, v)| {
            ws.command(&["config", "set", k, v])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = support::output_of(c);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let config = ws.read("millrace.toml");
    for (k, v) in keys {
        let (section, key) = k.rsplit_once('.').unwrap();
        let (_, body) = config
            .split_once(&format!("[{section}]"))
            .unwrap_or_else(|| panic!("[{section}] lost:\n{config}"));
        let body = body.split("\n[").next().unwrap();
        assert!(
            body.contains(&format!("{key} = {v}")),
            "{k} lost:\n{config}"
        );
    }
}
