//! `millrace.toml`: the typed workspace configuration.
//!
//! The schema is closed: unknown keys are errors that name the file, line and
//! column. Sections follow Millrace v0.2.0 (spec §2.3–2.4); `[plan]`,
//! `[stages.<kind>]` and `[runners.<id>]` are ours.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::diag::{Diagnostic, Pos};
use super::loop_def::StageOverrides;
pub use super::runner_kind::{ModelFamily, RunnerKind};

mod edit;
mod load;
mod v020;
pub use v020::V020_LEGACY_STAGES;

pub use edit::{for_each_leaf, set_in_text, toml_key_pos, toml_pos, Boundary};
pub use load::{offset_to_pos, sha256_hex, to_hex};

impl RunnerKind {
    /// The adapter kind of a runner id: explicit `kind`, else the built-in
    /// of that name, else `subprocess`.
    pub fn of(runner_id: &str, config: Option<&RunnerConfig>) -> RunnerKind {
        config.and_then(|c| c.kind).unwrap_or_else(|| {
            RunnerKind::BUILTIN
                .iter()
                .find(|(id, _)| *id == runner_id)
                .map_or(RunnerKind::Subprocess, |(_, k)| *k)
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub engine: EngineConfig,
    pub paths: PathsConfig,
    pub execution: ExecutionConfig,
    pub research: ResearchConfig,
    pub watchers: WatchersConfig,
    pub plan: PlanConfig,
    /// Waiting out environment faults (outages, rate limits, stalls).
    pub outage: OutageConfig,
    /// Workspace overrides per stage kind (highest precedence).
    pub stages: BTreeMap<String, StageOverrides>,
    /// Runners declared by the workspace, keyed by runner id.
    pub runners: BTreeMap<String, RunnerConfig>,
    /// Spend caps, checked before every stage (see [`BudgetConfig`]).
    pub budget: BudgetConfig,
    /// USD per million tokens, by model id, for runners that report tokens
    /// but no cost.
    pub prices: BTreeMap<String, Price>,
    /// Diagnostics bundles.
    pub diagnostics: DiagnosticsConfig,
    /// Notifications of what needs an operator.
    pub notify: NotifyConfig,
    /// `publish`: how the staging repository is committed and pushed.
    pub publish: PublishConfig,
    /// `[git]`: how a task's work becomes commits in the workspace's
    /// repository.
    #[serde(skip_serializing_if = "GitConfig::is_unset")]
    pub git: GitConfig,
    /// v0.2.0 sections, accepted so that a migrated `millrace.toml` loads;
    /// what of them has no effect here is reported by `health` (see
    /// [`Config::compat_notes`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sizing: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policies: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boundaries: Option<serde_json::Value>,
}

/// `[notify]`: a command run once per notifiable event, with the event as
/// JSON on stdin and `MILLRACE_NOTIFY_*` in its environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Executable and arguments; empty: no notifications.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// The classes notified (default: all): `needs_input`, `run_failed`,
    /// `paused`, `audit_decision`, `run_finished`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
}

/// `[publish]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PublishConfig {
    /// Let the staging repository's own hooks (and its `core.hooksPath`)
    /// run on `publish commit` and `--push`. Off by default: anything in
    /// the staging tree may have been written by an agent.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub run_repo_hooks: bool,
}

/// `[git]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GitConfig {
    /// `per_task`: when the workspace root is a git repository, each
    /// execution run records its base commit, commits what the agent left
    /// uncommitted when its task is archived (trailers `Millrace-Task` and
    /// `Millrace-Run`), and moves a quarantined or blocked task's work to
    /// the branch `millrace/parked/<run id>`; `off`: the repository is not
    /// touched (v0.2.0's behaviour). Unset: `per_task` in a git
    /// repository, else `off`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<GitCommit>,
}

impl GitConfig {
    fn is_unset(&self) -> bool {
        self == &GitConfig::default()
    }
}

/// `[git] commit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GitCommit {
    PerTask,
    Off,
}

/// `[diagnostics]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DiagnosticsConfig {
    /// Literal strings replaced by `<redacted>` in every file a bundle
    /// copies (besides secret-named keys and secret environment values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub redact: Vec<String>,
}

/// A v0.2.0 setting that loads but does not act here, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatNote {
    /// Dotted key, e.g. `policies.usage.enabled`.
    pub key: String,
    pub note: String,
}

/// `[budget]`: caps on what runs may spend, read from the live config at
/// every stage boundary (raising one lets a paused run continue).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// What a task whose worst case (proved stage bound × per-stage
    /// ceilings) exceeds its remaining `[budget.task]` gets: `warn` (an
    /// event, the run starts) or `worst_case` (it does not start).
    pub admission: Admission,
    /// Every run of one task together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<Caps>,
    /// One run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<Caps>,
    /// Every run, per UTC day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<Caps>,
    /// One stage kind within one run, keyed by stage kind id.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub stage: BTreeMap<String, Caps>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Admission {
    #[default]
    Warn,
    WorstCase,
}

