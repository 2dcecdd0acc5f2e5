//! Integration tests: the real `millrace` binary on temporary workspaces.

mod support;

use std::path::Path;

use support::{bin, output_of, OutputWithin, Ws};

#[test]
fn init_then_validate_persists_a_stable_plan() {
    let ws = Ws::new();
    // `init` persisted the plan already, so `status` never compiles.
    let path = ws.root.join("agents/state/compiled_plan.json");
    let first = std::fs::read(&path).unwrap();
    let r = ws.run(&["plan", "validate"]).code(0);
    assert!(
        r.stdout
            .contains("ok: mode standard compiled to plan-standard-"),
        "{}",
        r.stdout
    );
    assert!(r
        .stdout
        .contains("unchanged agents/state/compiled_plan.json"));
    let r = ws.run(&["plan", "validate"]).code(0);
    assert!(
        r.stdout
            .contains("unchanged agents/state/compiled_plan.json"),
        "{}",
        r.stdout
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        first,
        "same inputs must give a byte-identical plan"
    );
    let shown = ws.run(&["plan", "show", "--format", "json"]).code(0);
    assert_eq!(shown.stdout.as_bytes(), first.as_slice());
}

#[test]
fn every_packaged_mode_validates_by_id_and_alias() {
    let ws = Ws::new();
    for mode in [
        "standard",
        "large",
        "large_direct_update",
        "default_autonomous",
        "goalspec",
        "incident",
        "audit",
        "large-no-qa",
    ] {
        let r = ws
            .run(&["plan", "validate", "--mode", mode, "--json"])
            .code(0);
        let v = r.json();
        assert_eq!(v["ok"], true, "{mode}");
        assert_eq!(v["error_count"], 0);
    }
}

#[test]
fn init_refuses_non_empty_destination_with_usage_exit() {
    let ws = Ws::new();
    let out = bin().arg("init").arg(&ws.root).output_within();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("re-run with --force"));
    let out = bin()
        .args(["init", "--force", "--json"])
        .arg(&ws.root)
        .output_within();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["payload"]["created_file_count"], 0);
    assert_eq!(v["mode"], "direct");
}

#[test]
fn validate_without_a_workspace_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["plan", "validate"])
        .current_dir(dir.path())
        .output_within();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no config at") && err.contains("millrace init"),
        "{err}"
    );
}

#[test]
fn broken_config_is_located() {
    let ws = Ws::new();
    ws.write(
        "millrace.toml",
        "[engine]\nmode = \"once\"\npoll_intervall_seconds = 3\n",
    );
    let r = ws.run(&["plan", "validate"]).code(1);
    insta::assert_snapshot!("broken_config", r.stderr);
}

const BROKEN_LOOP: &str = "\
id: mine
plane: execution
entry: { task: build }
nodes:
  build: { stage: buidler }
  check: { stage: qa, modle: o3 }
  orphan: { stage: update }
edges:
  - { from: build, on: [BUILDER_COMPLETE], to: check }
  - { from: check, on: [QA_COMPLETE, DONE], to: finished }
  - { from: check, on: [QUICKFIX_NEEDED, BLOCKED], to: build }
terminals:
  finished: { class: success, status: IDLE, queue: archive }
";

#[test]
fn every_problem_of_a_broken_overlay_is_reported_at_once() {
    let ws = Ws::new();
    ws.write("agents/registry/loops/mine.yaml", BROKEN_LOOP);
    ws.write(
        "agents/registry/modes/sub/mine.yml",
        "id: mine\nloops: { execution: mine }\nstages:\n  qa: { runner: codx }\n",
    );
    let r = ws.run(&["plan", "validate"]).code(1);
    insta::assert_snapshot!("broken_overlay_schema", r.stderr);

    // with the schema problem fixed, the graph problems show
    ws.write(
        "agents/registry/loops/mine.yaml",
        &BROKEN_LOOP.replace(", modle: o3", ""),
    );
    let before = std::fs::read(ws.root.join("agents/state/compiled_plan.json")).unwrap();
    let r = ws.run(&["plan", "validate", "--mode", "mine"]).code(1);
    insta::assert_snapshot!("broken_overlay_graph", r.stderr);
    assert_eq!(
        std::fs::read(ws.root.join("agents/state/compiled_plan.json")).unwrap(),
        before,
        "a failed compile must not write a plan"
    );
}

#[test]
fn validate_json_lists_located_diagnostics() {
    let ws = Ws::new();
    ws.write(
        "agents/registry/loops/mine.yaml",
        &BROKEN_LOOP.replace(", modle: o3", ""),
    );
    let r = ws.run(&["plan", "validate", "--json"]).code(1);
    let v = r.json();
    assert_eq!(v["ok"], false);
    let diags = v["diagnostics"].as_array().unwrap();
    assert!(diags.len() >= 3, "{diags:?}");
    for d in diags.iter().filter(|d| d["severity"] == "error") {
        assert_eq!(d["file"], "agents/registry/loops/mine.yaml");
        assert!(
            d["line"].as_u64().unwrap() > 0 && d["column"].as_u64().unwrap() > 0,
            "{d}"
        );
    }
}

