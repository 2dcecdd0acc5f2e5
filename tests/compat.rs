//! A migrating user's v0.2.0 `millrace.toml` (what v0.2.0's `init` writes,
//! spec §2.3, plus every optional section of its schema, §2.4) loads; what
//! takes no effect is reported by `health` with its line; v0.2.0's stage
//! prompt files are used.

mod support;

use support::{OutputWithin, Ws};

const V020: &str = r#"[engine]
mode = "once"
idle_mode = "watch"
poll_interval_seconds = 60
inter_task_delay_seconds = 0

[paths]
workspace = "."
agents_dir = "agents"

[execution]
integration_mode = "never"
quickfix_max_attempts = 2
run_update_on_empty = false

[sizing]
mode = "hybrid"

[sizing.repo]
file_count_threshold = 999999999
nonempty_line_count_threshold = 999999999

[sizing.task]
file_count_threshold = 999999999
nonempty_line_count_threshold = 999999999

[research]
mode = "stub"
idle_mode = "poll"
idle_poll_seconds = 60
stage_retry_max = 1
stage_retry_backoff_seconds = 5

[watchers]
debounce_seconds = 0.5
roots = ["agents", "ideas_raw", "commands_incoming", "config_file"]

[routing]
builder_success_sequence = ["qa"]
builder_success_sequence_with_integration = ["integration", "qa"]
qa_success_sequence = ["update"]
backlog_empty_sequence = ["update"]
quickfix_stage = "hotfix"
quickfix_verification_stage = "doublecheck"
escalation_sequence = ["troubleshoot", "consult"]

[policies.search]
execution_enabled = false
execution_exception = false
research_enabled = false
research_exception = false

[policies.complexity]
enabled = false
default_band = "moderate"

[policies.complexity.profiles.moderate]
kind = "model_profile"
id = "model.complexity.moderate"
version = "1.0.0"

[policies.usage]
enabled = true
provider = "codex"
cache_max_age_secs = 900

[policies.usage.execution]
remaining_threshold = 0.1
refresh_utc = "MON 00:00"

[policies.network_guard]
enabled = false
execution_policy = "deny"
research_policy = "deny"

[policies.preflight]
enabled = true
transport_check = true

[policies.outage]
enabled = true
wait_initial_seconds = 15
wait_max_seconds = 300
max_probes = 0
probe_timeout_seconds = 5
probe_host = "api.openai.com"
probe_port = 443
policy = "pause_resume"
route_to_blocker = false
route_to_incident = false

[stages.builder]
runner = "codex"
model = "gpt-5.3-codex"
timeout_seconds = 600
prompt_file = "agents/_start.md"
allow_search = false

[stages.qa]
runner = "codex"
model = "gpt-5.3-codex"
timeout_seconds = 600
prompt_file = "agents/_check.md"
allow_search = false

[boundaries]
startup_only = ["paths.workspace", "paths.agents_dir"]
live_immediate = ["engine.poll_interval_seconds", "engine.inter_task_delay_seconds"]
"#;

