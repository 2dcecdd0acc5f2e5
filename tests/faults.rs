//! Environment faults are never task failures: fake agent CLIs on PATH emit
//! the real CLIs' failure shapes; the backlog stays untouched, no recovery
//! stage runs, `status` names the class, and the same run finishes at the
//! same stage once the fault clears.

mod support;

use support::Ws;

/// Exit code of `start --once` when the run waits on its environment.
const ENVIRONMENT: i32 = 3;

#[test]
fn a_bad_key_blocks_the_run_not_the_task() {
    let ws = Ws::new();
    for t in ["First", "Second", "Third"] {
        ws.add(t);
    }
    ws.script("builder", &["AUTH"]);
    let r = ws.run(&["start", "--once"]).code(ENVIRONMENT);
    assert!(r.stderr.contains("(auth)"), "{}", r.stderr);
    assert!(r.stderr.contains("401 Unauthorized"), "{}", r.stderr);
    assert!(r.stderr.contains("hint: run `codex login`"), "{}", r.stderr);
    // Nothing routed: no troubleshoot, nothing frozen, all three queued.
    assert_eq!(ws.nodes_visited(), ["builder"]);
    assert_eq!(ws.cards_in("tasksbacklog.md"), 2);
    assert_eq!(ws.cards_in("tasks.md"), 1);
    assert_eq!(ws.cards_in("tasksbackburner.md"), 0);
    let status = ws.run(&["status", "--json"]).code(0).json();
    assert_eq!(status["runtime"]["execution_status"], "ENV_BLOCKED");
    assert_eq!(status["waiting"]["class"], "auth");
    assert_eq!(status["waiting"]["node"], "builder");
    assert_eq!(status["waiting"]["transient"], false);
    let run_id = status["waiting"]["run_id"].as_str().unwrap().to_string();
    let text = ws.run(&["status"]).code(0).stdout;
    assert!(
        text.contains("Waiting on the environment: auth at `builder`"),
        "{text}"
    );
    // Retrying before the fix waits again, at the same stage.
    ws.run(&["start", "--once"]).code(ENVIRONMENT);
    // The key is fixed: the same run finishes from the same stage.
    ws.script("builder", &["BUILDER_COMPLETE"]);
    let done = ws.run(&["start", "--once", "--json"]).code(0).json();
    assert_eq!(done["run"]["run_id"], run_id.as_str());
    assert_eq!(done["run"]["terminal"], "archived");
    assert_eq!(done["run"]["resumed"], true);
    assert_eq!(
        ws.nodes_visited(),
        ["builder", "builder", "builder", "qa", "update"]
    );
    assert_eq!(ws.cards_in("tasksbacklog.md"), 2);
    // The history records the faults as such, with no counter moved.
    let prov = ws
        .run(&["run-provenance", &run_id, "--json"])
        .code(0)
        .json();
    let faulted: Vec<&serde_json::Value> = prov["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["event"] == "stage.faulted")
        .collect();
    assert_eq!(faulted.len(), 2);
    assert_eq!(faulted[0]["class"], "auth");
    assert_eq!(faulted[0]["next"]["node"], "builder");
    assert!(faulted[0]["counters"]
        .as_object()
        .unwrap()
        .values()
        .all(|v| v == 0));
    let result: serde_json::Value =
        serde_json::from_str(&ws.read(&format!("agents/runs/{run_id}/builder.1.result.json")))
            .unwrap();
    assert_eq!(result["class"], "auth");
    assert!(result["outcome"].is_null());
}

#[test]
fn an_outage_is_a_transient_wait_for_every_runner() {
    for (runner, directive) in [("codex", "DOWN"), ("claude", "DOWN"), ("codex", "LIMIT")] {
        let ws = Ws::new();
        ws.append_config(&format!(
            "[stages.builder]\nrunner = \"{runner}\"\nmodel = \"m\"\n"
        ));
        ws.add("Waits");
        ws.script("builder", &[directive]);
        let r = ws.run(&["start", "--once"]).code(ENVIRONMENT);
        let status = ws.run(&["status", "--json"]).code(0).json();
        assert_eq!(
            status["runtime"]["execution_status"], "NET_WAIT",
            "{runner}: {}",
            r.stderr
        );
        assert_eq!(status["waiting"]["transient"], true);
        let class = if directive == "LIMIT" {
            "rate_limit"
        } else {
            "unavailable"
        };
        assert_eq!(status["waiting"]["class"], class, "{runner}");
        assert_eq!(ws.nodes_visited(), ["builder"]);
    }
}

#[test]
fn claude_permission_denials_fail_the_task_and_root_bypass_is_a_config_fault() {
    let ws = Ws::new();
    ws.append_config("[stages.builder]\nrunner = \"claude\"\nmodel = \"sonnet\"\n");
    ws.add("Denied");
    ws.script("builder", &["DENIED", "BUILDER_COMPLETE"]);
    ws.script("troubleshoot", &["TROUBLESHOOT_COMPLETE"]);
    ws.run(&["start", "--once"]).code(0);
    let trace = ws.nodes_visited();
    assert_eq!(trace[..2], ["builder", "troubleshoot"], "{trace:?}");
    let run = ws.run(&["status", "--json"]).code(0).json()["last_run"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let result: serde_json::Value =
        serde_json::from_str(&ws.read(&format!("agents/runs/{run}/builder.1.result.json")))
            .unwrap();
    assert_eq!(result["class"], "task_failure");
    assert!(
        result["failure"]
            .as_str()
            .unwrap()
            .contains("Bash: npm test"),
        "{result}"
    );

    let ws = Ws::new();
    ws.append_config("[stages.builder]\nrunner = \"claude\"\nmodel = \"sonnet\"\n");
    ws.add("Root");
    ws.script("builder", &["ROOT"]);
    let r = ws.run(&["start", "--once"]).code(ENVIRONMENT);
    assert!(r.stderr.contains("(config)"), "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot be used with root"),
        "{}",
        r.stderr
    );
}

/// Polls `cond` for up to `secs` seconds.
#[track_caller]
fn until(secs: u64, mut cond: impl FnMut() -> bool, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_daemon_pauses_on_a_bad_key_and_resume_retries_the_same_stage() {
    let ws = Ws::new();
    ws.add("Needs a key");
    ws.add("Waits its turn");
    ws.script("builder", &["AUTH"]);
    let mut daemon = ws
        .command(&["start", "--daemon"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let state = || -> serde_json::Value {
        serde_json::from_str(&ws.read("agents/.runtime/state.json")).unwrap_or_default()
    };
    until(
        30,
        || {
            state()["pause_reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("env_blocked: auth"))
        },
        "paused on auth",
    );
    let status = ws.run(&["status"]).code(0).stdout;
    assert!(
        status.contains("Daemon: paused (env_blocked: auth"),
        "{status}"
    );
    assert_eq!(ws.cards_in("tasksbacklog.md"), 1);
    ws.script("builder", &["BUILDER_COMPLETE"]);
    ws.run(&["resume"]).code(0);
    until(
        60,
        || ws.cards_in("tasksarchive.md") == 2,
        "both tasks archived",
    );
    ws.run(&["stop"]).code(0);
    assert!(support::wait_within(&mut daemon).success());
    let nodes = ws.nodes_visited();
    assert_eq!(nodes[..3], ["builder", "builder", "qa"], "{nodes:?}");
}

#[test]
fn ctrl_c_during_a_stage_leaves_no_agent_process_and_the_run_resumes() {
    let ws = Ws::new();
    ws.set_stop_grace(1);
    ws.add("Interrupted");
    ws.script("builder", &["GRANDCHILD", "BUILDER_COMPLETE"]);
    let child = ws
        .command(&["start", "--once"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    support::wait_for(&ws.path("fake/builder.started"), 30);
    let agent: u32 = ws.read("fake/builder.pid").trim().parse().unwrap();
    let grandchild: u32 = ws.read("fake/grandchild.pid").trim().parse().unwrap();
    assert!(support::running(grandchild));
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = support::output_of(child);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The grandchild ignores SIGTERM: the group was killed after the grace.
    until(
        10,
        || !support::running(agent) && !support::running(grandchild),
        "no stage process left",
    );
    let status = ws.run(&["status", "--json"]).code(0).json();
    let run_id = status["runtime"]["active_run"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = ws.run(&["start", "--once", "--json"]).code(0).json();
    assert_eq!(done["run"]["run_id"], run_id.as_str());
    assert_eq!(done["run"]["terminal"], "archived");
    assert_eq!(ws.nodes_visited(), ["builder", "builder", "qa", "update"]);
}

#[test]
fn a_stage_left_by_a_killed_runtime_is_ended_by_the_next_start() {
    let ws = Ws::new();
    ws.add("Orphaned");
    ws.script("builder", &["GRANDCHILD", "BUILDER_COMPLETE"]);
    let mut child = ws
        .command(&["start", "--once"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    support::wait_for(&ws.path("fake/builder.started"), 30);
    let agent: u32 = ws.read("fake/builder.pid").trim().parse().unwrap();
    child.kill().unwrap(); // SIGKILL: nothing can be forwarded
    support::wait_within(&mut child);
    assert!(support::running(agent), "the agent outlived its runtime");
    let done = ws.run(&["start", "--once", "--json"]).code(0).json();
    assert_eq!(done["run"]["terminal"], "archived");
    until(10, || !support::running(agent), "the orphaned agent ended");
    let grandchild: u32 = ws.read("fake/grandchild.pid").trim().parse().unwrap();
    until(
        10,
        || !support::running(grandchild),
        "the orphan's child ended",
    );
}

#[test]
fn a_frozen_backlog_is_shown_and_thawed() {
    let ws = Ws::new();
    for t in ["Stuck", "Held one", "Held two"] {
        ws.add(t);
    }
    ws.script("builder", &["BLOCKED"]);
    ws.script("troubleshoot", &["BLOCKED"]);
    ws.script("consult", &["NEEDS_RESEARCH"]);
    let r = ws.run(&["start", "--once"]).code(0);
    assert!(r.stdout.contains("millrace queue thaw"), "{}", r.stdout);
    let q = ws.run(&["queue", "--json"]).code(0).json();
    assert_eq!(q["backlog_depth"], 0);
    let batch = q["frozen_batches"][0]["batch_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        q["frozen_batches"][0]["task_ids"].as_array().unwrap().len(),
        3
    );
    let status = ws.run(&["status"]).code(0).stdout;
    assert!(
        status.contains(&format!("Frozen: batch {batch} — 3 card(s)")),
        "{status}"
    );
    let doctor = ws.run(&["doctor"]).stdout;
    assert!(doctor.contains("queue.frozen"), "{doctor}");
    ws.run(&["queue", "thaw", "nope"]).code(1);
    let thawed = ws.run(&["queue", "thaw", "--json"]).code(0).json();
    assert_eq!(thawed["payload"]["batch_id"], batch.as_str());
    assert_eq!(ws.backlog_titles(), ["Stuck", "Held one", "Held two"]);
    let q = ws.run(&["queue", "inspect", "--json"]).code(0).json();
    assert!(q["frozen_batches"].as_array().unwrap().is_empty());
}

#[test]
fn a_hung_provider_and_a_silent_agent_are_environment_waits() {
    // Codex reconnecting until the stage timeout: the provider is down.
    let ws = Ws::new();
    ws.append_config("[stages.builder]\ntimeout_seconds = 1\n");
    ws.add("Hangs");
    ws.script("builder", &["HANG"]);
    ws.run(&["start", "--once"]).code(ENVIRONMENT);
    let status = ws.run(&["status", "--json"]).code(0).json();
    assert_eq!(status["waiting"]["class"], "unavailable");
    assert_eq!(status["runtime"]["execution_status"], "NET_WAIT");

    // An agent that prints nothing for [outage] stall_seconds is a stall.
    let ws = Ws::new();
    ws.append_config("[outage]\nstall_seconds = 1\n");
    ws.add("Silent");
    ws.script("builder", &["SLEEP"]);
    ws.run(&["start", "--once"]).code(ENVIRONMENT);
    let status = ws.run(&["status", "--json"]).code(0).json();
    assert_eq!(status["waiting"]["class"], "stall");
    let child: u32 = ws.read("fake/builder.child.pid").trim().parse().unwrap();
    assert!(
        !support::running(child),
        "the stalled stage's group was ended"
    );
}

#[test]
fn doctor_reads_every_runner_and_warns_before_a_run_would_fail() {
    let ws = Ws::new();
    ws.append_config(
        "[stages.builder]\nrunner = \"claude\"\n\n[stages.qa]\nrunner = \"pi\"\n\n[runners.claude]\npermission_mode = \"bypassPermissions\"\n",
    );
    // Whether this test runs in a sandbox that says so must not matter.
    use support::OutputWithin;
    let out = ws
        .command(&["doctor", "--json"])
        .env_remove("IS_SANDBOX")
        .output_within();
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runner = |id: &str| {
        d["runner_prerequisites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["runner"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id}: {d}"))
    };
    assert_eq!(
        runner("pi")["version"],
        "0.73.1",
        "Pi prints its version on stderr"
    );
    assert!(runner("pi")["warnings"][0]
        .as_str()
        .unwrap()
        .contains("provider"));
    assert_eq!(runner("claude")["logged_in"], true);
    let root = unsafe { libc::geteuid() } == 0;
    let warned = runner("claude")["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("refuses to run as root"));
    assert_eq!(warned, root, "{d}");
    assert_eq!(d["execution_ready"], !root);
}
