//! The research plane through the real binary: fake agents write the
//! declared artifacts (or fail to), and the engine turns them into cards,
//! thaws and completion decisions.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{output_of, Ws};

const CARDS: &str = "# Cards\n\n## 2026-11-24 - Parse the config\nRead millrace.toml.\n\n## 2026-11-24 - Validate the config\nCheck every key.\n\n## 2026-11-24 - Document the config\nWrite the docs.\n";

/// A workspace whose research plane runs every family.
fn research_ws() -> Ws {
    let ws = Ws::new();
    ws.write(
        "millrace.toml",
        &ws.read("millrace.toml")
            .replace("[research]\nmode = \"stub\"", "[research]\nmode = \"auto\""),
    );
    ws
}

fn once(ws: &Ws) -> serde_json::Value {
    ws.run(&["start", "--once", "--json"]).code(0).json()
}

fn idea(ws: &Ws, name: &str, text: &str) {
    ws.write(&format!("agents/ideas/raw/{name}"), text);
}

fn history(ws: &Ws, run_id: &str) -> Vec<serde_json::Value> {
    ws.read(&format!("agents/runs/{run_id}/transition_history.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The failure recorded by the last finished stage of `run_id` (of `node`
/// when given).
fn failure_of(ws: &Ws, run_id: &str, node: Option<&str>) -> String {
    history(ws, run_id)
        .into_iter()
        .rfind(|t| t["event"] == "stage.finished" && node.is_none_or(|n| t["node"] == n))
        .unwrap()["failure"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Every card title of a store, in order. A card heading of any other
/// shape fails the test rather than being skipped.
fn ids(ws: &Ws, store: &str) -> Vec<String> {
    ws.read(&format!("agents/{store}"))
        .lines()
        .filter(|l| l.starts_with("## "))
        .map(|l| {
            let (_date, title) = l[3..]
                .split_once(" - ")
                .unwrap_or_else(|| panic!("not a card heading in {store}: {l:?}"));
            title.to_string()
        })
        .collect()
}

#[test]
fn an_idea_becomes_a_spec_and_cards_each_traceable_to_it() {
    let ws = research_ws();
    idea(
        &ws,
        "config.md",
        "# Config loader\n\nLoad and check the config.\n",
    );
    ws.write("fake/art.task_cards", CARDS);
    let r = once(&ws);
    let research = &r["research_run"];
    assert_eq!(r["research_outcome"], "ran");
    assert_eq!(research["terminal"], "idle", "{research:#}");
    assert_eq!(research["effects"]["appended"].as_array().unwrap().len(), 3);
    // The execution pass of the same start ran the first new card.
    assert_eq!(r["outcome"], "ran");
    assert_eq!(r["run"]["task_title"], "Parse the config");
    assert_eq!(
        ids(&ws, "tasksbacklog.md"),
        ["Validate the config", "Document the config"]
    );
    for store in ["tasksbacklog.md", "tasksarchive.md"] {
        let text = ws.read(&format!("agents/{store}"));
        for card in text.split("\n## ").skip(1) {
            assert!(
                card.contains("- **Spec-ID:** SPEC-config"),
                "{store}: {card}"
            );
            assert!(
                card.contains("- **Source:** agents/ideas/raw/config.md"),
                "{store}: {card}"
            );
        }
    }
    assert!(ws.path("agents/specs/SPEC-config.md").exists());
    assert!(ws.path("agents/ideas/finished/config.md").exists());
    assert!(!ws.path("agents/ideas/raw/config.md").exists());
    let visited: Vec<String> = ws
        .trace()
        .iter()
        .map(|l| l.split('#').next().unwrap().to_string())
        .collect();
    assert_eq!(
        visited[..5],
        [
            "goal_intake",
            "objective_profile_sync",
            "spec_synthesis",
            "spec_review",
            "taskmaster"
        ]
    );
    // The taskmaster was told where to write, in its prompt and environment.
    let run_id = research["run_id"].as_str().unwrap();
    let prompt = ws.read(&format!("agents/runs/{run_id}/taskmaster.1.prompt.md"));
    assert!(
        prompt.contains(&format!("agents/runs/{run_id}/artifacts/task_cards.md")),
        "{prompt}"
    );
    assert!(ws
        .read("fake/taskmaster.env")
        .contains("MILLRACE_ARTIFACT_TASK_CARDS"));
    let types = ws.event_types();
    for t in [
        "research.mode.selected",
        "research.dispatch.compiled",
        "research.cards.appended",
    ] {
        assert!(types.iter().any(|x| x == t), "no {t} in {types:?}");
    }
}

#[test]
fn a_claimed_success_without_its_artifact_is_a_task_failure() {
    let ws = research_ws();
    idea(&ws, "x.md", "An idea\n");
    ws.script("taskmaster", &["NOART"]);
    let r = once(&ws);
    let research = &r["research_run"];
    assert_eq!(research["terminal"], "blocked", "{research:#}");
    let run_id = research["run_id"].as_str().unwrap();
    let finished = history(&ws, run_id)
        .into_iter()
        .rfind(|t| t["event"] == "stage.finished")
        .unwrap();
    assert_eq!(finished["class"], "task_failure");
    let failure = finished["failure"].as_str().unwrap();
    assert!(
        failure.starts_with("artifact `task_cards`: missing"),
        "{failure}"
    );
    // Nothing reached the stores; the idea is parked, not retried forever.
    assert_eq!(ws.cards_in("tasksbacklog.md"), 0);
    assert!(ws.path("agents/ideas/blocked/x.md").exists());
    assert_eq!(ws.read("agents/research_status.md"), "### BLOCKED\n");
    let again = once(&ws);
    assert_eq!(again["research_outcome"], "idle");
}

#[test]
fn invalid_cards_are_refused_with_the_line() {
    let ws = research_ws();
    idea(&ws, "x.md", "An idea\n");
    ws.write(
        "fake/art.task_cards",
        "## 2026-11-24 - One\n\n## 2026-11-24 - Two\n\n## Notes (not a card)\n",
    );
    let r = once(&ws);
    let run_id = r["research_run"]["run_id"].as_str().unwrap();
    let failure = failure_of(&ws, run_id, None);
    assert!(
        failure.contains("task_cards.md: line 5: `## Notes"),
        "{failure}"
    );
    assert_eq!(ws.cards_in("tasksbacklog.md"), 0);
    // A card id already queued is refused too.
    ws.add("One");
    idea(&ws, "y.md", "Another idea\n");
    ws.write(
        "fake/art.task_cards",
        "## 2026-11-24 - One\n\n## 2026-11-24 - Two\n",
    );
    ws.write("agents/tasks.md", "# Active\n");
    let r = ws.run(&["start", "--once", "--json"]).code(0).json();
    let run_id = r["research_run"]["run_id"].as_str().unwrap();
    let failure = failure_of(&ws, run_id, None);
    assert!(
        failure.contains(&format!(
            "already in the task stores: {}__one",
            support::TODAY
        )),
        "{failure}"
    );
}

#[test]
fn a_kill_between_the_stage_and_its_effects_appends_the_cards_once() {
    // Killed mid-stage, between the effects' journal and its application,
    // and after the effects before `run.finished`: the next start resumes
    // the research run and the cards are queued exactly once.
    for point in [
        "stage.started#3",
        "effects.apply",
        "journal.written",
        "run.finished",
    ] {
        let ws = research_ws();
        idea(&ws, "x.md", "An idea\n");
        ws.write("fake/art.task_cards", CARDS);
        assert!(
            ws.killed_at(&["start", "--once"], point),
            "{point}: the process was not killed"
        );
        let r = once(&ws);
        assert_eq!(r["research_outcome"], "resumed", "{point}: {r:#}");
        let all: Vec<String> = ids(&ws, "tasksbacklog.md")
            .into_iter()
            .chain(ids(&ws, "tasksarchive.md"))
            .collect();
        assert_eq!(all.len(), 3, "{point}: {all:?}");
        assert!(ws.path("agents/ideas/finished/x.md").exists(), "{point}");
        assert!(!ws.path("agents/ideas/raw/x.md").exists(), "{point}");
    }
}

#[test]
fn an_incident_queues_remediation_ahead_of_the_thawed_batch_in_order() {
    let ws = research_ws();
    for t in ["Hopeless", "Second", "Third"] {
        ws.add(t);
    }
    ws.script("qa", &["QUICKFIX_NEEDED"]);
    ws.script("doublecheck", &["QUICKFIX_NEEDED"]);
    ws.script("troubleshoot", &["BLOCKED"]);
    ws.script("consult", &["NEEDS_RESEARCH"]);
    let r = once(&ws);
    assert_eq!(r["run"]["queue_effect"], "quarantine");
    assert_eq!(ws.cards_in("tasksbacklog.md"), 0);
    for node in ["qa", "doublecheck", "troubleshoot", "consult"] {
        std::fs::remove_file(ws.path(&format!("fake/{node}"))).unwrap();
    }
    ws.write(
        "fake/art.incident_resolve.remediation_cards",
        "## 2026-11-24 - Fix the root cause\nWhat the incident found.\n\n## 2026-11-24 - Add a regression test\n",
    );
    let r = once(&ws);
    let research = &r["research_run"];
    assert_eq!(research["item"]["family"], "incident", "{research:#}");
    assert_eq!(research["terminal"], "idle", "{research:#}");
    assert_eq!(research["effects"]["thawed"].as_array().unwrap().len(), 3);
    // Remediation first, then the frozen batch in its order; the execution
    // pass of the same start ran the first remediation card.
    assert_eq!(r["run"]["task_title"], "Fix the root cause");
    assert_eq!(
        ids(&ws, "tasksbacklog.md"),
        ["Add a regression test", "Hopeless", "Second", "Third"]
    );
    assert!(!ws
        .read("agents/tasksbackburner.md")
        .contains("freeze:start"));
    let latch: serde_json::Value =
        serde_json::from_str(&ws.read("agents/.runtime/research_recovery_latch.json")).unwrap();
    assert_eq!(latch["state"], "thawed");
    let incidents = std::fs::read_dir(ws.path("agents/ideas/incidents/archived"))
        .unwrap()
        .count();
    assert_eq!(incidents, 1);
    let types = ws.event_types();
    assert!(
        types.iter().any(|t| t == "handoff.backlog_repopulated"),
        "{types:?}"
    );
}

/// Drains the backlog and audits it, with the gatekeeper scripted.
fn audited(decision: &str, marker: &str, remediation: Option<&str>) -> (Ws, serde_json::Value) {
    let ws = research_ws();
    ws.add("Only task");
    assert_eq!(once(&ws)["outcome"], "ran");
    ws.write("fake/art.completion_decision", decision);
    ws.script("audit_gatekeeper", &[marker]);
    if let Some(cards) = remediation {
        ws.write("fake/art.audit_gatekeeper.remediation_cards", cards);
    }
    let r = once(&ws);
    (ws, r)
}

#[test]
fn an_audit_fail_records_the_decision_and_queues_remediation() {
    let (ws, r) = audited(
        r#"{"decision": "FAIL", "reasons": ["no tests for the parser"]}"#,
        "AUDIT_FAIL",
        Some("## 2026-11-24 - Test the parser\n"),
    );
    assert_eq!(r["research_run"]["terminal"], "audit_fail", "{r:#}");
    let decision: serde_json::Value =
        serde_json::from_str(&ws.read("agents/reports/completion_decision.json")).unwrap();
    assert_eq!(decision["decision"], "FAIL");
    assert_eq!(decision["reasons"][0], "no tests for the parser");
    assert_eq!(decision["counts"]["archived_tasks"], 1);
    assert!(!ws.path("agents/AUTONOMY_COMPLETE").exists());
    assert!(ws.read("agents/audit_history.md").contains("FAIL"));
    // The remediation card was queued and run by the same start.
    assert_eq!(r["run"]["task_title"], "Test the parser");
    let research = ws.run(&["research", "--json"]).code(0).json();
    assert_eq!(research["latest_completion_decision"]["decision"], "FAIL");
    assert_eq!(research["audit_summary"]["counts"]["fail"], 1);
}

#[test]
fn a_decision_that_contradicts_the_marker_is_refused() {
    let (ws, r) = audited(
        r#"{"decision": "FAIL", "reasons": ["gap"]}"#,
        "AUDIT_PASS",
        None,
    );
    assert_eq!(r["research_run"]["terminal"], "blocked", "{r:#}");
    let run_id = r["research_run"]["run_id"].as_str().unwrap();
    let failure = failure_of(&ws, run_id, None);
    assert!(failure.contains("`/decision` is \"FAIL\""), "{failure}");
    // A PASS with reasons breaks the schema.
    let (ws, r) = audited(
        r#"{"decision": "PASS", "reasons": ["but"]}"#,
        "AUDIT_PASS",
        None,
    );
    assert_eq!(r["research_run"]["terminal"], "blocked");
    assert!(!ws.path("agents/AUTONOMY_COMPLETE").exists());
}

fn spawn_daemon(ws: &Ws) -> std::process::Child {
    ws.command(&["start", "--daemon"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_daemon(ws: &Ws, secs: u64) -> String {
    let child = spawn_daemon(ws);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let pid = child.id();
    let watcher = std::thread::spawn(move || output_of(child));
    while !watcher.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the daemon did not stop in {secs}s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = pid;
    let out = watcher.join().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_demo_turns_an_idea_into_work_and_stops_on_a_pass() {
    let ws = Ws::with_init(&["--demo"]);
    ws.write("idea.md", "# A greeting page\n\nGreet the visitor.\n");
    ws.run(&["add-idea", "idea.md"]).code(0);
    let out = wait_daemon(&ws, 60);
    assert!(out.contains("daemon stopped (AUTONOMY_COMPLETE)"), "{out}");
    let decision: serde_json::Value =
        serde_json::from_str(&ws.read("agents/reports/completion_decision.json")).unwrap();
    assert_eq!(decision["decision"], "PASS");
    assert_eq!(decision["reasons"], serde_json::json!([]));
    // The demo task and the idea's two cards, all archived.
    assert_eq!(ws.cards_in("tasksarchive.md"), 3);
    let history = ws.run(&["research", "history", "--json"]).code(0).json();
    let states: Vec<&str> = history["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["audit_pass", "idle"]);
    // Started again, the completion still holds: it stops at once.
    let out = wait_daemon(&ws, 30);
    assert!(out.contains("AUTONOMY_COMPLETE"), "{out}");
}

#[test]
fn a_stale_autonomy_complete_is_reported_not_obeyed() {
    let ws = Ws::with_init(&["--demo"]);
    ws.write("agents/AUTONOMY_COMPLETE", "left over\n");
    let research = ws.run(&["research", "--json"]).code(0).json();
    assert_eq!(research["completion_state"]["marker_present"], true);
    assert_eq!(research["completion_state"]["marker_honored"], false);
    assert_eq!(research["completion_state"]["reason"], "decision_missing");
    let health = ws.run(&["health", "--json"]).code(0).json();
    let warned = health["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["check_id"] == "research.completion" && c["status"] == "warn");
    assert!(warned, "{health:#}");
    // The daemon runs the demo task (and its audit, which passes and then
    // completes for real) instead of stopping on the stale marker.
    let out = wait_daemon(&ws, 60);
    assert!(out.contains("AUTONOMY_COMPLETE"), "{out}");
    assert_eq!(ws.cards_in("tasksarchive.md"), 1);
    let types = ws.event_types();
    let stale = types.iter().position(|t| t == "engine.completion.stale");
    let archived = types.iter().position(|t| t == "execution.task.archived");
    assert!(stale.is_some() && stale < archived, "{types:?}");
}

#[test]
fn stub_mode_defers_requests_once_and_runs_nothing() {
    let ws = Ws::new();
    idea(&ws, "x.md", "An idea\n");
    let r = once(&ws);
    assert_eq!(r["research_outcome"], "idle");
    once(&ws);
    let research = ws.run(&["research", "--json"]).code(0).json();
    assert_eq!(research["configured_mode"], "stub");
    assert_eq!(research["deferred_breadcrumb_count"], 1);
    assert_eq!(research["queue_families"][1]["family"], "goalspec");
    assert_eq!(research["queue_families"][1]["ready"], true);
    assert_eq!(research["queue_families"][1]["enabled"], false);
    assert!(ws.path("agents/ideas/raw/x.md").exists());
    let types = ws.event_types();
    assert_eq!(
        types.iter().filter(|t| *t == "research.deferred").count(),
        1
    );
}

#[test]
fn hostile_intake_files_are_refused_without_blocking_the_family() {
    let ws = research_ws();
    ws.write("agents/ideas/raw/a-binary.md", "");
    std::fs::write(ws.path("agents/ideas/raw/a-binary.md"), [0xff, 0xfe, 0xfd]).unwrap();
    idea(&ws, "b-good.md", "A good idea\n");
    ws.write("fake/art.task_cards", CARDS);
    let r = once(&ws);
    assert_eq!(r["research_run"]["item"]["id"], "b-good");
    let research = ws.run(&["research", "--json"]).code(0).json();
    let refused = &research["queue_families"][1]["rejected"][0];
    assert_eq!(refused["path"], "agents/ideas/raw/a-binary.md");
    let health = ws.run(&["health", "--json"]).json();
    let intake = health["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check_id"] == "research.intake")
        .cloned()
        .unwrap_or_default();
    assert_eq!(intake["status"], "warn", "{health:#}");
    assert!(intake["details"][0]
        .as_str()
        .unwrap()
        .starts_with("agents/ideas/raw/a-binary.md: "));
    assert!(ws.path("agents/ideas/raw/a-binary.md").exists());
}

/// The authoring guide's worked overlay: an execution stage whose JSON
/// report is checked against its schema and its marker.
#[test]
fn the_security_review_overlay_gates_on_its_report() {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/security-review");
    let setup = |report: &str| {
        let ws = Ws::new();
        support::copy_tree(&example, &ws.root.join("agents"));
        ws.run(&["config", "set", "plan.mode", "secure"]).code(0);
        ws.add("Add a login form");
        ws.write("fake/art.security_report", report);
        ws
    };
    let ws = setup(r#"{"clear": true, "findings": []}"#);
    let r = once(&ws);
    assert_eq!(r["run"]["terminal"], "archived", "{r:#}");
    assert_eq!(
        ws.nodes_visited(),
        ["builder", "qa", "security_review", "update"]
    );
    // A clear verdict that the report contradicts is the agent's failure:
    // routed like BLOCKED (to troubleshoot), never archived as clear.
    let ws = setup(
        r#"{"clear": false, "findings": [{"severity": "high", "file": "login.rs", "issue": "SQL built by hand"}]}"#,
    );
    ws.script("troubleshoot", &["BLOCKED"]);
    ws.script("consult", &["BLOCKED"]);
    let r = once(&ws);
    assert_ne!(r["run"]["terminal"], "archived", "{r:#}");
    let visited = ws.nodes_visited();
    assert_eq!(
        visited[..4],
        ["builder", "qa", "security_review", "troubleshoot"],
        "{visited:?}"
    );
    let run_id = r["run"]["run_id"].as_str().unwrap();
    let failure = failure_of(&ws, run_id, Some("security_review"));
    assert!(failure.contains("`/clear` is false"), "{failure}");
}

#[test]
fn effects_outside_their_family_do_not_compile() {
    let ws = Ws::new();
    ws.write(
        "agents/registry/loops/mine.yaml",
        "id: mine\nplane: execution\nextends: standard\nterminals:\n  archived:\n    class: success\n    status: UPDATE_COMPLETE\n    queue: archive\n    effects: [{ effect: archive_idea }]\n",
    );
    let r = ws.run(&["plan", "validate"]).code(1);
    assert!(
        r.stderr.contains(
            "effect `archive_idea` of terminal `archived` needs a loop with an `idea` entry"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn a_task_loop_may_queue_follow_up_cards_from_an_artifact() {
    let ws = Ws::new();
    ws.write(
        "agents/registry/stages/followup.yaml",
        "id: followup\nplane: execution\nrunning_marker: FOLLOWUP_RUNNING\noutcomes:\n  - { marker: FOLLOWUPS_WRITTEN, class: success }\n  - { marker: BLOCKED, class: blocked }\nprompt: update.md\nrunner: codex\ntimeout_seconds: 60\nartifacts:\n  - { name: followups, path: \"runs/{{ run.id }}/artifacts/followups.md\", format: task_cards }\n",
    );
    ws.write(
        "agents/registry/loops/withfollow.yaml",
        "id: withfollow\nplane: execution\nextends: standard\nnodes:\n  followup: { stage: followup }\nedges:\n  - { from: update, on: [UPDATE_COMPLETE], to: followup }\n  - { from: followup, on: [FOLLOWUPS_WRITTEN], to: archived }\n  - { from: followup, on: [BLOCKED], to: troubleshoot }\nterminals:\n  archived:\n    class: success\n    status: UPDATE_COMPLETE\n    queue: archive\n    effects: [{ effect: append_cards, artifact: followups }]\n",
    );
    ws.write(
        "agents/registry/modes/withfollow.yaml",
        "id: withfollow\nloops:\n  execution: withfollow\n",
    );
    ws.run(&["config", "set", "plan.mode", "withfollow"])
        .code(0);
    ws.add_with_body("Ship it", "Ship the thing.");
    ws.write("fake/art.followups", "## 2026-11-24 - Announce it\n");
    let r = once(&ws);
    assert_eq!(r["run"]["terminal"], "archived", "{r:#}");
    assert_eq!(
        r["run"]["effects"]["appended"][0],
        format!("{}__announce-it", support::TODAY).as_str()
    );
    assert_eq!(ids(&ws, "tasksbacklog.md"), ["Announce it"]);
    assert!(ws
        .read("agents/tasksbacklog.md")
        .contains("- **Spec-ID:** SPEC-"));
}

#[test]
fn spec_review_may_send_the_spec_back_a_bounded_number_of_times() {
    let ws = research_ws();
    idea(&ws, "x.md", "An idea\n");
    ws.write("fake/art.task_cards", CARDS);
    ws.script("spec_review", &["SPEC_REVISION_NEEDED", "IDLE"]);
    let r = once(&ws);
    assert_eq!(r["research_run"]["terminal"], "idle", "{r:#}");
    let visited: Vec<String> = ws
        .trace()
        .iter()
        .map(|l| l.split('#').next().unwrap().to_string())
        .take(7)
        .collect();
    assert_eq!(
        visited,
        [
            "goal_intake",
            "objective_profile_sync",
            "spec_synthesis",
            "spec_review",
            "spec_synthesis",
            "spec_review",
            "taskmaster"
        ]
    );
    // Always sent back: blocked after `research.spec_review_max_revisions`.
    let ws = research_ws();
    idea(&ws, "y.md", "Another idea\n");
    ws.script("spec_review", &["SPEC_REVISION_NEEDED"]);
    let r = once(&ws);
    assert_eq!(r["research_run"]["terminal"], "blocked", "{r:#}");
    let reviews = ws
        .trace()
        .iter()
        .filter(|l| l.starts_with("spec_review#"))
        .count();
    assert_eq!(reviews, 3, "{:?}", ws.trace());
    assert!(ws.path("agents/ideas/blocked/y.md").exists());
}

/// An audit request dropped into `ideas/audit/incoming/` wakes an idle
/// daemon at once (it watches the intake), not at its next poll.
#[test]
fn an_audit_request_wakes_an_idle_daemon() {
    let ws = Ws::with_init(&["--demo"]);
    ws.run(&["config", "set", "engine.poll_interval_seconds", "300"])
        .code(0);
    // Nothing queued: the daemon idles.
    std::fs::remove_file(ws.path("agents/tasksbacklog.md")).unwrap();
    ws.run(&["queue"]).code(0);
    let mut child = spawn_daemon(&ws);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ws.event_types().iter().any(|t| t == "engine.started") {
        assert!(Instant::now() < deadline, "the daemon did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    ws.write("agents/ideas/audit/incoming/request.md", "# Audit now\n");
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the audit request did not wake the daemon within 15 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = output_of(child);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("AUTONOMY_COMPLETE"), "{text}");
}

/// Files an agent could have written are never read through a symlink
/// out of the workspace, names never become headings, and names that slug
/// alike never share an id.
#[test]
fn agent_files_never_lead_outside_and_names_never_become_structure() {
    let ws = research_ws();
    let outside = ws.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("idea.md"), "An outside idea\n").unwrap();
    std::fs::write(
        outside.join("pass.json"),
        r#"{"decision": "PASS", "reasons": []}"#,
    )
    .unwrap();
    // An idea that is a symlink, one whose name holds a newline and a
    // heading, and a fifo: all refused, none started.
    std::fs::create_dir_all(ws.path("agents/ideas/raw")).unwrap();
    std::os::unix::fs::symlink(
        outside.join("idea.md"),
        ws.path("agents/ideas/raw/a-link.md"),
    )
    .unwrap();
    idea(&ws, "b\n## 2026-11-24 - Injected.md", "Bad name\n");
    let fifo = ws.path("agents/ideas/raw/c-fifo.md");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let research = ws.run(&["research", "--json"]).code(0).json();
    let rejected = research["queue_families"][1]["rejected"].to_string();
    assert!(
        rejected.contains("a-link.md") && rejected.contains("symbolic link"),
        "{rejected}"
    );
    assert!(rejected.contains("control characters"), "{rejected}");
    assert!(rejected.contains("c-fifo.md"), "{rejected}");
    let r = ws.run(&["start", "--once", "--json"]).json();
    assert!(
        r["research_run"].is_null(),
        "an outside idea started research: {r:#}"
    );
    assert!(!ws.read("agents/tasksbacklog.md").contains("Injected"));
    std::fs::remove_file(ws.path("agents/ideas/raw/a-link.md")).unwrap();
    std::fs::remove_file(ws.path("agents/ideas/raw/b\n## 2026-11-24 - Injected.md")).unwrap();
    std::fs::remove_file(&fifo).unwrap();

    // Two names that slug alike get two ids; neither spec overwrites.
    idea(&ws, "日本.md", "First idea\n");
    idea(&ws, "中国.md", "Second idea\n");
    let research = ws.run(&["research", "--json"]).code(0).json();
    let items = research["queue_families"][1]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ids: std::collections::BTreeSet<String> = items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{research:#}");

    // A PASS decision that is a symlink to an outside file is not obeyed.
    std::fs::remove_file(ws.path("agents/ideas/raw/日本.md")).unwrap();
    std::fs::remove_file(ws.path("agents/ideas/raw/中国.md")).unwrap();
    ws.add("Only task");
    assert_eq!(once(&ws)["outcome"], "ran");
    ws.write(
        "fake/link.completion_decision",
        outside.join("pass.json").to_str().unwrap(),
    );
    ws.script("audit_gatekeeper", &["AUDIT_PASS"]);
    let r = ws.run(&["start", "--once", "--json"]).json();
    assert!(!ws.path("agents/AUTONOMY_COMPLETE").exists(), "{r:#}");
    let run_id = r["research_run"]["run_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{r:#}"));
    let failure = failure_of(&ws, run_id, None);
    assert!(failure.contains("symbolic link"), "{failure}");
}