#[test]
fn yaml_syntax_duplicate_keys_alias_bombs_and_oversized_files() {
    let ws = Ws::new();
    ws.write(
        "agents/registry/loops/syntax.yaml",
        "id: syntax\nplane: [execution\n",
    );
    ws.write(
        "agents/registry/loops/dup.yaml",
        "id: dup\nplane: execution\nplane: research\n",
    );
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (n, p) in ["b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g"])
    {
        bomb.push_str(&format!(
            "{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        ));
    }
    ws.write("agents/registry/loops/bomb.yaml", &bomb);
    ws.write(
        "agents/registry/modes/huge.yaml",
        &"# padding\n".repeat(120_000),
    );
    let r = ws.run(&["plan", "validate", "--json"]).code(1);
    let v = r.json();
    let codes: Vec<(&str, &str)> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["code"].as_str().unwrap(), d["file"].as_str().unwrap()))
        .collect();
    for expected in [
        ("yaml.syntax", "agents/registry/loops/syntax.yaml"),
        ("yaml.duplicate_key", "agents/registry/loops/dup.yaml"),
        ("yaml.limit", "agents/registry/loops/bomb.yaml"),
        ("yaml.too_large", "agents/registry/modes/huge.yaml"),
    ] {
        assert!(codes.contains(&expected), "{expected:?} not in {codes:?}");
    }
}

#[cfg(unix)]
#[test]
fn overlay_symlinks_out_of_the_workspace_are_rejected() {
    let ws = Ws::new();
    let outside = ws.dir.path().join("outside.yaml");
    std::fs::write(&outside, "id: x\nplane: execution\n").unwrap();
    std::os::unix::fs::symlink(&outside, ws.root.join("agents/registry/loops/link.yaml")).unwrap();
    let r = ws.run(&["plan", "validate", "--json"]).code(1);
    let v = r.json();
    assert_eq!(v["diagnostics"][0]["code"], "path.escape", "{v}");
}

#[test]
fn plan_show_text_snapshot() {
    let ws = Ws::new();
    let r = ws.run(&["plan", "show"]).code(0);
    // The input fingerprint changes with any packaged file; the content hash
    // is the part worth pinning.
    insta::with_settings!({filters => vec![(r"inputs [0-9a-f]{64}", "inputs [FINGERPRINT]"), (r"config [0-9a-f]{64}", "config [HASH]")]}, {
        insta::assert_snapshot!("plan_show_standard", r.stdout);
    });
}

#[test]
fn plan_show_dot_renders_with_graphviz() {
    let ws = Ws::new();
    let r = ws
        .run(&[
            "plan",
            "show",
            "--mode",
            "research_goalspec",
            "--format",
            "dot",
        ])
        .code(0);
    assert!(r.stdout.starts_with("digraph millrace {"));
    assert!(r.stdout.contains("\"research.goal_intake\""));
    if support::skip_without("dot", "rendering `plan show --format dot`") {
        return;
    }
    let Ok(mut dot) = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    else {
        panic!("dot is installed but could not be started");
    };
    use std::io::Write;
    dot.stdin
        .take()
        .unwrap()
        .write_all(r.stdout.as_bytes())
        .unwrap();
    let out = output_of(dot);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
}

#[test]
fn plan_show_mermaid() {
    let ws = Ws::new();
    let r = ws.run(&["plan", "show", "--format", "mermaid"]).code(0);
    assert!(r.stdout.starts_with("flowchart LR\n"));
    assert!(
        r.stdout
            .contains("execution_qa -.->|\"QUICKFIX_NEEDED\"| execution_hotfix"),
        "{}",
        r.stdout
    );
}

#[test]
fn modes_and_loops_list_and_show() {
    let ws = Ws::new();
    let modes = ws.run(&["modes", "list", "--json"]).code(0).json();
    let ids: Vec<&str> = modes
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 9, "{ids:?}");
    let loops = ws.run(&["loops", "list"]).code(0);
    insta::assert_snapshot!("loops_list", loops.stdout);
    let shown = ws.run(&["loops", "show", "quick_build"]).code(0);
    insta::assert_snapshot!("loops_show_quick_build", shown.stdout);
    let mode = ws
        .run(&["modes", "show", "goalspec", "--json"])
        .code(0)
        .json();
    assert_eq!(mode["id"], "research_goalspec");
    let r = ws.run(&["loops", "show", "standrd"]).code(1);
    assert!(
        r.stderr.contains("did you mean `standard`?"),
        "{}",
        r.stderr
    );
}

#[test]
fn registry_commands_work_without_a_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["modes", "list"])
        .current_dir(dir.path())
        .output_within();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("research_audit"));
}