impl BudgetConfig {
    pub fn is_empty(&self) -> bool {
        self.task.is_none() && self.run.is_none() && self.day.is_none() && self.stage.is_empty()
    }
}

/// Limits of one budget scope; unset means unlimited. Tokens are input plus
/// output as recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Caps {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocations: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_seconds: Option<u64>,
}

/// `[prices.<model>]`: USD per million tokens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Price {
    pub input_per_mtok: f64,
    /// Cached input; defaults to the input price when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_input_per_mtok: Option<f64>,
    pub output_per_mtok: f64,
}

impl Price {
    /// The cost of `u` at this price.
    pub fn cost(&self, u: &super::records::Usage) -> f64 {
        let cached = u.cached_input.min(u.input);
        let fresh = u.input - cached;
        (fresh as f64 * self.input_per_mtok
            + cached as f64 * self.cached_input_per_mtok.unwrap_or(self.input_per_mtok)
            + u.output as f64 * self.output_per_mtok)
            / 1_000_000.0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    pub mode: EngineMode,
    pub idle_mode: IdleMode,
    #[schemars(range(min = 1))]
    pub poll_interval_seconds: u64,
    pub inter_task_delay_seconds: u64,
    /// How long `stop` lets a running stage finish before its process group
    /// is terminated (the run stays resumable).
    pub stop_grace_seconds: u64,
    /// `engine_events.log` moves to `engine_events.1.log` (and older ones
    /// one number up) once an append takes it past this many bytes; 0
    /// never rotates.
    pub event_log_max_bytes: u64,
    /// Rotated event logs kept; the oldest beyond this is deleted.
    #[schemars(range(min = 1, max = 1000))]
    pub event_log_keep: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            mode: EngineMode::Once,
            idle_mode: IdleMode::Watch,
            poll_interval_seconds: 60,
            inter_task_delay_seconds: 0,
            stop_grace_seconds: 30,
            event_log_max_bytes: 64 << 20,
            event_log_keep: 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EngineMode {
    Once,
    Daemon,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdleMode {
    Watch,
    Poll,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PathsConfig {
    /// Workspace root, relative to the directory of `millrace.toml`.
    pub workspace: PathBuf,
    /// Agents directory, relative to the workspace root.
    pub agents_dir: PathBuf,
}

impl Default for PathsConfig {
    fn default() -> Self {
        PathsConfig {
            workspace: PathBuf::from("."),
            agents_dir: PathBuf::from("agents"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutionConfig {
    pub integration_mode: IntegrationMode,
    pub quickfix_max_attempts: u32,
    /// Recovery rounds (troubleshoot/consult back to builder) before a task
    /// is handed to research. v0.2.0 has no such bound.
    pub recovery_max_rounds: u32,
    pub run_update_on_empty: bool,
}

impl Default for ExecutionConfig {
    fn default() -> Self {
        ExecutionConfig {
            integration_mode: IntegrationMode::LargeOnly,
            quickfix_max_attempts: 2,
            recovery_max_rounds: 2,
            run_update_on_empty: true,
        }
    }
}

/// `[outage]`: how a run waits out faults of its environment. A transient
/// fault (`rate_limit`, `unavailable`, `stall`) puts the plane in NET_WAIT:
/// a daemon retries the same stage after `wait_initial_seconds`, doubling up
/// to `wait_max_seconds`, and pauses after `max_waits` waits. These bounds
/// are compiled into the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OutageConfig {
    pub wait_initial_seconds: u64,
    pub wait_max_seconds: u64,
    /// Waits before the daemon pauses (0: wait forever).
    pub max_waits: u32,
    /// Run before each retry; the stage is retried only when it exits 0.
    pub probe_command: Vec<String>,
    /// A stage with no output for this long is ended as a `stall` (0: off).
    pub stall_seconds: u64,
    /// Treat a stage timeout as a transient environment fault instead of
    /// the task's failure.
    pub timeout_is_outage: bool,
}

impl OutageConfig {
    /// The wait before retry number `n` (1-based): doubling, capped.
    pub fn wait_before(&self, n: u32) -> u64 {
        let doubled = self
            .wait_initial_seconds
            .saturating_mul(1u64 << n.saturating_sub(1).min(32));
        doubled.min(self.wait_max_seconds.max(self.wait_initial_seconds))
    }

    /// The longest a run can wait on transient faults before a daemon
    /// pauses it (`None`: unbounded).
    pub fn max_wait_seconds(&self) -> Option<u64> {
        (self.max_waits > 0).then(|| (1..=self.max_waits).map(|n| self.wait_before(n)).sum())
    }

    /// Whether an attempt of `class` is waited out (NET_WAIT): transient
    /// faults, and timeouts when `timeout_is_outage`.
    pub fn waits_out(&self, class: super::records::AttemptClass) -> bool {
        class.is_transient()
            || (class == super::records::AttemptClass::Timeout && self.timeout_is_outage)
    }

    /// Whether an attempt of `class` is the environment's fault, never
    /// routed: what is waited out, and what needs a person.
    pub fn is_fault(&self, class: super::records::AttemptClass) -> bool {
        self.waits_out(class) || class.needs_person()
    }
}

impl Default for OutageConfig {
    fn default() -> Self {
        OutageConfig {
            wait_initial_seconds: 15,
            wait_max_seconds: 300,
            max_waits: 8,
            probe_command: Vec::new(),
            stall_seconds: 600,
            timeout_is_outage: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationMode {
    Always,
    LargeOnly,
    Never,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ResearchConfig {
    pub mode: ResearchMode,
    pub idle_mode: IdleMode,
    #[schemars(range(min = 1))]
    pub idle_poll_seconds: u64,
    pub stage_retry_max: u32,
    pub stage_retry_backoff_seconds: u64,
    /// Audit the work when the backlog drains (research modes other than
    /// `stub`). An audit runs once per drained backlog.
    pub audit_on_empty: bool,
    /// Consecutive FAIL decisions after which no audit starts on its own
    /// (an `ideas/audit/incoming/` request still starts one).
    pub audit_max_failures: u32,
    /// How often spec review may send a spec back before goalspec blocks.
    pub spec_review_max_revisions: u32,
}

impl Default for ResearchConfig {
    fn default() -> Self {
        ResearchConfig {
            mode: ResearchMode::Stub,
            idle_mode: IdleMode::Poll,
            idle_poll_seconds: 60,
            stage_retry_max: 1,
            stage_retry_backoff_seconds: 5,
            audit_on_empty: true,
            audit_max_failures: 3,
            spec_review_max_revisions: 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResearchMode {
    Stub,
    Auto,
    Goalspec,
    Incident,
    Audit,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WatchersConfig {
    pub debounce_seconds: f64,
    pub roots: Vec<WatchRoot>,
}

impl Default for WatchersConfig {
    fn default() -> Self {
        WatchersConfig {
            debounce_seconds: 0.5,
            roots: vec![
                WatchRoot::Agents,
                WatchRoot::IdeasRaw,
                WatchRoot::CommandsIncoming,
                WatchRoot::ConfigFile,
            ],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WatchRoot {
    Agents,
    IdeasRaw,
    CommandsIncoming,
    ConfigFile,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PlanConfig {
    /// Mode compiled when no `--mode` is given.
    pub mode: String,
}

impl Default for PlanConfig {
    fn default() -> Self {
        PlanConfig {
            mode: "standard".to_string(),
        }
    }
}

/// A runner declared in the workspace. Built-in runner ids (`codex`,
/// `claude`, `pi`, `subprocess`, `demo`) may be configured here too.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RunnerConfig {
    /// Adapter kind; defaults to the runner id for built-ins, else `subprocess`.
    pub kind: Option<RunnerKind>,
    /// Executable and arguments (subprocess) or executable override (agents).
    pub command: Vec<String>,
    /// Extra arguments appended to the adapter's own.
    pub args: Vec<String>,
    /// Extra environment for the child process.
    pub env: BTreeMap<String, String>,
    /// Codex sandbox: `read-only`, `workspace-write` (default) or
    /// `danger-full-access`; `bypass` passes
    /// `--dangerously-bypass-approvals-and-sandbox`.
    pub sandbox: Option<String>,
    /// Claude permission mode (default `acceptEdits`).
    pub permission_mode: Option<String>,
    /// Pi provider (`--provider`).
    pub provider: Option<String>,
    /// Whether the agent may use the network (default true). For Codex in
    /// `workspace-write` this enables the sandbox's network access; the
    /// agent sees it as `MILLRACE_ALLOW_NETWORK`.
    pub network: Option<bool>,
    /// Retries the CLI itself makes on a failed API call (default 1: a bad
    /// key fails a stage in seconds and millrace's own outage backoff
    /// decides): Claude's `CLAUDE_CODE_MAX_RETRIES`. Pi's auto-retry is
    /// always off; Codex caps retries only per custom provider (set them in
    /// `args` with the provider).
    pub max_retries: Option<u32>,
    /// The most one stage may cost, in USD. Claude enforces it
    /// (`--max-budget-usd`); for every runner it bounds the worst case that
    /// `plan show` and `[budget] admission = "worst_case"` use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_usd_per_stage: Option<f64>,
    /// The most agent turns one stage may take (Claude `--max-turns`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
}

impl RunnerConfig {
    /// The default of `max_retries`.
    pub const MAX_RETRIES: u32 = 1;

    pub fn max_retries(&self) -> u32 {
        self.max_retries.unwrap_or(Self::MAX_RETRIES)
    }
}
