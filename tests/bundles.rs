//! Diagnostics bundles through the real binary: written on escalation,
//! threshold exhaustion and quarantine, listed and created on request,
//! with secrets redacted in every copied file and a manifest that matches.

mod support;

use support::{OutputWithin, Ws};

fn sha256(bytes: &[u8]) -> String {
    millrace::defs::config::sha256_hex(bytes)
}

#[test]
fn a_quarantined_task_leaves_redacted_bundles_with_a_true_manifest() {
    let ws = Ws::new();
    ws.append_config("[diagnostics]\nredact = [\"hunter2-password\"]\n");
    ws.add_with_body(
        "Hopeless",
        "The admin password is hunter2-password and the key is sk-env-secret-123456.",
    );
    ws.script("qa", &["QUICKFIX_NEEDED"]);
    ws.script("doublecheck", &["QUICKFIX_NEEDED"]);
    ws.script("troubleshoot", &["BLOCKED"]);
    ws.script("consult", &["NEEDS_RESEARCH"]);
    let r = ws
        .command(&["start", "--once", "--json"])
        .env("MILLRACE_TEST_API_KEY", "sk-env-secret-123456")
        .output_within();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let list = ws.run(&["diagnostics", "list", "--json"]).code(0).json();
    let bundles = list["bundles"].as_array().unwrap();
    let labels: Vec<&str> = bundles
        .iter()
        .map(|b| b["label"].as_str().unwrap())
        .collect();
    // Exhausted quickfix rounds (this run's first escalation), then the
    // quarantine.
    assert!(
        labels.iter().any(|l| l.ends_with("-exhausted")),
        "{labels:?}"
    );
    assert!(labels.contains(&"quarantine"), "{labels:?}");
    let quarantined = ws
        .events()
        .into_iter()
        .find(|e| e["type"] == "execution.task.quarantined")
        .unwrap();
    let dir = quarantined["payload"]["diagnostics_dir"]
        .as_str()
        .unwrap()
        .to_string();
    let bundle = ws.path(&dir);
    assert!(bundle.join("failure_summary.md").exists());
    assert!(bundle.join("run/transition_history.jsonl").exists());
    assert!(bundle.join("tasksblocker.md").exists() || bundle.join("tasks.md").exists());
    // Every file is listed with its sha256; nothing holds a secret.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("manifest.json")).unwrap())
            .unwrap();
    let files = manifest["files"].as_array().unwrap();
    assert!(files.len() > 5);
    for f in files {
        let bytes = std::fs::read(bundle.join(f["path"].as_str().unwrap())).unwrap();
        assert_eq!(f["sha256"], sha256(&bytes).as_str(), "{}", f["path"]);
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("hunter2-password"),
            "{} leaks the configured secret",
            f["path"]
        );
        assert!(
            !text.contains("sk-env-secret-123456"),
            "{} leaks the env secret",
            f["path"]
        );
    }
    let prompt = std::fs::read_to_string(bundle.join("run/builder.1.prompt.md")).unwrap();
    assert!(
        prompt.contains("The admin password is <redacted>"),
        "{prompt}"
    );
    let evidence: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(bundle.join("policy_evidence.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(evidence["redaction"]["redacted"], true);
    // On request, and shown.
    let made = ws.run(&["diagnostics", "create", "--json"]).code(0).json();
    let id = made["id"].as_str().unwrap();
    let shown = ws
        .run(&["diagnostics", "show", id, "--json"])
        .code(0)
        .json();
    assert_eq!(shown["label"], "operator");
    ws.run(&["diagnostics", "show", "diag-nope"]).code(1);
}

#[test]
fn the_first_escalation_of_a_run_leaves_one_bundle() {
    let ws = Ws::new();
    ws.add("Blocked once");
    ws.script("builder", &["BLOCKED", "BUILDER_COMPLETE"]);
    ws.run(&["start", "--once"]).code(0);
    let list = ws.run(&["diagnostics", "list", "--json"]).code(0).json();
    let labels: Vec<&str> = list["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["builder-escalation"]);
}

/// A symlink in a run directory never pulls an outside file into a
/// bundle; a secret that is a prefix of another, and secrets JSON-escaped
/// or URL-encoded in a stream log, are redacted whole.
#[test]
fn bundles_copy_no_links_and_redact_every_form_of_a_secret() {
    let ws = Ws::new();
    ws.append_config(
        "[diagnostics]\nredact = [\"pre-secret\", \"pre-secret-and-more\", \"quo\\\"te/sl ash-é\"]\n",
    );
    ws.add("Work");
    ws.run(&["start", "--once"]).code(0);
    let run = std::fs::read_dir(ws.path("agents/runs"))
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    let outside = ws.dir.path().join("outside.txt");
    std::fs::write(&outside, "OUTSIDE-CONTENT").unwrap();
    std::os::unix::fs::symlink(&outside, run.join("leak.log")).unwrap();
    std::fs::write(
        run.join("builder.1.stdout.log"),
        "{\"text\":\"a pre-secret-and-more b quo\\\"te\\/sl ash-\\u00e9\"}\nGET /x?k=quo%22te%2Fsl+ash-%C3%A9\n",
    )
    .unwrap();
    let made = ws.run(&["diagnostics", "create", "--json"]).code(0).json();
    let dir = ws.path(&format!(
        "agents/diagnostics/{}",
        made["id"].as_str().unwrap()
    ));
    assert!(!dir.join("run/leak.log").exists());
    let mut seen = 0;
    for e in walk(&dir) {
        let text = std::fs::read_to_string(&e).unwrap_or_default();
        seen += usize::from(e.ends_with("run/builder.1.stdout.log"));
        for bad in ["OUTSIDE-CONTENT", "-and-more", "quo", "%C3%A9", "\\u00e9"] {
            assert!(!text.contains(bad), "{}: {bad} in {text}", e.display());
        }
    }
    assert_eq!(seen, 1);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}
