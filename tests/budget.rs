//! Budgets and the usage ledger through the real binary: a fake `claude`
//! reports a cost per stage; caps pause runs before the stage that could
//! pass them, and raising the cap continues the same run.

mod support;

use support::Ws;

/// A workspace whose stages all run the fake `claude`, at `usd` per stage.
fn priced(usd: &str) -> Ws {
    let ws = Ws::new();
    ws.write(
        "agents/registry/modes/viaclaude.yaml",
        "id: viaclaude\nloops: { execution: standard }\ndefaults: { runner: claude, model: sonnet }\n",
    );
    ws.run(&["config", "set", "plan.mode", "viaclaude"]).code(0);
    ws.write("fake/cost", usd);
    ws
}

#[test]
fn a_task_cap_pauses_before_the_stage_that_could_pass_it_and_raising_it_resumes() {
    let ws = priced("0.20");
    ws.add("Capped");
    ws.run(&["config", "set", "budget.task.usd", "0.5"]).code(0);
    // $0.20 per stage: after two stages $0.40 is spent and the third could
    // reach $0.60, past the $0.50 cap.
    let r = ws.run(&["start", "--once"]).code(4);
    assert!(
        r.stderr.contains("budget.task.usd: spent $0.40"),
        "{}",
        r.stderr
    );
    assert_eq!(ws.nodes_visited(), ["builder", "qa"]);
    assert_eq!(ws.read("agents/status.md"), "### BUDGET_PAUSED\n");
    let status = ws.run(&["status", "--json"]).code(0).json();
    let pause = &status["budget_pause"];
    assert_eq!(pause["node"], "update", "{status:#}");
    assert!(pause["message"].as_str().unwrap().contains("cap $0.50"));
    // Two of the loop's 54 proved stage executions are spent.
    assert_eq!(status["remaining_worst_case"]["stage_runs"], 52);
    let run_id = status["runtime"]["active_run"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Still capped: pauses again, nothing runs.
    ws.run(&["start", "--once"]).code(4);
    assert_eq!(ws.nodes_visited(), ["builder", "qa"]);
    ws.run(&["config", "set", "budget.task.usd", "1.0"]).code(0);
    let r = ws.run(&["start", "--once", "--json"]).code(0).json();
    assert_eq!(r["outcome"], "resumed");
    assert_eq!(r["run"]["run_id"], run_id.as_str());
    assert_eq!(r["run"]["terminal"], "archived");
    assert_eq!(ws.nodes_visited(), ["builder", "qa", "update"]);
    let usage = ws.run(&["usage", "--by", "task", "--json"]).code(0).json();
    assert!(
        (usage["total"]["usd"].as_f64().unwrap() - 0.6).abs() < 1e-9,
        "{usage:#}"
    );
    assert_eq!(usage["total"]["invocations"], 3);
    assert_eq!(
        usage["rows"][0]["key"],
        format!("{}__capped", support::TODAY).as_str()
    );
    let types = ws.event_types();
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "execution.budget.exhausted")
            .count(),
        2
    );
}

#[test]
fn run_invocation_and_stage_caps_name_their_key() {
    let ws = priced("0.01");
    ws.add("One");
    ws.run(&["config", "set", "budget.run.invocations", "1"])
        .code(0);
    let r = ws.run(&["start", "--once"]).code(4);
    assert!(r.stderr.contains("budget.run.invocations"), "{}", r.stderr);
    assert_eq!(ws.nodes_visited(), ["builder"]);

    let ws = priced("0.30");
    ws.add("Two");
    ws.append_config("[budget.stage.qa]\nusd = 0.1\n");
    // qa has not spent yet; the largest attempt so far (builder, $0.30)
    // is what the next attempt may cost.
    let r = ws.run(&["start", "--once"]).code(4);
    assert!(r.stderr.contains("budget.stage.qa.usd"), "{}", r.stderr);
}

