//! A workspace Python Millrace v0.2.0 itself created and ran
//! (`tests/fixtures/v020/workspace.tar.gz`, made by `make.sh` beside it: a
//! customised config, an edited `_start.md`, a finished run, a run killed
//! mid-builder, pending mailbox envelopes) moves in: every command works
//! over it, nothing of v0.2.0's is deleted, its runs read, its unfinished
//! run is reported and then closed with a record, its envelopes are
//! applied or set aside with a warning, and v0.2.0 can still read the
//! workspace afterwards.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{OutputWithin, Ws};

const FINISHED: &str = "20261207T201323545104Z__2026-12-07-add-greeting-endpoint";
const KILLED: &str = "20261207T201325297283Z__2026-12-07-fix-login-redirect";
/// Where `make.sh` built the workspace (the add_idea envelope names its
/// file under it).
const MADE_AT: &str = "/tmp/millrace-v020-fixture";

fn fixture_archive() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v020/workspace.tar.gz")
}

/// The fixture unpacked into a temp dir, fake agents on PATH. The pending
/// add_idea envelope's absolute path is moved along with the workspace.
fn fixture() -> Ws {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("w");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    let out = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(fixture_archive())
        .arg("-C")
        .arg(&root)
        .output_within();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let incoming = root.join("agents/.runtime/commands/incoming");
    for e in std::fs::read_dir(&incoming).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        std::fs::write(e.path(), text.replace(MADE_AT, &root.display().to_string())).unwrap();
    }
    let ws = Ws { dir, root, bin };
    ws.install("codex", support::FAKE_CODEX);
    ws
}

/// Every file under `root`, relative.
fn files(root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out
}

/// The clock of the commands of these tests: a day after v0.2.0 made the
/// fixture (its envelopes are older than any daemon started here).
fn after_fixture(cmd: &mut std::process::Command) -> &mut std::process::Command {
    let anchor = support::pinned_now();
    let anchor = anchor.split('@').nth(1).unwrap();
    cmd.env("MILLRACE_NOW", format!("2026-12-08T12:00:00Z@{anchor}"))
}

fn run(ws: &Ws, args: &[&str]) -> support::Run {
    let out = after_fixture(&mut ws.command(args)).output_within();
    support::Run::new(out, args).in_workspace(&ws.root)
}