#[test]
fn a_full_v020_config_loads_and_health_names_what_takes_no_effect() {
    let ws = Ws::new();
    ws.write("millrace.toml", V020);
    ws.write(
        "agents/_start.md",
        "# v0.2.0 builder prompt\n\nBuild the active task.\n",
    );
    ws.write("agents/_check.md", "# v0.2.0 QA prompt\n");
    ws.write("agents/_update.md", "# v0.2.0 update prompt\n");
    let health = ws.run(&["health", "--json"]).code(0).json();
    let compat = health["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check_id"] == "config.compat")
        .cloned()
        .unwrap();
    assert_eq!(compat["status"], "warn");
    let details: Vec<&str> = compat["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    let usage = details
        .iter()
        .find(|d| d.contains("`policies.usage.provider`"))
        .unwrap_or_else(|| panic!("{details:#?}"));
    // Named with its line, and what to use instead.
    assert!(usage.contains("millrace.toml:64:"), "{usage}");
    assert!(usage.contains("use `env` or `command`"), "{usage}");
    assert!(
        !details
            .iter()
            .any(|d| d.contains("`policies.usage.enabled`")),
        "it takes effect"
    );
    assert!(details
        .iter()
        .any(|d| d.contains("`boundaries.startup_only`")));
    // Sizing takes effect: its keys are not listed.
    assert!(
        !details.iter().any(|d| d.contains("`sizing.")),
        "{details:?}"
    );
    assert!(details
        .iter()
        .any(|d| d.contains("`boundaries.startup_only`")));
    // Every command works; the v0.2.0 prompts are the stages' prompts.
    ws.add("Migrated");
    let r = ws.run(&["start", "--once", "--json"]).code(0).json();
    assert_eq!(r["run"]["terminal"], "archived");
    let run_id = r["run"]["run_id"].as_str().unwrap();
    let prompt = ws.read(&format!("agents/runs/{run_id}/builder.1.prompt.md"));
    assert!(prompt.starts_with("# v0.2.0 builder prompt"), "{prompt}");
    assert!(ws
        .read(&format!("agents/runs/{run_id}/update.1.prompt.md"))
        .starts_with("# v0.2.0 update prompt"));
    // The history records where each stage's prompt came from.
    let history = ws.read(&format!("agents/runs/{run_id}/transition_history.jsonl"));
    assert!(
        history.contains(r#""prompt":"agents/_start.md""#),
        "{history}"
    );
    let show = ws.run(&["plan", "show", "--json"]).code(0).json();
    let update = &show["content"]["planes"]["execution"]["nodes"]["update"];
    assert_eq!(update["provenance"]["prompt"]["layer"], "v020_prompt_file");
    for cmd in [
        &["status"][..],
        &["queue"],
        &["config", "show"],
        &["plan", "validate"],
        &["research"],
    ] {
        ws.run(cmd).code(0);
    }
}

#[test]
fn complexity_routing_sets_stage_efforts_by_the_cards_band_and_records_why() {
    let ws = Ws::new();
    ws.append_config("[policies.complexity]\nenabled = true\ndefault_band = \"involved\"\n");
    ws.add_with_body(
        "Hard one",
        "Rewrite the parser.\n\n- **Complexity:** complex",
    );
    ws.script("qa", &["QUICKFIX_NEEDED"]);
    let r = ws.run(&["start", "--once", "--json"]).code(0).json();
    let run_id = r["run"]["run_id"].as_str().unwrap();
    let history: Vec<serde_json::Value> = ws
        .read(&format!("agents/runs/{run_id}/transition_history.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        history[0]["route_reason"]
            .as_str()
            .unwrap()
            .contains("complexity band `complex` (the card's `Complexity:` field)"),
        "{}",
        history[0]
    );
    let effort = |node: &str| {
        history
            .iter()
            .find(|t| t["event"] == "stage.started" && t["node"] == node)
            .map(|t| t["bound"]["effort"].as_str().unwrap_or("").to_string())
            .unwrap()
    };
    assert_eq!(effort("builder"), "high");
    assert_eq!(effort("qa"), "xhigh");
    assert_eq!(effort("hotfix"), "medium");
    assert_eq!(effort("doublecheck"), "xhigh");
    // The default band for a card without the field.
    ws.add("Plain");
    let r = ws.run(&["start", "--once", "--json"]).code(0).json();
    let run_id = r["run"]["run_id"].as_str().unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&ws.read(&format!("agents/runs/{run_id}/run.json"))).unwrap();
    assert_eq!(meta["facts"]["complexity"], "involved");
    let health = ws.run(&["health", "--json"]).json();
    let compat = health["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check_id"] == "config.compat");
    assert!(
        compat.is_none(),
        "complexity settings take effect: {compat:?}"
    );
}

#[test]
fn sizing_sends_a_large_card_to_the_large_loop_and_latches() {
    let ws = Ws::new();
    ws.append_config(
        "[sizing]\nmode = \"task\"\n\n[sizing.task]\nfile_count_threshold = 3\nnonempty_line_count_threshold = 3\n",
    );
    // One signal of three (lines) is not enough (v0.2.0's two-of-three).
    ws.add_with_body("Long", "One.\nTwo.\nThree.\nFour.");
    let r = ws.run(&["start", "--once", "--json"]).code(0).json();
    let run_id = r["run"]["run_id"].as_str().unwrap().to_string();
    let meta: serde_json::Value =
        serde_json::from_str(&ws.read(&format!("agents/runs/{run_id}/run.json"))).unwrap();
    assert_eq!(meta["loop_id"], "standard", "{meta:#}");
    assert_ne!(ws.read("agents/size_status.md").trim(), "### LARGE");
    ws.add_with_body(
        "Big",
        "Touch src/a.rs.\nAnd src/b.rs.\nAnd src/c.rs.\nAnd the docs.",
    );
    ws.add("Small");
    let r = ws.run(&["start", "--once", "--json"]).code(0).json();
    let run_id = r["run"]["run_id"].as_str().unwrap().to_string();
    let meta: serde_json::Value =
        serde_json::from_str(&ws.read(&format!("agents/runs/{run_id}/run.json"))).unwrap();
    assert_eq!(meta["loop_id"], "large", "{meta:#}");
    assert_eq!(ws.read("agents/size_status.md"), "### LARGE\n");
    let first = ws.read(&format!("agents/runs/{run_id}/transition_history.jsonl"));
    let first: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    let why = first["route_reason"].as_str().unwrap();
    assert!(
        why.starts_with("size LARGE (task sizing): the card touches 3 files (threshold 3")
            && why.contains("4 non-empty lines (threshold 3"),
        "{first}"
    );
    // Latched: the next, small card runs large too.
    let r = ws.run(&["start", "--once", "--json"]).code(0).json();
    let run_id = r["run"]["run_id"].as_str().unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&ws.read(&format!("agents/runs/{run_id}/run.json"))).unwrap();
    assert_eq!(meta["loop_id"], "large");
    assert_eq!(
        meta["facts"]["size_decision"],
        "size LARGE: latched in size_status.md"
    );
}