#[test]
fn the_ledger_is_the_histories_so_a_kill_neither_resets_nor_double_counts() {
    let ws = priced("0.20");
    ws.add("Killed");
    // Killed right after qa's stage.finished is recorded.
    assert!(ws.killed_at(&["start", "--once"], "stage.finished#2"));
    let usage = ws.run(&["usage", "--json"]).code(0).json();
    assert_eq!(usage["total"]["invocations"], 2, "{usage:#}");
    ws.run(&["config", "set", "budget.task.usd", "0.5"]).code(0);
    // The two recorded stages count against the cap after the restart.
    ws.run(&["start", "--once"]).code(4);
    ws.run(&["config", "set", "budget.task.usd", "5"]).code(0);
    ws.run(&["start", "--once"]).code(0);
    let usage = ws.run(&["usage", "--by", "stage", "--json"]).code(0).json();
    assert_eq!(usage["total"]["invocations"], 3, "{usage:#}");
    assert!((usage["total"]["usd"].as_f64().unwrap() - 0.6).abs() < 1e-9);
    let stages: Vec<&str> = usage["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["builder", "qa", "update"]);
}

#[test]
fn the_worst_case_is_the_proved_bound_times_the_stage_ceilings() {
    let ws = Ws::new();
    let v = ws.run(&["plan", "validate", "--json"]).code(0).json();
    let standard = &v["worst_case"][0];
    assert_eq!(standard["loop_id"], "standard");
    // No ceiling for codex: the USD worst case is unbounded, and says why.
    assert_eq!(standard["usd"], serde_json::Value::Null);
    assert_eq!(standard["uncapped_nodes"].as_array().unwrap().len(), 8);
    ws.run(&["config", "set", "runners.codex.max_usd_per_stage", "0.25"])
        .code(0);
    let v = ws.run(&["plan", "validate", "--json"]).code(0).json();
    let standard = &v["worst_case"][0];
    // By hand: the standard loop's proved bound is 54 stage executions
    // (`plan validate`), each at most 600 s and $0.25.
    assert_eq!(v["max_stage_runs"], 54);
    assert_eq!(standard["stage_runs"], 54);
    assert_eq!(standard["wall_seconds"], 54 * 600);
    assert!(
        (standard["usd"].as_f64().unwrap() - 13.5).abs() < 1e-9,
        "{standard:#}"
    );
    let shown = ws.run(&["plan", "show"]).code(0);
    assert!(
        shown.stdout.contains("worst case of a `standard` run: 54 stages × ≤ 600 s = 9.0 h; $13.50 (≤ $0.25 per stage, declared: not enforced by the runners of builder"),
        "{}",
        shown.stdout
    );
}

#[test]
fn admission_refuses_a_task_whose_worst_case_exceeds_what_is_left() {
    let ws = priced("0.01");
    ws.add("Big");
    ws.run(&["config", "set", "runners.claude.max_usd_per_stage", "0.25"])
        .code(0);
    ws.run(&["config", "set", "runners.claude.max_turns", "30"])
        .code(0);
    ws.run(&["config", "set", "budget.task.usd", "5"]).code(0);
    ws.run(&["config", "set", "budget.admission", "worst_case"])
        .code(0);
    let r = ws.run(&["start", "--once"]).code(4);
    assert!(
        r.stderr.contains("not started: its worst case is $13.50"),
        "{}",
        r.stderr
    );
    assert!(ws.nodes_visited().is_empty());
    // The default only warns: the task runs, the event says why.
    ws.run(&["config", "set", "budget.admission", "warn"])
        .code(0);
    ws.run(&["start", "--once"]).code(0);
    assert_eq!(ws.nodes_visited(), ["builder", "qa", "update"]);
    assert!(ws
        .event_types()
        .iter()
        .any(|t| t == "execution.budget.admission"));
    // Claude is told the ceiling.
    let calls = ws.read("fake-calls.log");
    assert!(
        calls.contains("--max-budget-usd 0.25 --max-turns 30"),
        "{calls}"
    );
}

#[test]
fn simulate_reproduces_a_real_run_given_its_outcomes() {
    let ws = Ws::new();
    ws.add("Bumpy");
    ws.script("qa", &["QUICKFIX_NEEDED"]);
    ws.script("doublecheck", &["QUICKFIX_NEEDED", "QA_COMPLETE"]);
    let real = ws.run(&["start", "--once", "--json"]).code(0).json();
    let visited = ws.nodes_visited();
    let sim = ws
        .run(&[
            "plan",
            "simulate",
            "--outcomes",
            "qa=QUICKFIX_NEEDED,doublecheck=QUICKFIX_NEEDED,doublecheck=QA_COMPLETE",
            "--json",
        ])
        .code(0)
        .json();
    let nodes: Vec<&str> = sim["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, visited);
    assert_eq!(sim["terminal"], real["run"]["terminal"]);
    assert_eq!(sim["unused"], serde_json::json!([]));
    // The last step's counters are the run's.
    let run_id = real["run"]["run_id"].as_str().unwrap();
    let last = ws
        .read(&format!("agents/runs/{run_id}/transition_history.jsonl"))
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .rfind(|t| t["event"] == "stage.finished")
        .unwrap();
    assert_eq!(
        sim["steps"].as_array().unwrap().last().unwrap()["counters"],
        last["counters"]
    );
    // Nothing ran: no new run directory.
    assert_eq!(
        std::fs::read_dir(ws.path("agents/runs")).unwrap().count(),
        1
    );
}

#[test]
fn simulate_shows_where_a_budget_would_pause_and_the_longest_path() {
    let ws = Ws::new();
    ws.run(&["config", "set", "runners.codex.max_usd_per_stage", "0.25"])
        .code(0);
    // Codex reports no cost: a USD cap over it needs a price.
    ws.append_config("[prices.\"gpt-5.3-codex\"]\ninput_per_mtok = 1.25\noutput_per_mtok = 10.0\n");
    ws.run(&["config", "set", "budget.run.usd", "1"]).code(0);
    let sim = ws
        .run(&["plan", "simulate", "--worst-case", "--json"])
        .code(0)
        .json();
    assert_eq!(sim["stages_run"], 4, "{sim:#}");
    assert_eq!(sim["terminal"], serde_json::Value::Null);
    assert!(sim["budget_pause"]
        .as_str()
        .unwrap()
        .starts_with("budget.run.usd $1.00 would pause the run"));
    ws.run(&["config", "set", "budget.run.usd", "100"]).code(0);
    let sim = ws
        .run(&["plan", "simulate", "--worst-case", "--json"])
        .code(0)
        .json();
    // The longest path the routing allows, within the proved bound.
    let n = sim["stages_run"].as_u64().unwrap();
    assert!(
        n > 5 && n <= sim["max_stage_runs"].as_u64().unwrap(),
        "{sim:#}"
    );
    assert_eq!(sim["terminal"], "needs_research");
    let r = ws
        .run(&["plan", "simulate", "--outcomes", "qa=NOPE"])
        .code(2);
    assert!(
        r.stderr.contains("`NOPE` is not an outcome of `qa`"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_check_stage_routes_on_the_command_exit_code_and_hands_its_output_on() {
    let ws = Ws::new();
    ws.run(&["config", "set", "plan.mode", "checked"]).code(0);
    // Fails the first time (printing why), passes the second.
    ws.append_config(
        "[runners.command]\ncommand = [\"sh\", \"-c\", \"n=$(cat count 2>/dev/null || echo 0); echo $((n+1)) > count; if [ $n -ge 1 ]; then echo 'all 12 tests passed'; else echo 'test parser::empty failed'; exit 1; fi\"]\n",
    );
    ws.add("Checked");
    let r = ws.run(&["start", "--once", "--json"]).code(0).json();
    assert_eq!(r["run"]["terminal"], "archived", "{r:#}");
    // Only agents appear in the fake trace; the run's history has them all.
    assert_eq!(ws.nodes_visited(), ["builder", "builder", "qa", "update"]);
    let run_id = r["run"]["run_id"].as_str().unwrap();
    let history = ws.read(&format!("agents/runs/{run_id}/transition_history.jsonl"));
    let finished: Vec<(String, String)> = history
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|t| t["event"] == "stage.finished")
        .map(|t| {
            (
                t["node"].as_str().unwrap().to_string(),
                t["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        finished[..4],
        [
            ("builder".to_string(), "BUILDER_COMPLETE".to_string()),
            ("check".to_string(), "QUICKFIX_NEEDED".to_string()),
            ("builder".to_string(), "BUILDER_COMPLETE".to_string()),
            ("check".to_string(), "QA_COMPLETE".to_string()),
        ]
    );
    // The builder's second prompt carries the failed check's verdict.
    let prompt = ws.read(&format!("agents/runs/{run_id}/builder.2.prompt.md"));
    assert!(
        prompt.contains(
            "- check: QUICKFIX_NEEDED — check failed (exit 1): test parser::empty failed"
        ),
        "{prompt}"
    );
    // A check costs nothing and is bounded like any stage.
    let v = ws.run(&["plan", "validate", "--json"]).code(0).json();
    assert!(v["worst_case"][0]["uncapped_nodes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n != "check"));
}

#[test]
fn a_day_cap_counts_every_run_of_the_day() {
    let ws = priced("0.20");
    ws.add("First");
    ws.add("Second");
    ws.run(&["config", "set", "budget.day.usd", "1.0"]).code(0);
    ws.run(&["start", "--once"]).code(0);
    // $0.60 today; the second task's builder and qa bring it to $1.00, and
    // update could pass the cap.
    let r = ws.run(&["start", "--once"]).code(4);
    assert!(
        r.stderr.contains("budget.day.usd: spent $1.00"),
        "{}",
        r.stderr
    );
    // The day index now holds the first run; the answer is the same from it.
    assert!(ws.path("agents/.runtime/spend_day.json").exists());
    let r = ws.run(&["start", "--once"]).code(4);
    assert!(
        r.stderr.contains("budget.day.usd: spent $1.00"),
        "{}",
        r.stderr
    );
}

/// A negative or absurd cost is refused as invalid usage (never credited,
/// never zero), named in the run; token sums saturate instead of wrapping.
#[test]
fn a_negative_or_absurd_cost_is_unknown_never_credited() {
    let ws = priced("-1000");
    ws.add("Liar");
    ws.run(&["start", "--once"]).code(0);
    let usage = ws.run(&["usage", "--json"]).code(0).json();
    assert_eq!(usage["total"]["usd"].as_f64(), Some(0.0), "{usage:#}");
    assert_eq!(usage["total"]["unpriced"], 3, "{usage:#}");
    let runs = std::fs::read_dir(ws.path("agents/runs")).unwrap();
    let run = runs.flatten().find(|e| e.path().is_dir()).unwrap();
    let id = run.file_name().to_string_lossy().to_string();
    let show = ws.run(&["run-provenance", &id, "--json"]).code(0).stdout;
    assert!(
        show.contains("invalid usage refused: cost -1000 is negative"),
        "{show}"
    );
    ws.write("fake/cost", "1e300");
    ws.add("Absurd");
    ws.run(&["start", "--once"]).code(0);
    let usage = ws.run(&["usage", "--json"]).code(0).json();
    assert_eq!(usage["total"]["usd"].as_f64(), Some(0.0), "{usage:#}");
    assert_eq!(usage["total"]["unpriced"], 6);
    // Under a USD cap an unknown spend pauses the run instead of running on.
    ws.run(&["config", "set", "budget.task.usd", "1.0"]).code(0);
    ws.add("Capped liar");
    let r = ws.run(&["start", "--once"]).code(4);
    assert!(r.stderr.contains("reported invalid usage"), "{}", r.stderr);
}
