//! Runner adapters: how a stage's prompt reaches an agent CLI and how its
//! answer comes back.
//!
//! Every adapter runs its agent as a child process in its own process group
//! with the workspace as working directory, sets the `MILLRACE_*`
//! environment (spec §6.1), records its [`Invocation`] (exact argv and the
//! names — not values — of the variables it set) for the attempt's result,
//! sends stdout and stderr to files, and returns the final text and token
//! usage it could extract. Deciding the outcome is the interpreter's job.

pub mod claude;
pub mod codex;
pub mod demo_agent;
pub mod fault;
pub mod git;
pub mod marker;
pub mod pi;
pub mod process;
pub mod scripted;
pub mod subprocess;
pub mod worktree;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::defs::config::{RunnerConfig, RunnerKind};
use crate::defs::layout::StageArtifact;
pub use crate::defs::records::Invocation;
use crate::defs::records::{Fault, Usage};
use crate::defs::stage_kind::Effort;

pub use process::Exit;

/// Files of one stage attempt.
#[derive(Debug, Clone)]
pub struct StagePaths {
    pub prompt: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    /// Where the agent may write its final message (`-o` for Codex,
    /// `MILLRACE_LAST_RESPONSE_PATH`); not written by us.
    pub last: PathBuf,
    /// The normalised result, written by the interpreter.
    pub result: PathBuf,
}

impl StagePaths {
    /// The artifacts of attempt `attempt` of `node` in `run_dir`.
    pub fn new(run_dir: &std::path::Path, node: &str, attempt: u32) -> StagePaths {
        let p = |a: StageArtifact| a.path(run_dir, node, attempt);
        StagePaths {
            prompt: p(StageArtifact::Prompt),
            stdout: p(StageArtifact::Stdout),
            stderr: p(StageArtifact::Stderr),
            last: p(StageArtifact::Last),
            result: p(StageArtifact::Result),
        }
    }

    /// Every artifact path, in [`StageArtifact::ALL`] order.
    pub fn all(&self) -> [&PathBuf; 5] {
        [
            &self.prompt,
            &self.stdout,
            &self.stderr,
            &self.last,
            &self.result,
        ]
    }
}

/// Everything an adapter needs for one stage attempt.
#[derive(Debug, Clone)]
pub struct StageRequest {
    /// What the stage works on and must write, for agents driven by
    /// scripts: `MILLRACE_ITEM_*`, `MILLRACE_ARTIFACT_<NAME>` and
    /// `MILLRACE_ARTIFACTS` (a JSON object of name → path).
    pub work_env: Vec<(String, String)>,
    pub runner_id: String,
    pub kind: RunnerKind,
    pub config: RunnerConfig,
    pub workspace: PathBuf,
    pub run_id: String,
    pub run_dir: PathBuf,
    pub node: String,
    pub stage_kind: String,
    pub attempt: u32,
    pub prompt: String,
    pub model: Option<String>,
    pub effort: Option<Effort>,
    pub timeout: Duration,
    /// Legal outcome markers, success first.
    pub outcomes: Vec<String>,
    pub paths: StagePaths,
    /// Where the stage's process group is published while it runs.
    pub group: process::StageGroup,
    /// End the stage when it writes nothing for this long.
    pub stall: Option<Duration>,
    /// Filled by [`command`] with how the agent was started.
    pub invocation: InvocationSlot,
}

/// Where [`command`] leaves the attempt's [`Invocation`] for the
/// interpreter (an adapter returns only what came back).
#[derive(Debug, Clone, Default)]
pub struct InvocationSlot(std::sync::Arc<std::sync::Mutex<Option<Invocation>>>);

impl InvocationSlot {
    fn set(&self, inv: Invocation) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(inv);
    }

    pub fn take(&self) -> Option<Invocation> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// A token count as a runner reported it: a negative or fractional figure
/// becomes `u64::MAX`, which [`Usage::checked`] refuses as invalid usage
/// (never read as zero).
pub fn count(v: &serde_json::Value) -> u64 {
    match v {
        serde_json::Value::Null => 0,
        v => v.as_u64().unwrap_or(u64::MAX),
    }
}