#[test]
fn schema_export_writes_every_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["schema", "export"])
        .arg(dir.path().join("s"))
        .output_within();
    assert!(out.status.success());
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("s"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "config.schema.json",
            "frozen-plan.schema.json",
            "loop.schema.json",
            "mode.schema.json",
            "output",
            "records",
            "stage-kind.schema.json"
        ]
    );
    let outputs = std::fs::read_dir(dir.path().join("s/output"))
        .unwrap()
        .count();
    assert_eq!(outputs, 23);
}

#[test]
fn config_stage_overrides_reach_the_plan_with_provenance() {
    let ws = Ws::new();
    let mut cfg = std::fs::read_to_string(ws.config()).unwrap();
    cfg.push_str("\n[stages.qa]\nmodel = \"o9\"\ntimeout_seconds = 900\n");
    ws.write("millrace.toml", &cfg);
    let plan = ws.run(&["plan", "show", "--format", "json"]).code(0).json();
    let qa = &plan["content"]["planes"]["execution"]["nodes"]["qa"];
    assert_eq!(qa["model"], "o9");
    assert_eq!(qa["timeout_seconds"], 900);
    assert_eq!(qa["provenance"]["model"]["layer"], "config");
    assert_eq!(qa["provenance"]["runner"]["layer"], "stage_kind");
}

#[test]
fn authoring_guide_example_validates() {
    let ws = Ws::new();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/overlay");
    support::copy_tree(&example, &ws.root.join("agents"));
    let r = ws.run(&["plan", "validate", "--mode", "careful"]).code(0);
    assert!(
        r.stdout.contains("compiled to plan-careful-"),
        "{}",
        r.stdout
    );
    let plan = ws
        .run(&["plan", "show", "--mode", "careful", "--format", "json"])
        .code(0)
        .json();
    let lp = &plan["content"]["planes"]["execution"];
    assert_eq!(lp["extends"][0], "standard");
    assert_eq!(lp["nodes"]["lint"]["stage_kind"], "lint");
    assert_eq!(
        lp["routes"]["builder"]["BUILDER_COMPLETE"]["candidates"][0]["target"]["node"],
        "lint"
    );
}

#[test]
fn config_set_edits_every_valid_toml_shape_in_place() {
    let ws = Ws::new();
    let cfg = ws.read("millrace.toml").replace("[engine]", "[ engine ]");
    ws.write(
        "millrace.toml",
        &format!("{cfg}\n[stages]\nqa = {{ model = \"o3\" }}\n\n[runners.x]\ncommand = [\n  \"sh\",\n  \"-c\",\n]\n"),
    );
    ws.run(&["config", "set", "engine.poll_interval_seconds", "7"])
        .code(0);
    ws.run(&["config", "set", "stages.qa.timeout_seconds", "9"])
        .code(0);
    ws.run(&["config", "set", "runners.x.args", "[\"true\"]"])
        .code(0);
    let text = ws.read("millrace.toml");
    assert!(text.contains("[ engine ]"), "{text}");
    assert!(
        text.contains("qa = { model = \"o3\", timeout_seconds = 9 }"),
        "{text}"
    );
    assert!(
        text.contains("command = [\n  \"sh\",\n  \"-c\",\n]"),
        "{text}"
    );
    let shown = ws.run(&["config", "show", "--json"]).code(0).json();
    assert_eq!(shown["config"]["engine"]["poll_interval_seconds"], 7);
    assert_eq!(shown["config"]["stages"]["qa"]["timeout_seconds"], 9);
    assert_eq!(shown["config"]["runners"]["x"]["args"][0], "true");
}

#[test]
fn operator_commands_are_recorded_like_the_engines_events() {
    // Without a daemon: the event log and the history log both.
    let ws = Ws::new();
    ws.add("Recorded");
    ws.run(&["config", "set", "execution.quickfix_max_attempts", "3"])
        .code(0);
    let types = ws.event_types();
    assert!(
        types.contains(&"execution.task.added".to_string()),
        "{types:?}"
    );
    assert!(types.contains(&"config.changed".to_string()), "{types:?}");
    let history = ws.read("agents/historylog.md");
    assert!(history.contains("[execution.task.added]"), "{history}");
    assert!(history.contains("[config.changed]"), "{history}");
}

/// Values that begin with `-` are values (v0.2.0 scripts write card fields
/// as `--body "- **Goal:** …"`), and log lines carry no colour when stderr
/// is not a terminal.
#[test]
fn hyphen_values_are_accepted_and_redirected_logs_have_no_colour() {
    let ws = Ws::new();
    ws.run(&["add-task", "Goal", "--body", "- **Goal:** first"])
        .code(0);
    assert!(ws
        .read("agents/tasksbacklog.md")
        .contains("- **Goal:** first"));
    let out = ws
        .command(&["start", "--once"])
        .env("RUST_LOG", "info")
        .output_within();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains('\u{1b}'),
        "colour in a redirected log"
    );
}
