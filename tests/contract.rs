//! The published machine contract: every `--json` output validates against
//! its checked-in schema (`schemas/output/`), the on-disk records against
//! `schemas/records/`, every object prints with sorted keys, and
//! `capabilities` names a schema for every command that has JSON output.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{bin, output_of, OutputWithin, Ws};

fn schema(rel: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let value: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&value).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[track_caller]
fn check(rel: &str, what: &str, value: &Value) {
    let v = schema(rel);
    let errors: Vec<String> = v.iter_errors(value).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{what} does not match {rel}:\n{}\n{value:#}",
        errors.join("\n")
    );
}

/// Keys of every object appear in sorted order in the text.
#[track_caller]
fn assert_sorted(what: &str, text: &str) {
    let value: Value = serde_json::from_str(text).unwrap();
    // serde_json (without preserve_order) sorts maps, so the sorted
    // re-serialisation equals the text exactly when the text was sorted.
    let resorted = serde_json::to_string_pretty(&value).unwrap() + "\n";
    assert_eq!(text, resorted, "{what}: keys are not sorted");
}

#[test]
fn every_json_output_matches_its_schema() {
    let ws = Ws::with_init(&["--demo"]);
    ws.run(&["start", "--once"]).code(0);
    ws.add("Second");
    let caps = ws.run(&["capabilities", "--json"]).code(0);
    let caps_json = caps.json();
    check(
        "output/capabilities.schema.json",
        "capabilities",
        &caps_json,
    );
    let run_id = ws.run(&["status", "--json"]).code(0).json()["last_run"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let cases: Vec<(Vec<&str>, i32)> = vec![
        (vec!["add-task", "Third"], 0),
        (vec!["queue"], 0),
        (vec!["queue", "inspect"], 0),
        (vec!["status", "--detail"], 0),
        (vec!["research"], 0),
        (vec!["research", "history"], 0),
        (vec!["run-provenance", &run_id], 0),
        (vec!["logs", "--tail", "5"], 0),
        (vec!["config", "show"], 0),
        (
            vec!["config", "set", "engine.poll_interval_seconds", "7"],
            0,
        ),
        (vec!["config", "reload"], 0),
        (vec!["pause"], 0),
        (vec!["health"], 0),
        (vec!["doctor"], 0),
        (vec!["plan", "validate"], 0),
        (vec!["plan", "show"], 0),
        (vec!["plan", "diff", &run_id, &run_id], 0),
        (vec!["modes", "list"], 0),
        (vec!["modes", "show", "standard"], 0),
        (vec!["loops", "list"], 0),
        (vec!["loops", "show", "standard"], 0),
        (vec!["start", "--once"], 0),
    ];
    let commands = caps_json["commands"].as_array().unwrap();
    for (args, code) in cases {
        let mut full = args.clone();
        full.push("--json");
        let r = ws.run(&full).code(code);
        let name: String = args
            .iter()
            .take_while(|a| !a.starts_with('-') && !a.contains('_') && **a != run_id)
            .take(2)
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let entry = commands
            .iter()
            .find(|c| c["name"] == name.as_str())
            .or_else(|| commands.iter().find(|c| c["name"] == args[0]))
            .unwrap_or_else(|| panic!("capabilities lists no `{name}`"));
        let rel = entry["output_schema"]
            .as_str()
            .unwrap_or_else(|| panic!("`{name}` has no output schema"));
        check(rel, &name, &r.json());
        assert_sorted(&name, &r.stdout);
    }
}

#[test]
fn errors_and_init_have_schemas_too() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("w");
    let out = bin()
        .args(["init", target.to_str().unwrap(), "--json"])
        .output_within();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    check(
        "output/operation.schema.json",
        "init",
        &serde_json::from_str(&text).unwrap(),
    );
    assert_sorted("init", &text);
    let out = bin()
        .args(["--config", "/nonexistent/millrace.toml", "status", "--json"])
        .output_within();
    assert_eq!(out.status.code(), Some(1));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    check("output/error.schema.json", "error", &err);
    assert!(err["hint"].as_str().unwrap().contains("millrace init"));
    assert_eq!(err["kind"], "not_found", "{err}");
    // A usage error says so too.
    let ws = Ws::new();
    let out = ws.run(&["usage", "--since", "someday", "--json"]).code(2);
    let err: Value = serde_json::from_str(&out.stderr).unwrap();
    check("output/error.schema.json", "error", &err);
    assert_eq!(err["kind"], "usage", "{err}");
}

#[test]
fn on_disk_records_match_their_schemas() {
    let ws = Ws::with_init(&["--demo"]);
    let r = ws.run(&["start", "--once", "--json"]).code(0).json();
    let run_dir = ws.path(
        r["run"]["run_dir"]
            .as_str()
            .unwrap()
            .trim_start_matches("w/"),
    );
    let run_dir = if run_dir.exists() {
        run_dir
    } else {
        ws.root.join(r["run"]["run_dir"].as_str().unwrap())
    };
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json")).unwrap()).unwrap();
    check("records/run.schema.json", "run.json", &run);
    let history = std::fs::read_to_string(run_dir.join("transition_history.jsonl")).unwrap();
    for line in history.lines() {
        check(
            "records/transition.schema.json",
            "transition",
            &serde_json::from_str(line).unwrap(),
        );
    }
    let result = std::fs::read_to_string(run_dir.join("builder.1.result.json")).unwrap();
    check(
        "records/stage-result.schema.json",
        "result.json",
        &serde_json::from_str(&result).unwrap(),
    );
    assert_sorted("result.json", &result);
    for e in ws.events() {
        check("records/event.schema.json", "event", &e);
    }
}

#[test]
fn a_full_stdout_is_a_failure_and_a_closed_pipe_is_not() {
    let ws = Ws::new();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let child = ws
        .command(&["plan", "show"])
        .stdout(full)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = output_of(child);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write the output"));
}
