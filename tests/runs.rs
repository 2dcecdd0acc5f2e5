//! Integration tests of the interpreter: the real binary drives fake
//! `codex`, `claude` and `pi` executables through the packaged loops.

mod support;

use support::{running, wait_for, Ws};

fn history(ws: &Ws, run_id: &str) -> Vec<serde_json::Value> {
    ws.read(&format!("agents/runs/{run_id}/transition_history.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn start(ws: &Ws) -> serde_json::Value {
    ws.run(&["start", "--once", "--json"]).code(0).json()
}

#[test]
fn codex_drives_a_task_builder_qa_update_to_archived() {
    let ws = Ws::new();
    ws.add_with_body("First demo task", "Make it so.");
    let r = start(&ws);
    assert_eq!(r["outcome"], "ran");
    let run = &r["run"];
    assert_eq!(
        (
            run["terminal"].as_str(),
            run["queue_effect"].as_str(),
            run["status"].as_str()
        ),
        (Some("archived"), Some("archive"), Some("IDLE"))
    );
    assert_eq!(ws.nodes_visited(), ["builder", "qa", "update"]);
    assert_eq!(
        (
            ws.cards_in("tasks.md"),
            ws.cards_in("tasksbacklog.md"),
            ws.cards_in("tasksarchive.md")
        ),
        (0, 0, 1)
    );
    assert_eq!(ws.read("agents/status.md"), "### IDLE\n");

    // v0.2.0 event names, in order
    let types = ws.event_types();
    let want = [
        "execution.task.added",
        "engine.started",
        "execution.task.promoted",
        "execution.status.changed",
        "execution.stage.started",
        "execution.status.changed",
        "execution.stage.completed",
    ];
    assert_eq!(&types[..want.len()], want, "{types:?}");
    assert!(
        types.ends_with(&[
            "execution.task.archived".into(),
            "execution.status.changed".into(),
            "engine.stopped".into()
        ]),
        "{types:?}"
    );

    // the real Codex argument shape, prompt on stdin
    let calls = ws.read("fake-calls.log");
    let first = calls.lines().next().unwrap();
    assert!(first.starts_with("codex exec --json --skip-git-repo-check -m gpt-5.3-codex -c model_reasoning_effort=\"high\" --ephemeral --sandbox workspace-write -c sandbox_workspace_write.network_access=true -C "), "{first}");
    assert!(first.ends_with(" -"), "{first}");

    // the ten v0.2.0 MILLRACE_* variables
    let env = ws.read("fake/builder.env");
    for var in [
        "MILLRACE_PROMPT",
        "MILLRACE_STAGE",
        "MILLRACE_MODEL",
        "MILLRACE_RUN_DIR",
        "MILLRACE_STDOUT_PATH",
        "MILLRACE_STDERR_PATH",
        "MILLRACE_LAST_RESPONSE_PATH",
        "MILLRACE_ALLOW_SEARCH",
        "MILLRACE_ALLOW_NETWORK",
        "MILLRACE_REASONING_EFFORT",
    ] {
        assert!(env.lines().any(|l| l == var), "{var} missing from\n{env}");
    }

    // artifacts and the transition history
    let run_id = run["run_id"].as_str().unwrap();
    let dir = format!("agents/runs/{run_id}");
    for f in [
        "plan.json",
        "plan.md",
        "run.json",
        "builder.1.prompt.md",
        "builder.1.stdout.log",
        "builder.1.last.md",
        "builder.1.result.json",
    ] {
        assert!(ws.path(&format!("{dir}/{f}")).is_file(), "{f} missing");
    }
    assert!(
        !ws.path(&format!("{dir}/builder.1.invocation.json"))
            .exists(),
        "the invocation is part of the result"
    );
    let prompt = ws.read(&format!("{dir}/builder.1.prompt.md"));
    assert!(
        prompt.contains("## Active task: First demo task")
            && prompt.contains("Make it so.")
            && prompt.contains("`### BUILDER_COMPLETE`"),
        "{prompt}"
    );
    let result: serde_json::Value =
        serde_json::from_str(&ws.read(&format!("{dir}/builder.1.result.json"))).unwrap();
    let inv = &result["invocation"];
    assert_eq!(inv["argv"][0], "codex");
    assert!(inv["env_names"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "MILLRACE_PROMPT"));
    let h = history(&ws, run_id);
    let events: Vec<&str> = h.iter().map(|t| t["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        [
            "run.started",
            "stage.started",
            "stage.finished",
            "stage.started",
            "stage.finished",
            "stage.started",
            "stage.finished",
            "run.finished"
        ]
    );
    assert_eq!(h[2]["outcome"], "BUILDER_COMPLETE");
    assert_eq!(h[2]["outcome_source"], "last_message");
    assert_eq!(h[2]["usage"]["input"], 100);
    assert_eq!(h[7]["queue_mutations"][0], "archive_task");

    let prov = ws.run(&["run-provenance", run_id, "--json"]).code(0).json();
    assert_eq!(prov["frozen_plan"]["verified"], true);
    assert_eq!(prov["transitions"].as_array().unwrap().len(), 8);
    assert_eq!(prov["transitions"][1]["bound"]["model"], "gpt-5.3-codex");
    let text = ws.run(&["run-provenance", run_id]).code(0).stdout;
    assert!(
        text.contains("stage.finished qa#1 → QA_COMPLETE (last_message) → next update"),
        "{text}"
    );
    ws.run(&["run-provenance", "nope"]).code(1);
}

#[test]
fn integration_stage_follows_config_and_the_card() {
    let ws = Ws::new();
    let cfg = ws.read("millrace.toml").replace(
        "integration_mode = \"never\"",
        "integration_mode = \"always\"",
    );
    ws.write("millrace.toml", &cfg);
    ws.add("With integration");
    start(&ws);
    assert_eq!(
        ws.nodes_visited(),
        ["builder", "integration", "qa", "update"]
    );
    ws.write("fake/trace.log", "");
    ws.add_with_body("Skip integration", "**Integration:** skip");
    start(&ws);
    assert_eq!(ws.nodes_visited(), ["builder", "qa", "update"]);
}

#[test]
fn large_only_integration_follows_the_loops_declared_size() {
    let ws = Ws::new();
    let cfg = ws.read("millrace.toml").replace(
        "integration_mode = \"never\"",
        "integration_mode = \"large_only\"",
    );
    ws.write("millrace.toml", &cfg);
    ws.add("Small by default");
    start(&ws);
    assert_eq!(ws.nodes_visited(), ["builder", "qa", "update"]);
    // Declaring the loop large (not renaming it) turns integration on.
    ws.write(
        "agents/registry/loops/standard.yaml",
        "id: standard\nplane: execution\nextends: standard\nsize: large\n",
    );
    ws.write("fake/trace.log", "");
    ws.add("Large now");
    start(&ws);
    assert_eq!(
        ws.nodes_visited(),
        ["builder", "integration", "qa", "update"]
    );
}

#[test]
fn quickfix_recovers_through_hotfix_and_doublecheck() {
    let ws = Ws::new();
    ws.add("Needs a fix");
    ws.script("qa", &["QUICKFIX_NEEDED"]);
    ws.script("hotfix", &["HOTFIX_COMPLETE"]);
    let r = start(&ws);
    assert_eq!(r["run"]["terminal"], "archived");
    assert_eq!(
        ws.nodes_visited(),
        ["builder", "qa", "hotfix", "doublecheck", "update"]
    );
    assert!(ws
        .event_types()
        .contains(&"execution.counter.incremented".to_string()));
}

#[test]
fn quickfix_exhaustion_escalates_to_needs_research_and_quarantines() {
    let ws = Ws::new();
    ws.add("Hopeless");
    ws.add("Bystander");
    ws.script("qa", &["QUICKFIX_NEEDED"]);
    ws.script("doublecheck", &["QUICKFIX_NEEDED"]);
    ws.script("troubleshoot", &["BLOCKED"]);
    ws.script("consult", &["NEEDS_RESEARCH"]);
    let r = start(&ws);
    assert_eq!(
        (
            r["run"]["terminal"].as_str(),
            r["run"]["queue_effect"].as_str()
        ),
        (Some("needs_research"), Some("quarantine"))
    );
    // v0.2.0's observed sequence with quickfix_max_attempts = 2
    assert_eq!(
        ws.nodes_visited(),
        [
            "builder",
            "qa",
            "hotfix",
            "doublecheck",
            "hotfix",
            "doublecheck",
            "troubleshoot",
            "consult"
        ]
    );
    assert_eq!(
        (
            ws.cards_in("tasks.md"),
            ws.cards_in("tasksbacklog.md"),
            ws.cards_in("tasksbackburner.md")
        ),
        (0, 0, 2)
    );
    let bb = ws.read("agents/tasksbackburner.md");
    assert!(
        bb.contains("<!-- research_recovery:freeze:start ")
            && bb.contains("<!-- research_recovery:freeze:end "),
        "{bb}"
    );
    let blocker = ws.read("agents/tasksblocker.md");
    assert!(
        blocker.contains("— Hopeless") && blocker.contains("- **Status:** `### NEEDS_RESEARCH`"),
        "{blocker}"
    );
    let latch: serde_json::Value =
        serde_json::from_str(&ws.read("agents/.runtime/research_recovery_latch.json")).unwrap();
    assert_eq!(
        (
            latch["state"].as_str(),
            latch["frozen_backlog_cards"].as_u64()
        ),
        (Some("frozen"), Some(1))
    );
    assert!(ws.path(latch["incident_path"].as_str().unwrap()).is_file());
    let events = ws.events();
    let handoff = events
        .iter()
        .find(|e| e["type"] == "handoff.needs_research")
        .expect("handoff event");
    assert_eq!(handoff["payload"]["handoff"]["queue_family"], "blocker");
    assert!(events
        .iter()
        .any(|e| e["type"] == "execution.counter.exhausted"));
    assert_eq!(ws.read("agents/status.md"), "### IDLE\n");
}

#[test]
fn a_loop_that_never_passes_ends_within_its_thresholds() {
    let ws = Ws::new();
    ws.add("Never passes");
    ws.script("qa", &["QUICKFIX_NEEDED"]);
    ws.script("doublecheck", &["QUICKFIX_NEEDED"]);
    let r = start(&ws);
    assert_eq!(r["run"]["terminal"], "needs_research");
    let plan: serde_json::Value =
        serde_json::from_str(&ws.read("agents/state/compiled_plan.json")).unwrap();
    let bound = plan["content"]["planes"]["execution"]["max_stage_runs"]
        .as_u64()
        .unwrap();
    let stages = r["run"]["stages_run"].as_u64().unwrap();
    assert!(stages <= bound, "{stages} > {bound}");
    assert_eq!(
        ws.trace()
            .iter()
            .filter(|l| l.starts_with("troubleshoot#"))
            .count(),
        3,
        "{:?}",
        ws.trace()
    );
}

#[test]
fn timeout_kills_a_sleeping_agent_and_its_children() {
    let ws = Ws::new();
    ws.append_config("[stages.builder]\ntimeout_seconds = 1\n");
    ws.add("Sleeps");
    ws.script("builder", &["SLEEP"]);
    ws.script("troubleshoot", &["BLOCKED"]);
    ws.script("consult", &["BLOCKED"]);
    let r = start(&ws);
    assert_eq!(r["run"]["terminal"], "needs_research");
    let run_id = r["run"]["run_id"].as_str().unwrap();
    let h = history(&ws, run_id);
    let builder = h
        .iter()
        .find(|t| t["event"] == "stage.finished" && t["node"] == "builder")
        .unwrap();
    assert_eq!(
        (builder["outcome"].as_str(), builder["exit_code"].as_i64()),
        (Some("BLOCKED"), Some(124))
    );
    assert!(builder["failure"].as_str().unwrap().starts_with("timeout"));
    // The agent sleeps 60 s: the recorded attempt ended at the 1 s limit
    // plus the terminate grace, not when the agent would have finished.
    assert!(
        builder["duration_ms"].as_f64().unwrap() < 30_000.0,
        "{builder}"
    );
    assert!(ws
        .read(&format!("agents/runs/{run_id}/builder.1.stderr.log"))
        .contains("RUNNER_TIMEOUT after 1s"));
    for f in ["fake/builder.pid", "fake/builder.child.pid"] {
        let pid: u32 = ws.read(f).trim().parse().unwrap();
        assert!(!running(pid), "{f} ({pid}) still running");
    }
}

#[test]
fn missing_and_illegal_markers_and_failed_exits_route_like_blocked() {
    for (directive, failure) in [
        ("NONE", "missing_marker"),
        ("BOGUS", "illegal_marker"),
        ("EXIT3", "exit_code: 3"),
    ] {
        let ws = Ws::new();
        ws.add("Misbehaves");
        ws.script("builder", &[directive, "BUILDER_COMPLETE"]);
        let r = start(&ws);
        assert_eq!(r["run"]["terminal"], "archived", "{directive}");
        assert_eq!(
            ws.nodes_visited(),
            ["builder", "troubleshoot", "builder", "qa", "update"],
            "{directive}"
        );
        let h = history(&ws, r["run"]["run_id"].as_str().unwrap());
        let first = h.iter().find(|t| t["event"] == "stage.finished").unwrap();
        assert_eq!(first["outcome"], "BLOCKED", "{directive}");
        assert!(
            first["failure"].as_str().unwrap().starts_with(failure),
            "{directive}: {first}"
        );
        assert!(ws
            .event_types()
            .contains(&"execution.stage.failed".to_string()));
    }
}

#[test]
fn kill_9_during_a_stage_then_resume_loses_and_duplicates_nothing() {
    let ws = Ws::new();
    ws.add("Interrupted");
    ws.add("Next in line");
    ws.script("qa", &["WAITGO", "QA_COMPLETE"]);
    let mut child = ws
        .command(&["start", "--once"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&ws.path("fake/qa.started"), 30);
    child.kill().unwrap(); // SIGKILL
    support::wait_within(&mut child);
    let agent: u32 = ws.read("fake/qa.pid").trim().parse().unwrap();
    // the orphaned agent is not ours to keep; the test cleans it up
    unsafe { libc_kill(agent) };

    let status = ws.run(&["status", "--json"]).code(0).json();
    assert_eq!(
        status["runtime"]["process_running"], false,
        "a dead owner must not look alive"
    );
    assert!(status["runtime"]["active_run"]["run_id"].is_string());
    assert_eq!(status["runtime"]["execution_status"], "QA_RUNNING");

    let r = start(&ws);
    assert_eq!(r["outcome"], "resumed");
    assert_eq!(r["run"]["terminal"], "archived");
    assert!(
        r["reclaimed_lock_from"]["pid"].is_u64(),
        "stale lock reclaimed: {r}"
    );
    assert_eq!(ws.nodes_visited(), ["builder", "qa", "qa", "update"]);
    let h = history(&ws, r["run"]["run_id"].as_str().unwrap());
    let qa_starts: Vec<u64> = h
        .iter()
        .filter(|t| t["event"] == "stage.started" && t["node"] == "qa")
        .map(|t| t["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(qa_starts, [1, 2], "the interrupted attempt counts");
    assert_eq!(
        (
            ws.cards_in("tasks.md"),
            ws.cards_in("tasksbacklog.md"),
            ws.cards_in("tasksarchive.md")
        ),
        (0, 1, 1)
    );
    let all = ws.read("agents/tasksarchive.md")
        + &ws.read("agents/tasksbacklog.md")
        + &ws.read("agents/tasks.md");
    assert_eq!(all.matches("Interrupted").count(), 1);
    assert_eq!(all.matches("Next in line").count(), 1);
}

unsafe fn libc_kill(pid: u32) {
    let _ = std::process::Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status();
}

#[test]
fn a_running_run_keeps_its_frozen_plan_when_yaml_changes() {
    let ws = Ws::new();
    ws.add("Frozen plan");
    ws.script("builder", &["WAITGO"]);
    let child = ws
        .command(&["start", "--once", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&ws.path("fake/builder.started"), 30);
    // mid-run: an overlay changes qa's model and routes qa success elsewhere
    ws.write(
        "agents/registry/loops/standard.yaml",
        "id: standard\nplane: execution\nextends: standard\nnodes:\n  qa: { stage: qa, model: edited-model }\n",
    );
    ws.write("fake/go", "");
    // An edit of an overlay while a stage runs is taken for the stage's:
    // the run waits at the stage (exit 3) with the overlay named.
    let out = support::output_of(child);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("registry/loops/standard.yaml (created)"),
        "{err}"
    );
    // The operator accepts the edit by starting again: the same run goes on
    // from that stage, on its frozen plan.
    let r = start(&ws);
    let run_id = r["run"]["run_id"].as_str().unwrap().to_string();
    let h = history(&ws, &run_id);
    let qa = h
        .iter()
        .find(|t| t["event"] == "stage.started" && t["node"] == "qa")
        .unwrap();
    assert_eq!(
        qa["bound"]["model"], "gpt-5.3-codex",
        "the run followed its frozen plan"
    );
    let frozen = ws
        .run(&["plan", "show", "--run", &run_id, "--format", "json"])
        .code(0)
        .json();
    assert_eq!(
        frozen["content"]["planes"]["execution"]["nodes"]["qa"]["model"],
        "gpt-5.3-codex"
    );

    ws.add("After the edit");
    let r2 = start(&ws);
    let run2 = r2["run"]["run_id"].as_str().unwrap();
    let diff = ws
        .run(&["plan", "diff", &run_id, run2, "--json"])
        .code(0)
        .json();
    assert_eq!(diff["identical"], false);
    let changes = diff["changes"].as_array().unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c["path"] == "planes.execution.nodes.qa.model" && c["b"] == "edited-model"),
        "{changes:?}"
    );
    assert!(diff["changed_inputs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i == "workspace:agents/registry/loops/standard.yaml"));
}

#[test]
fn claude_and_pi_adapters_run_end_to_end() {
    let ws = Ws::new();
    ws.append_config("[stages.builder]\nrunner = \"claude\"\nmodel = \"sonnet\"\n\n[stages.qa]\nrunner = \"pi\"\nmodel = \"gpt-5\"\n");
    ws.add("Three runners");
    let r = start(&ws);
    assert_eq!(r["run"]["terminal"], "archived");
    let calls = ws.read("fake-calls.log");
    let lines: Vec<&str> = calls.lines().collect();
    assert!(lines[0].starts_with("claude -p --output-format stream-json --verbose --model sonnet --effort high --permission-mode acceptEdits --no-session-persistence"), "{calls}");
    assert!(lines[1].starts_with("pi --mode rpc --no-session --model gpt-5 --thinking medium --no-context-files --no-skills"), "{calls}");
    assert!(lines[2].starts_with("codex exec"), "{calls}");
    let h = history(&ws, r["run"]["run_id"].as_str().unwrap());
    let finished: Vec<&serde_json::Value> = h
        .iter()
        .filter(|t| t["event"] == "stage.finished")
        .collect();
    assert_eq!(
        finished[0]["usage"]["input"], 16,
        "claude: input + cache read + cache write"
    );
    assert_eq!(finished[0]["usage"]["cost_usd"], 0.5);
    assert_eq!(finished[1]["usage"]["total"], 8, "pi session stats");
    let run_dir = format!("agents/runs/{}", r["run"]["run_id"].as_str().unwrap());
    let qa: serde_json::Value =
        serde_json::from_str(&ws.read(&format!("{run_dir}/qa.1.result.json"))).unwrap();
    assert!(qa["last_message"]
        .as_str()
        .unwrap()
        .ends_with("### QA_COMPLETE"));
    // Four files per attempt: no last-message file the agent did not
    // write, the invocation in the result.
    let mut files: Vec<String> = std::fs::read_dir(ws.path(&run_dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("qa.1."))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "qa.1.prompt.md",
            "qa.1.result.json",
            "qa.1.stderr.log",
            "qa.1.stdout.log"
        ]
    );
    assert!(
        !ws.read(&format!("{run_dir}/qa.1.stdout.log"))
            .contains("message_update"),
        "bulky snapshots are dropped"
    );
    // Claude's own retries are capped so millrace's backoff decides.
    let builder: serde_json::Value =
        serde_json::from_str(&ws.read(&format!("{run_dir}/builder.1.result.json"))).unwrap();
    assert!(builder["invocation"]["env_names"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "CLAUDE_CODE_MAX_RETRIES"));
    // Pi's session id is recorded.
    assert_eq!(qa["session_id"], "pi-session-1");
}

#[test]
fn empty_backlog_exits_quietly_and_a_second_owner_is_refused() {
    let ws = Ws::new();
    let r = ws.run(&["start", "--once"]).code(0);
    assert_eq!(r.stdout, "");
    assert!(ws
        .event_types()
        .contains(&"execution.backlog.empty".to_string()));

    ws.add("Slow");
    ws.script("builder", &["WAITGO"]);
    let mut child = ws
        .command(&["start", "--once"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&ws.path("fake/builder.started"), 30);
    let busy = ws.run(&["start", "--once"]).code(1);
    assert!(
        busy.stderr
            .contains("another millrace process owns this workspace"),
        "{}",
        busy.stderr
    );
    let status = ws.run(&["status", "--json"]).code(0).json();
    assert_eq!(status["runtime"]["process_running"], true);
    ws.write("fake/go", "");
    assert!(support::wait_within(&mut child).success());
}

#[test]
fn fifty_concurrent_add_tasks_lose_no_card() {
    let ws = Ws::new();
    let children: Vec<_> = (0..50)
        .map(|i| {
            ws.command(&["add-task", &format!("Concurrent task {i}")])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(support::wait_within(&mut c).success());
    }
    let q = ws.run(&["queue", "inspect", "--json"]).code(0).json();
    assert_eq!(q["backlog_depth"], 50);
    let mut titles: Vec<String> = q["backlog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_string())
        .collect();
    titles.sort();
    titles.dedup();
    assert_eq!(titles.len(), 50);
}

#[test]
fn queue_commands_match_v020() {
    let ws = Ws::new();
    ws.run(&["add-task", "Alpha", "--spec-id", "SPEC-1", "--body", "Body"])
        .code(0);
    let dup = ws.run(&["add-task", "Alpha"]).code(1);
    assert!(dup.stderr.contains("already queued"), "{}", dup.stderr);
    ws.add("Beta");
    let q = ws.run(&["queue", "--json"]).code(0).json();
    assert_eq!(q["backlog_depth"], 2);
    assert_eq!(
        q["backlog"].as_array().unwrap().len(),
        0,
        "plain queue lists no backlog"
    );
    assert_eq!(q["next_task"]["spec_id"], "SPEC-1");
    let ids: Vec<String> = ws.run(&["queue", "inspect", "--json"]).code(0).json()["backlog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap().to_string())
        .collect();
    // v0.2.0's checks and messages.
    let bad = ws.run(&["queue", "reorder", &ids[0]]).code(1);
    assert!(
        bad.stderr
            .contains("queue reorder must specify the full backlog order exactly once"),
        "{}",
        bad.stderr
    );
    let bad = ws
        .run(&["queue", "reorder", &ids[0], "2026-11-24__nope"])
        .code(1);
    assert!(
        bad.stderr.contains(&format!(
            "queue reorder id mismatch: unknown=2026-11-24__nope missing={}",
            ids[1]
        )),
        "{}",
        bad.stderr
    );
    ws.run(&["queue", "reorder"]).code(2);
    let ok = ws
        .run(&["queue", "reorder", &ids[1], &ids[0], "--json"])
        .code(0)
        .json();
    assert_eq!(ok["payload"]["task_ids"][0], ids[1].as_str());
    let text = ws
        .run(&["queue", "reorder", &ids[0], &ids[1]])
        .code(0)
        .stdout;
    assert!(
        text.contains(&format!("task_ids: ['{}', '{}']\n", ids[0], ids[1])),
        "v0.2.0 prints the list as Python does: {text}"
    );
    let text = ws.run(&["queue", "inspect"]).code(0).stdout;
    assert!(text.contains("   1. ") && text.contains("Beta"), "{text}");
    let card = ws.read("agents/tasksbacklog.md");
    assert!(
        card.contains("- Alpha\n- **Spec-ID:** SPEC-1\n\nBody"),
        "{card}"
    );
}

#[test]
fn health_doctor_status_and_logs() {
    let ws = Ws::new();
    let h = ws.run(&["health", "--json"]).code(0).json();
    assert_eq!(h["status"], "pass");
    let d = ws.run(&["doctor", "--json"]).code(0).json();
    assert_eq!(d["execution_ready"], true);
    assert_eq!(
        d["runner_prerequisites"][0]["version"],
        "codex-cli 0.169.0 (fake)"
    );
    assert_eq!(d["runner_prerequisites"][0]["logged_in"], true);
    // Not logged in: doctor says so and how to fix it.
    ws.write("fake/logged_out", "");
    let d = ws.run(&["doctor"]).code(1);
    assert!(
        d.stdout.contains("NOT logged in") && d.stdout.contains("run `codex login`"),
        "{}",
        d.stdout
    );
    // The key only in the runner's env: its stages have it, and so does
    // doctor's login check.
    ws.append_config("[runners.codex]\nenv = { OPENAI_API_KEY = \"sk-test\" }\n");
    let d = ws.run(&["doctor", "--json"]).code(0).json();
    assert_eq!(d["runner_prerequisites"][0]["logged_in"], true, "{d:#}");
    // A custom provider's variable is checked, not `codex login status`.
    ws.append_config("args = [\"-c\", \"model_providers.corp.env_key=\\\"CORP_KEY\\\"\"]\n");
    let d = ws.run(&["doctor"]).code(1);
    assert!(d.stdout.contains("CORP_KEY is not set"), "{}", d.stdout);
    std::fs::remove_file(ws.path("fake/logged_out")).unwrap();
    let mut c = ws.read("millrace.toml");
    c.truncate(c.find("[runners.codex]\nenv").unwrap());
    ws.write("millrace.toml", &c);
    ws.uninstall("codex");
    let d = ws.run(&["doctor"]).code(1);
    assert!(
        d.stdout.starts_with("FAIL: not ready") && d.stdout.contains("hint: install `codex`"),
        "{}",
        d.stdout
    );
    ws.run(&["health"]).code(1);
    ws.write("agents/status.md", "garbage\n");
    let h = ws.run(&["health", "--json"]).code(1).json();
    assert!(h["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["check_id"] == "status.files" && c["status"] == "fail"));

    let s = ws.run(&["status", "--detail", "--json"]).code(0).json();
    assert_eq!(s["plan"]["mode"], "standard");
    assert_eq!(s["runtime"]["backlog_depth"], 0);
    let logs = ws.run(&["logs", "--json"]).code(0).json();
    assert!(logs.as_array().unwrap().is_empty());
    assert_eq!(ws.run(&["logs"]).code(0).stdout, "No events.\n");
}

#[test]
fn readme_main_job_runs_the_demo_task_to_archived() {
    let ws = Ws::with_init(&["--demo"]);
    ws.uninstall("codex"); // the demo needs no agent CLI
    let filters = vec![
        (r"\d{8}T\d{12}Z", "[STAMP]"),
        (r"\d{4}-\d{2}-\d{2}", "[DATE]"),
        (r"plan-(\w+)-[0-9a-f]{12}", "plan-$1-[HASH]"),
    ];
    let r = ws.run(&["start", "--once"]).code(0);
    insta::with_settings!({filters => filters.clone()}, { insta::assert_snapshot!("demo_start_once", r.stdout) });
    assert!(ws
        .read("demo/hello.txt")
        .starts_with("Hello from the millrace demo agent"));
    assert_eq!(ws.read("demo/worklog.md").lines().count(), 3);
    assert_eq!(ws.cards_in("tasksarchive.md"), 1);
    let status = ws.run(&["status"]).code(0).stdout;
    insta::with_settings!({filters => filters}, { insta::assert_snapshot!("demo_status_after_run", status) });
    // the demo goes through the same adapter path: an invocation record exists
    let run_id = ws.run(&["status", "--json"]).code(0).json()["last_run"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let result: serde_json::Value =
        serde_json::from_str(&ws.read(&format!("agents/runs/{run_id}/builder.1.result.json")))
            .unwrap();
    let inv = &result["invocation"];
    assert_eq!(
        (inv["kind"].as_str(), inv["argv"][1].as_str()),
        (Some("demo"), Some("demo-agent"))
    );
}

/// `execution.run_update_on_empty`: once the backlog drains, one update
/// with no task (run id `…__update-empty`, only the update stage), and not
/// again until more work is archived. Off (the init default), nothing.
#[test]
fn an_update_runs_once_per_drained_backlog_when_asked() {
    let ws = Ws::new();
    ws.add("Only task");
    assert_eq!(start(&ws)["outcome"], "ran");
    // Off: a drained backlog is idle.
    assert_eq!(start(&ws)["outcome"], "idle");
    ws.run(&["config", "set", "execution.run_update_on_empty", "true"])
        .code(0);
    let r = start(&ws);
    assert_eq!(r["outcome"], "ran", "{r:#}");
    let run_id = r["run"]["run_id"].as_str().unwrap().to_string();
    assert!(run_id.ends_with("__update-empty"), "{run_id}");
    assert_eq!(r["run"]["terminal"], "archived", "{r:#}");
    assert_eq!(ws.nodes_visited(), ["builder", "qa", "update", "update"]);
    let prompt = ws.read(&format!("agents/runs/{run_id}/update.1.prompt.md"));
    assert!(prompt.contains("the backlog drained"), "{prompt}");
    assert_eq!(ws.cards_in("tasksarchive.md"), 1, "nothing else archived");
    let meta: serde_json::Value =
        serde_json::from_str(&ws.read(&format!("agents/runs/{run_id}/run.json"))).unwrap();
    assert_eq!(meta["task_id"], serde_json::Value::Null);
    assert_eq!(meta["facts"]["backlog_empty"], true);
    // Once per drain: idle now, and again after the next task is archived.
    assert_eq!(start(&ws)["outcome"], "idle");
    ws.add("Second task");
    assert_eq!(start(&ws)["outcome"], "ran");
    let r = start(&ws);
    assert!(
        r["run"]["run_id"]
            .as_str()
            .unwrap()
            .ends_with("__update-empty"),
        "{r:#}"
    );
    assert_eq!(start(&ws)["outcome"], "idle");
}