#[test]
fn the_v020_usage_threshold_pauses_like_a_budget_cap() {
    let ws = Ws::new();
    ws.append_config("[policies.usage]\nenabled = true\nprovider = \"env\"\n\n[policies.usage.execution]\nremaining_threshold = 10\n");
    ws.add("Metered");
    let r = ws
        .command(&["start", "--once"])
        .env("USAGE_SAMPLER_ORCH_CURRENT", "5")
        .output_within();
    assert_eq!(
        r.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(String::from_utf8_lossy(&r.stderr)
        .contains("policies.usage.execution.remaining_threshold: usage sample 5"));
    assert!(ws.nodes_visited().is_empty());
    let r = ws
        .command(&["start", "--once"])
        .env("USAGE_SAMPLER_ORCH_CURRENT", "50")
        .output_within();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(ws.nodes_visited(), ["builder", "qa", "update"]);
}

#[test]
fn an_integration_gate_on_the_card_runs_integration() {
    let ws = Ws::new();
    ws.add_with_body("Gated", "Wire the services.\n\n- **Gates:** INTEGRATION");
    ws.run(&["start", "--once"]).code(0);
    assert_eq!(
        ws.nodes_visited(),
        ["builder", "integration", "qa", "update"]
    );
}

/// Directories and files that only ours creates are missing from a
/// workspace v0.2.0 made: `health` and `doctor` warn (exit 0), `start`
/// makes the directories, and no run directory with records is deleted.
#[test]
fn a_workspace_without_our_directories_warns_and_start_makes_them() {
    let ws = Ws::new();
    for d in ["agents/.deferred", "agents/ideas/audit", "agents/registry"] {
        std::fs::remove_dir_all(ws.path(d)).unwrap();
    }
    let v020_run = ws.path("agents/runs/run-20260101-000000");
    std::fs::create_dir_all(&v020_run).unwrap();
    std::fs::write(v020_run.join("run.json"), "{}").unwrap();
    let health = ws.run(&["health", "--json"]).code(0).json();
    let dirs = health["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check_id"] == "workspace.directories")
        .cloned()
        .unwrap();
    assert_eq!(dirs["status"], "warn", "{dirs:#}");
    assert!(dirs["message"].as_str().unwrap().contains("init --force"));
    ws.add("Works anyway");
    ws.run(&["start", "--once"]).code(0);
    assert!(ws.path("agents/ideas/audit/incoming").is_dir());
    assert!(v020_run.join("run.json").exists());
}

/// v0.2.0 accepts a `prompt_file` anywhere in the workspace; so do we (one
/// outside it is a located error).
#[test]
fn a_prompt_file_anywhere_in_the_workspace_runs() {
    let ws = Ws::new();
    ws.write(
        "agents/custom_builder.md",
        "Build {{ task.title }} the custom way.\n",
    );
    ws.append_config("\n[stages.builder]\nprompt_file = \"agents/custom_builder.md\"\n");
    ws.add("Custom");
    ws.run(&["start", "--once"]).code(0);
    let runs: Vec<_> = std::fs::read_dir(ws.path("agents/runs"))
        .unwrap()
        .flatten()
        .collect();
    let prompt = std::fs::read_to_string(runs[0].path().join("builder.1.prompt.md")).unwrap();
    assert!(prompt.contains("Build Custom the custom way."), "{prompt}");
    let outside = ws.dir.path().join("outside.md");
    std::fs::write(&outside, "outside\n").unwrap();
    let text = ws
        .read("millrace.toml")
        .replace("agents/custom_builder.md", outside.to_str().unwrap());
    ws.write("millrace.toml", &text);
    let r = ws.run(&["plan", "validate"]);
    assert_ne!(r.out.status.code(), Some(0));
    assert!(r.stderr.contains("outside"), "{}", r.stderr);
}