/// A sum of token counts that saturates instead of wrapping.
pub fn sum(parts: &[u64]) -> u64 {
    parts.iter().fold(0u64, |a, b| a.saturating_add(*b))
}

/// What came back from the agent.
#[derive(Debug, Clone, Default)]
pub struct StageResult {
    pub exit: Exit,
    /// The agent's final message, when the CLI reports one.
    pub final_text: Option<String>,
    pub usage: Option<Usage>,
    pub session_id: Option<String>,
    /// The CLI's own report that the agent call failed (e.g. Claude
    /// `is_error`, Codex `turn.failed`).
    pub agent_error: Option<String>,
    /// An environment fault recognised in the CLI's output.
    pub fault: Option<Fault>,
    /// How the agent was started (set by the interpreter from the
    /// request's slot).
    pub invocation: Option<Invocation>,
    /// The outcome is the final text's marker only: stdout is a tool's
    /// output (a check command), not an agent's reply.
    pub outcome_in_final_text: bool,
}

pub trait Adapter {
    fn run(&self, req: &StageRequest) -> StageResult;
}

pub fn adapter(kind: RunnerKind) -> Box<dyn Adapter> {
    match kind {
        RunnerKind::Codex => Box::new(codex::Codex),
        RunnerKind::Claude => Box::new(claude::Claude),
        RunnerKind::Pi => Box::new(pi::Pi),
        RunnerKind::Subprocess => Box::new(subprocess::Subprocess),
        RunnerKind::Demo => Box::new(subprocess::Demo),
        RunnerKind::Command => Box::new(subprocess::Check),
    }
}

/// The executable an adapter starts: `command[0]` from config, else the CLI's
/// default name.
pub fn executable(kind: RunnerKind, config: &RunnerConfig) -> Option<String> {
    config.command.first().cloned().or_else(|| match kind {
        RunnerKind::Codex => Some("codex".into()),
        RunnerKind::Claude => Some("claude".into()),
        RunnerKind::Pi => Some("pi".into()),
        RunnerKind::Demo => std::env::current_exe()
            .ok()
            .map(|p| p.display().to_string()),
        RunnerKind::Subprocess | RunnerKind::Command => None,
    })
}

/// Prompts larger than this go only through stdin and the prompt file:
/// Linux refuses single environment strings over 128 KiB.
const MAX_PROMPT_ENV: usize = 100 * 1024;