#[test]
fn reads_work_on_a_v020_workspace_and_report_its_unfinished_run() {
    let ws = fixture();
    let health = run(&ws, &["health"]).code(0);
    assert!(
        health.stdout.contains("WARN runs.active"),
        "{}",
        health.stdout
    );
    assert!(health.stdout.contains(KILLED), "{}", health.stdout);
    assert!(
        health.stdout.contains("WARN workspace.origin"),
        "{}",
        health.stdout
    );
    assert!(
        health.stdout.contains("WARN mailbox.pending"),
        "{}",
        health.stdout
    );
    run(&ws, &["init", ".", "--force"]).code(0);
    let adopted = run(&ws, &["health"]).code(0).stdout;
    assert!(adopted.contains("PASS workspace.origin"), "{adopted}");
    run(&ws, &["doctor"]).code(0);

    let status = run(&ws, &["status", "--json"]).code(0).json();
    assert_eq!(status["unfinished_v020_run"]["run_id"], KILLED);
    assert_eq!(status["unfinished_v020_run"]["last_node"], "builder");
    assert_eq!(status["runtime"]["paused"], false);
    assert_eq!(status["runtime"]["mode"], "once");
    let text = run(&ws, &["status"]).code(0).stdout;
    assert!(text.contains("Paused: no\n"), "{text}");
    assert!(text.contains("Unfinished v0.2.0 run: "), "{text}");

    let p = run(&ws, &["run-provenance", FINISHED, "--json"])
        .code(0)
        .json();
    assert_eq!(p["frozen_plan"]["source"], "v0.2.0");
    assert_eq!(
        p["frozen_plan"]["verified"], true,
        "v0.2.0's hash recomputed"
    );
    assert_eq!(p["run"]["state"], "archived");
    assert_eq!(p["run"]["task_title"], "Add greeting endpoint");
    let nodes: Vec<_> = p["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["event"] == "stage.finished")
        .map(|t| t["node"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(nodes, ["builder", "qa", "update"]);
    let killed = run(&ws, &["run-provenance", KILLED, "--json"])
        .code(0)
        .json();
    assert_eq!(killed["run"]["state"], "running");

    let plan = run(&ws, &["plan", "show", "--run", FINISHED]);
    assert_ne!(plan.out.status.code(), Some(0));
    assert!(
        plan.stderr.contains("written by Millrace v0.2.0"),
        "{}",
        plan.stderr
    );

    let usage = run(&ws, &["usage", "--json"]).code(0).json();
    assert_eq!(usage["total"]["invocations"], 3, "{usage}");
    assert_eq!(usage["total"]["tokens"], 4500, "{usage}");
    for args in [
        &["queue"][..],
        &["queue", "inspect", "--json"],
        &["research", "--json"],
        &["config", "show", "--json"],
        &["logs", "--tail", "5"],
        &["plan", "validate"],
    ] {
        run(&ws, args).code(0);
    }
}

#[test]
fn start_closes_the_killed_run_restarts_its_task_and_deletes_nothing() {
    let ws = fixture();
    let before = files(&ws.root);
    let started = run(&ws, &["start", "--once"]).code(0);
    assert!(
        started.stderr.contains(&format!("closed run {KILLED}")),
        "{}",
        started.stderr
    );
    assert!(
        started.stdout.contains("Fix login redirect → archived"),
        "{}",
        started.stdout
    );
    // The new run began at the loop's entry.
    let report = run(&ws, &["start", "--once", "--json"]).code(0).json();
    assert_eq!(
        report["run"]["task_title"].as_str(),
        Some("Write changelog"),
        "{report}"
    );

    let killed = run(&ws, &["run-provenance", KILLED, "--json"])
        .code(0)
        .json();
    assert_eq!(killed["run"]["state"], "abandoned (v0.2.0 run)");
    let last = killed["transitions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["event"], "run.abandoned");
    let events = ws.event_types();
    assert!(
        events.iter().any(|e| e == "execution.run.abandoned"),
        "{events:?}"
    );
    // Once closed, it is no longer reported.
    let status = run(&ws, &["status", "--json"]).code(0).json();
    assert!(status["unfinished_v020_run"].is_null());

    let after = files(&ws.root);
    let gone: Vec<_> = before.difference(&after).collect();
    assert!(gone.is_empty(), "deleted: {gone:?}");
}

/// Runs a daemon until the mailbox is empty and the backlog drained, then
/// stops it.
fn drain_with_daemon(ws: &Ws) -> String {
    let mut child = after_fixture(&mut ws.command(&["start", "--daemon"]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let incoming = ws.path("agents/.runtime/commands/incoming");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let empty = std::fs::read_dir(&incoming).map_or(true, |mut d| d.next().is_none());
        let idle = ws.cards_in("tasksbacklog.md") == 0 && ws.cards_in("tasks.md") == 0;
        if empty && idle && ws.cards_in("tasksarchive.md") >= 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not drain the fixture"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    run(ws, &["stop"]).code(0);
    support::wait_within(&mut child);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    err
}

#[test]
fn pending_v020_envelopes_are_applied_or_set_aside_with_a_warning() {
    let ws = fixture();
    let stderr = drain_with_daemon(&ws);
    // add_task: applied (the card arrived through the mailbox and ran).
    assert!(ws
        .read("agents/tasksarchive.md")
        .contains("Queued by mailbox"));
    // add_idea {file}: the file became an idea.
    let raw: Vec<_> = std::fs::read_dir(ws.path("agents/ideas/raw"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(raw.iter().any(|n| n.ends_with("dark-mode.md")), "{raw:?}");
    // pause: meant for the v0.2.0 process that died; set aside, said on
    // stderr, named by health.
    assert!(stderr.contains("__pause"), "{stderr}");
    let failed = ws.path("agents/.runtime/commands/failed");
    assert!(std::fs::read_dir(&failed).unwrap().count() == 1);
    let health = run(&ws, &["health"]).code(0).stdout;
    assert!(health.contains("WARN mailbox.failed"), "{health}");
    let received: Vec<_> = ws
        .events()
        .into_iter()
        .filter(|e| e["type"] == "control.command.received")
        .collect();
    assert!(
        received
            .iter()
            .any(|e| e["payload"]["issuer"] == "v0.2.0 envelope"),
        "{received:?}"
    );
}

#[test]
fn a_prompt_file_anywhere_in_the_workspace_runs() {
    let ws = fixture();
    ws.write(
        "agents/custom_builder.md",
        "Custom builder prompt: keep every change small.\nEnd with `### BUILDER_COMPLETE`.\n",
    );
    run(
        &ws,
        &[
            "config",
            "set",
            "stages.builder.prompt_file",
            "agents/custom_builder.md",
        ],
    )
    .code(0);
    let report = run(&ws, &["start", "--once", "--json"]).code(0).json();
    let run_id = report["run"]["run_id"].as_str().unwrap();
    let prompt = ws.read(&format!("agents/runs/{run_id}/builder.1.prompt.md"));
    assert!(prompt.contains("Custom builder prompt"), "{prompt}");
}

/// v0.2.0 sets any stage only with its whole `[stages]` table (a partial
/// one fails there), so a customised v0.2.0 config lists all 29 stages,
/// six of which no loop runs: ours loads it, says those take no effect,
/// and `config show` reports every stage.
#[test]
fn a_whole_v020_stages_table_loads() {
    let ws = fixture();
    let prompts = "audit_gatekeeper:_audit_gatekeeper.md audit_intake:_audit_intake.md \
        audit_validate:_audit_validate.md builder:_start.md clarify:_clarify.md consult:_consult.md \
        critic:_critic.md designer:_designer.md doublecheck:_doublecheck.md goal_intake:_goal_intake.md \
        hotfix:_hotfix.md incident_archive:_incident_archive.md incident_intake:_incident_intake.md \
        incident_resolve:_incident_resolve.md integration:_integrate.md \
        large_execute:_start_large_execute.md large_plan:_start_large_plan.md mechanic:_mechanic.md \
        objective_profile_sync:_objective_profile_sync.md phasesplit:_designer.md qa:_check.md \
        refactor:_refactor.md spec_review:_spec_review.md spec_synthesis:_spec_synthesis.md \
        taskaudit:_taskaudit.md taskmaster:_taskmaster.md troubleshoot:_troubleshoot.md \
        update:_update.md";
    let mut toml = ws.read("millrace.toml");
    for pair in prompts.split_whitespace() {
        let (stage, file) = pair.split_once(':').unwrap();
        toml.push_str(&format!(
            "\n[stages.{stage}]\nrunner = \"codex\"\nmodel = \"gpt-5.3-codex\"\ntimeout_seconds = 600\nprompt_file = \"agents/{file}\"\n"
        ));
    }
    toml.push_str("\n[stages.reassess]\nrunner = \"codex\"\n");
    ws.write("millrace.toml", &toml);
    run(&ws, &["plan", "validate"]).code(0);
    let health = run(&ws, &["health", "--json"]).code(0).json();
    let compat = health["checks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["details"].as_array().unwrap().iter())
        .filter_map(|d| d.as_str())
        .find(|d| d.contains("`stages.clarify`"))
        .expect("health names the legacy stage");
    assert!(compat.contains("no loop runs"), "{compat}");
    let config = run(&ws, &["config", "show", "--json"]).code(0).json();
    let stages = &config["config"]["stages"];
    assert_eq!(stages["qa"]["prompt_file"], "agents/_check.md");
    assert_eq!(stages["clarify"]["prompt_file"], "agents/_clarify.md");
    assert!(stages["clarify"]["runner"].is_null());
    assert_eq!(
        config["assets"]["stage_prompts"]["builder"]["resolved_ref"],
        "workspace:agents/_start.md"
    );
}

/// Going back: after ours ran the workspace (a daemon wrote its state),
/// v0.2.0 reads it. `.ci/run` installs v0.2.0 and names it in
/// `MILLRACE_V020`; elsewhere the test says it skipped.
#[test]
fn v020_still_reads_the_workspace_after_ours_ran() {
    let Some(v020) = std::env::var_os("MILLRACE_V020").filter(|v| Path::new(v).exists()) else {
        let required = std::env::var("MILLRACE_REQUIRE_TOOLS").unwrap_or_default();
        assert!(
            !required.split_whitespace().any(|t| t == "millrace-v020"),
            "millrace-v020 is required here (MILLRACE_REQUIRE_TOOLS) but MILLRACE_V020 names no binary"
        );
        eprintln!("SKIPPED: v0.2.0 is not installed: set MILLRACE_V020 to a v0.2.0 `millrace` (pip install millrace-ai==0.2.0)");
        return;
    };
    let ws = fixture();
    drain_with_daemon(&ws);
    for args in [
        &["status", "--json"][..],
        &["queue", "inspect", "--json"],
        &["health", "--json"],
    ] {
        let out = std::process::Command::new(&v020)
            .args(args)
            .current_dir(&ws.root)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    ws.bin.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .output_within();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "v0.2.0 {args:?}: {e}\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert!(
            out.status.success() && v.get("error").is_none(),
            "v0.2.0 {args:?}: {v}"
        );
    }
}

/// v0.2.0's research prompts know nothing of our artifacts: the stage is
/// told them (the contract appended), and `plan validate` says so.
#[test]
fn v020_research_prompts_are_told_their_artifacts() {
    let ws = fixture();
    run(&ws, &["config", "set", "research.mode", "auto"]).code(0);
    let validate = run(&ws, &["plan", "validate"]).code(0);
    assert!(
        validate
            .stderr
            .contains("warning[prompt.artifact_contract]: prompt `_goal_intake.md`"),
        "{}",
        validate.stderr
    );
    ws.write("idea.md", "# Idea: a dark theme\n\nUsers want one.\n");
    run(&ws, &["add-idea", "idea.md"]).code(0);
    run(&ws, &["start", "--once"]);
    let runs: Vec<_> = std::fs::read_dir(ws.path("agents/runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("goal_intake.1.prompt.md"))
        .filter(|p| p.exists())
        .collect();
    let prompt = std::fs::read_to_string(runs.first().expect("a goal_intake stage ran")).unwrap();
    let v020 = ws.read("agents/_goal_intake.md");
    assert!(
        prompt.starts_with(v020.lines().next().unwrap()),
        "v0.2.0's own prompt first"
    );
    assert!(prompt.contains("Write these artifacts"), "{prompt}");
    assert!(prompt.contains("artifacts/research_brief.md"), "{prompt}");
}

/// Every key path of `v`, `.a.b[].c`, with the JSON types seen there.
fn key_paths(v: &serde_json::Value) -> std::collections::BTreeMap<String, BTreeSet<&'static str>> {
    fn walk(
        v: &serde_json::Value,
        path: String,
        out: &mut std::collections::BTreeMap<String, BTreeSet<&'static str>>,
    ) {
        use serde_json::Value;
        let t = match v {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let shown = if path.is_empty() {
            ".".to_string()
        } else {
            path.clone()
        };
        out.entry(shown).or_default().insert(t);
        match v {
            Value::Object(m) => m
                .iter()
                .for_each(|(k, x)| walk(x, format!("{path}.{k}"), out)),
            Value::Array(a) => a.iter().for_each(|x| walk(x, format!("{path}[]"), out)),
            _ => {}
        }
    }
    let mut out = Default::default();
    walk(v, String::new(), &mut out);
    out
}

/// Ours `--json` for v0.2.0's command `name`, run over the fixture as
/// v0.2.0's was (`make.sh` wrote its key lists the same way).
fn ours(name: &str) -> serde_json::Value {
    let ws = fixture();
    let args: Vec<&str> = match name {
        "status" => vec!["status"],
        "health" => vec!["health"],
        "doctor" => vec!["doctor"],
        "queue" => vec!["queue"],
        "queue-inspect" => vec!["queue", "inspect"],
        "research" => vec!["research"],
        "config-show" => vec!["config", "show"],
        "run-provenance" => vec!["run-provenance", FINISHED],
        "start-once" => vec!["start", "--once"],
        "init" => {
            let dest = ws.dir.path().join("fresh");
            let out = after_fixture(&mut support::bin())
                .args(["init", "--json"])
                .arg(&dest)
                .output_within();
            return serde_json::from_slice(&out.stdout).unwrap();
        }
        other => panic!("no command for {other}"),
    };
    let mut args = args;
    args.push("--json");
    let r = run(&ws, &args);
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}\n{}", r.stdout, r.stderr))
}

/// Scripts keep working: every key path v0.2.0's `--json` printed (over
/// the fixture; `tests/fixtures/v020/keys/<command>.txt`, written by
/// v0.2.0 itself in `make.sh`) is in ours with a compatible type (null on
/// either side matches anything).
#[test]
fn json_output_keeps_v020s_key_paths() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v020/keys");
    let mut problems = Vec::new();
    for name in [
        "status",
        "health",
        "doctor",
        "queue",
        "queue-inspect",
        "research",
        "config-show",
        "run-provenance",
        "start-once",
        "init",
    ] {
        let theirs = std::fs::read_to_string(dir.join(format!("{name}.txt"))).unwrap();
        let ours = key_paths(&ours(name));
        for line in theirs.lines() {
            let (path, types) = line.split_once(' ').unwrap();
            let types: BTreeSet<&str> = types.split('|').collect();
            let compatible = ours.get(path).is_some_and(|o| {
                o.contains("null") || types.contains("null") || o.iter().any(|t| types.contains(t))
            });
            if !compatible {
                problems.push(format!(
                    "{name}: v0.2.0's `{path}` ({}) is missing from ours (or has another type)",
                    line.split_once(' ').unwrap().1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The TUI's Runs panel lists v0.2.0's runs (it read "no runs yet").
#[test]
fn the_tui_lists_v020_runs() {
    let ws = fixture();
    let open = millrace::control::Workspace::open(&ws.config()).unwrap();
    let snapshot = millrace::tui::app::Snapshot::load(&open);
    let ids: Vec<&str> = snapshot
        .runs
        .iter()
        .map(|r| r.meta.run_id.as_str())
        .collect();
    assert!(ids.contains(&FINISHED) && ids.contains(&KILLED), "{ids:?}");
    let finished = snapshot
        .runs
        .iter()
        .find(|r| r.meta.run_id == FINISHED)
        .unwrap();
    assert_eq!(finished.meta.state, "archived");
    assert_eq!(finished.spend.tokens, 4500);
}
