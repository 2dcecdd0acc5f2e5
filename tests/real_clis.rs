//! Opt-in: the real `codex`, `claude` and `pi` (the npm packages) driven by
//! millrace against a mock model server on loopback. Set
//! `MILLRACE_REAL_CLIS` to the `node_modules/.bin` of a prefix where they
//! are installed; `.ci/run` does so when npm is available. Without it every
//! test says it skipped and passes.
//!
//! For each CLI: a task runs builder → qa → update → archived, and a 401, a
//! 500 and a hung API each end in the right class within seconds.

mod support;

#[path = "support/mock_model.rs"]
mod mock_model;

use std::path::PathBuf;

use mock_model::{Behaviour, MockModel};
use support::Ws;

/// Exit code of `start --once` when the run waits on its environment.
const ENVIRONMENT: i32 = 3;

fn real_bin(test: &str) -> Option<PathBuf> {
    match std::env::var_os("MILLRACE_REAL_CLIS") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            eprintln!("{test}: skipped (set MILLRACE_REAL_CLIS to run it against the real CLIs)");
            None
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cli {
    Codex,
    Claude,
    Pi,
}

impl Cli {
    fn id(self) -> &'static str {
        match self {
            Cli::Codex => "codex",
            Cli::Claude => "claude",
            Cli::Pi => "pi",
        }
    }
}

/// A workspace whose every stage runs `cli` (the real one) against `mock`.
fn workspace(cli: Cli, bin: &std::path::Path, mock: &MockModel) -> Ws {
    let ws = Ws::new();
    for fake in ["codex", "claude", "pi"] {
        ws.uninstall(fake);
    }
    std::os::unix::fs::symlink(bin.join(cli.id()), ws.bin.join(cli.id())).unwrap();
    let home = ws.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let url = mock.base_url();
    let (model, runner) = match cli {
        Cli::Codex => (
            "gpt-5.3-codex",
            format!(
                "[runners.codex]\nsandbox = \"read-only\"\nargs = [\"-c\", \"model_provider=mock\", \"-c\", 'model_providers.mock={{name=\"mock\",base_url=\"{url}/v1\",env_key=\"MOCK_API_KEY\",wire_api=\"responses\",request_max_retries=0,stream_max_retries=0}}']\nenv = {{ MOCK_API_KEY = \"sk-test\", CODEX_HOME = \"{home}\" }}\n",
                home = home.display()
            ),
        ),
        Cli::Claude => (
            "sonnet",
            format!(
                "[runners.claude]\nmax_retries = 0\nenv = {{ ANTHROPIC_BASE_URL = \"{url}\", ANTHROPIC_API_KEY = \"sk-test\", CLAUDE_CONFIG_DIR = \"{home}\", DISABLE_AUTOUPDATER = \"1\", DISABLE_TELEMETRY = \"1\" }}\n",
                home = home.display()
            ),
        ),
        Cli::Pi => {
            let models = serde_json::json!({"providers": {"mock": {
                "baseUrl": url, "api": "anthropic-messages", "apiKey": "sk-test",
                "models": [{"id": "mock-model"}]}}});
            std::fs::write(home.join("models.json"), models.to_string()).unwrap();
            (
                "mock-model",
                format!(
                    "[runners.pi]\nprovider = \"mock\"\nenv = {{ PI_CODING_AGENT_DIR = \"{home}\" }}\n",
                    home = home.display()
                ),
            )
        }
    };
    ws.write(
        "agents/registry/modes/real.yaml",
        &format!(
            "id: real\nloops: {{ execution: standard }}\ndefaults: {{ runner: {}, model: {model}, timeout_seconds: 120 }}\n",
            cli.id()
        ),
    );
    let cfg = ws
        .read("millrace.toml")
        .replace("mode = \"standard\"", "mode = \"real\"");
    ws.write(
        "millrace.toml",
        &format!("{cfg}\n{runner}\n[outage]\nstall_seconds = 5\n"),
    );
    ws
}

fn run_through(cli: Cli) {
    let test = format!("{cli:?}");
    let Some(bin) = real_bin(&test) else { return };
    let mock = MockModel::start(Behaviour::Reply);
    let ws = workspace(cli, &bin, &mock);
    ws.run(&["plan", "validate"]).code(0);

    // A whole task through the real CLI.
    ws.add("Real CLI task");
    let r = ws.run(&["start", "--once", "--json"]).code(0).json();
    assert_eq!(r["run"]["terminal"], "archived", "{cli:?}: {r}");
    assert_eq!(r["run"]["stages_run"], 3, "{cli:?}: {r}");
    let run_dir = r["run"]["run_dir"].as_str().unwrap().to_string();
    let result: serde_json::Value =
        serde_json::from_str(&ws.read(&format!("{run_dir}/builder.1.result.json"))).unwrap();
    assert_eq!(result["class"], "outcome", "{cli:?}: {result}");
    assert!(
        result["usage"]["output"].as_u64().unwrap_or(0) > 0,
        "{cli:?}: {result}"
    );

    // Each fault ends in its class, fast, and leaves the task queued.
    for (behaviour, class) in [
        (Behaviour::Status(401), "auth"),
        (Behaviour::Status(500), "unavailable"),
        (Behaviour::Hang, "stall"),
    ] {
        mock.set(behaviour.clone());
        ws.add(&format!("Task under {behaviour:?}"));
        let started = std::time::Instant::now();
        let out = ws.run(&["start", "--once"]).code(ENVIRONMENT);
        let status = ws.run(&["status", "--json"]).code(0).json();
        assert_eq!(
            status["waiting"]["class"], class,
            "{cli:?} {behaviour:?}: {}\n{status}",
            out.stderr
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{cli:?} {behaviour:?} took {:?}",
            started.elapsed()
        );
        // The fault clears: the same run finishes.
        mock.set(Behaviour::Reply);
        let done = ws.run(&["start", "--once", "--json"]).code(0).json();
        assert_eq!(done["run"]["terminal"], "archived", "{cli:?}: {done}");
    }
    assert!(mock.requests().len() >= 6, "{:?}", mock.requests());
}

#[test]
fn codex_runs_a_task_and_its_faults_are_classed() {
    run_through(Cli::Codex);
}

#[test]
fn claude_runs_a_task_and_its_faults_are_classed() {
    run_through(Cli::Claude);
}

#[test]
fn pi_runs_a_task_and_its_faults_are_classed() {
    run_through(Cli::Pi);
}