/// The `MILLRACE_*` environment of spec §6.1 plus ours (`MILLRACE_NODE`,
/// `MILLRACE_RUN_ID`, `MILLRACE_ATTEMPT`, `MILLRACE_OUTCOMES`,
/// `MILLRACE_PROMPT_PATH`, `MILLRACE_WORKSPACE`), then the runner's `env`.
pub fn environment(req: &StageRequest) -> Vec<(String, String)> {
    let p = &req.paths;
    let mut env = vec![
        ("MILLRACE_STAGE", req.stage_kind.clone()),
        ("MILLRACE_MODEL", req.model.clone().unwrap_or_default()),
        ("MILLRACE_RUN_DIR", req.run_dir.display().to_string()),
        ("MILLRACE_STDOUT_PATH", p.stdout.display().to_string()),
        ("MILLRACE_STDERR_PATH", p.stderr.display().to_string()),
        ("MILLRACE_LAST_RESPONSE_PATH", p.last.display().to_string()),
        ("MILLRACE_ALLOW_SEARCH", "0".to_string()),
        (
            "MILLRACE_ALLOW_NETWORK",
            if network_allowed(req) { "1" } else { "0" }.to_string(),
        ),
        (
            "MILLRACE_REASONING_EFFORT",
            req.effort
                .map(|e| e.as_str().to_string())
                .unwrap_or_default(),
        ),
        ("MILLRACE_NODE", req.node.clone()),
        ("MILLRACE_RUN_ID", req.run_id.clone()),
        ("MILLRACE_ATTEMPT", req.attempt.to_string()),
        ("MILLRACE_OUTCOMES", req.outcomes.join(",")),
        ("MILLRACE_PROMPT_PATH", p.prompt.display().to_string()),
        ("MILLRACE_WORKSPACE", req.workspace.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect::<Vec<_>>();
    if req.kind == RunnerKind::Claude {
        env.push((
            "CLAUDE_CODE_MAX_RETRIES".into(),
            req.config.max_retries().to_string(),
        ));
    }
    env.extend(req.work_env.iter().cloned());
    if req.prompt.len() <= MAX_PROMPT_ENV {
        env.push(("MILLRACE_PROMPT".into(), req.prompt.clone()));
    } else {
        tracing::warn!(node = %req.node, bytes = req.prompt.len(), "prompt too large for MILLRACE_PROMPT; use stdin or MILLRACE_PROMPT_PATH");
    }
    env.extend(req.config.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// Whether the stage's agent has the network: what the runner's sandbox
/// gives it, as `MILLRACE_ALLOW_NETWORK` says (a Codex `read-only` sandbox
/// has none).
pub fn network_allowed(req: &StageRequest) -> bool {
    let wanted = req.config.network.unwrap_or(true);
    match req.kind {
        RunnerKind::Codex => wanted && req.config.sandbox.as_deref() != Some("read-only"),
        _ => wanted,
    }
}

/// Builds the command, records the invocation and returns the command.
pub fn command(req: &StageRequest, program: &str, args: &[String], stdin: &str) -> Command {
    let env = environment(req);
    let mut env_names: Vec<String> = env.iter().map(|(k, _)| k.clone()).collect();
    env_names.sort();
    env_names.dedup();
    req.invocation.set(Invocation {
        runner: req.runner_id.clone(),
        kind: req.kind,
        argv: std::iter::once(program.to_string())
            .chain(args.iter().cloned())
            .collect(),
        env_names,
        cwd: req.workspace.display().to_string(),
        stdin: stdin.to_string(),
        timeout_seconds: req.timeout.as_secs(),
    });
    let mut cmd = Command::new(program);
    cmd.args(args).envs(env).current_dir(&req.workspace);
    cmd
}

/// Opens the stdout/stderr files of an attempt (truncating).
pub fn output_files(req: &StageRequest) -> std::io::Result<(std::fs::File, std::fs::File)> {
    Ok((
        std::fs::File::create(&req.paths.stdout)?,
        std::fs::File::create(&req.paths.stderr)?,
    ))
}

/// A result for a stage that could not even be started.
pub fn failed_to_start(req: &StageRequest, message: String) -> StageResult {
    let _ = std::fs::write(&req.paths.stderr, format!("{message}\n"));
    StageResult {
        exit: Exit {
            code: Some(127),
            spawn_error: Some(message),
            ..Exit::default()
        },
        ..StageResult::default()
    }
}

/// Runs `program args` for a stage: prompt on stdin (then closed), stdout
/// and stderr to the attempt's files; a spawn failure or timeout is noted in
/// the stderr log. `Err` is a result for a stage that could not start.
pub fn run_with_prompt(
    req: &StageRequest,
    program: &str,
    args: &[String],
) -> Result<Exit, Box<StageResult>> {
    let mut cmd = command(req, program, args, "prompt");
    let (out, err) = output_files(req)
        .map_err(|e| failed_to_start(req, format!("cannot create stage logs: {e}")))?;
    let watched = [req.paths.stdout.as_path(), req.paths.stderr.as_path()];
    let exit = process::run_to_files(
        &mut cmd,
        Some(req.prompt.clone().into_bytes()),
        out,
        err,
        req.timeout,
        &req.group,
        req.stall.map(|after| process::Stall {
            after,
            files: &watched,
        }),
    );
    if let Some(e) = &exit.spawn_error {
        let _ = std::fs::write(
            &req.paths.stderr,
            format!("cannot start `{program}`: {e}\n"),
        );
    }
    note_timeout(req, &exit);
    Ok(exit)
}

/// Appends the timeout note v0.2.0 writes to the stderr log.
pub fn note_timeout(req: &StageRequest, exit: &Exit) {
    if exit.stalled {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .open(&req.paths.stderr)
        {
            let secs = req.stall.map_or(0, |d| d.as_secs());
            let _ = writeln!(f, "RUNNER_STALL: no output for {secs}s");
        }
    }
    if exit.timed_out {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .open(&req.paths.stderr)
        {
            let _ = writeln!(f, "RUNNER_TIMEOUT after {}s", req.timeout.as_secs());
        }
    }
}
