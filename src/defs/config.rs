//! `millrace.toml`: the typed workspace configuration.
//!
//! The schema is closed: unknown keys are errors that name the file, line and
//! column. Sections follow Millrace v0.2.0 (spec §2.3–2.4); `[plan]`,
//! `[stages.<kind>]` and `[runners.<id>]` are ours.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::diag::{Diagnostic, Pos};
use super::loop_def::StageOverrides;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunnerKind {
    Codex,
    Claude,
    Pi,
    Subprocess,
    Demo,
    /// A deterministic check: runs `command` and maps its exit code to the
    /// stage's outcomes (0 → the first, anything else → the second).
    Command,
}

impl RunnerKind {
    pub const BUILTIN: [(&'static str, RunnerKind); 6] = [
        ("codex", RunnerKind::Codex),
        ("claude", RunnerKind::Claude),
        ("pi", RunnerKind::Pi),
        ("subprocess", RunnerKind::Subprocess),
        ("demo", RunnerKind::Demo),
        ("command", RunnerKind::Command),
    ];

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

    /// The model family the runner's CLI serves (`None`: any model).
    pub fn model_family(self) -> Option<ModelFamily> {
        match self {
            RunnerKind::Codex => Some(ModelFamily::OpenAi),
            RunnerKind::Claude => Some(ModelFamily::Anthropic),
            _ => None,
        }
    }

    /// The model a stage gets when its runner is switched to this one and no
    /// model is set for it.
    pub fn default_model(self) -> Option<&'static str> {
        match self {
            RunnerKind::Codex => Some("gpt-5.3-codex"),
            RunnerKind::Claude => Some("sonnet"),
            _ => None,
        }
    }
}

/// Which provider's models a model id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFamily {
    OpenAi,
    Anthropic,
}

impl ModelFamily {
    /// The family of a model id, when it is recognisable (`gpt-5`, `o3`,
    /// `claude-sonnet-4-5`, `opus`…); `None` for anything else.
    pub fn of_model(model: &str) -> Option<ModelFamily> {
        let m = model.to_ascii_lowercase();
        let openai = ["gpt", "o1", "o3", "o4", "codex", "chatgpt"];
        let anthropic = ["claude", "sonnet", "opus", "haiku"];
        if openai.iter().any(|p| m.starts_with(p)) {
            Some(ModelFamily::OpenAi)
        } else if anthropic.iter().any(|p| m.starts_with(p)) {
            Some(ModelFamily::Anthropic)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ModelFamily::OpenAi => "OpenAI",
            ModelFamily::Anthropic => "Anthropic",
        }
    }
}

impl Config {
    /// Parses `millrace.toml` text; `file` is used to locate errors.
    pub fn parse(file: &str, text: &str) -> Result<Config, Diagnostic> {
        let config: Config = toml::from_str(text).map_err(|err| {
            let mut d =
                Diagnostic::error("config.invalid", err.message().to_string()).in_file(file);
            if let Some(span) = err.span() {
                d = d.at(file, offset_to_pos(text, span.start));
            }
            d.with_hint("`millrace schema export` writes config.schema.json, which lists every key")
        })?;
        config.check_ranges().map_err(|(key, why)| {
            let (table, field) = key.rsplit_once('.').unwrap_or((key.as_str(), ""));
            Diagnostic::error("config.invalid", format!("`{key}` {why}"))
                .at(file, toml_pos(text, table, field))
        })?;
        Ok(config)
    }

    /// v0.2.0 complexity routing (`[policies.complexity] enabled = true`):
    /// the default band for cards without a `Complexity:` field.
    pub fn complexity_default_band(&self) -> Option<String> {
        let c = self.policies.as_ref()?.get("complexity")?;
        (c.get("enabled")? == &serde_json::Value::Bool(true)).then(|| {
            c.get("default_band")
                .and_then(|b| b.as_str())
                .unwrap_or("moderate")
                .to_string()
        })
    }

    /// The v0.2.0 settings of this config that take no effect, with what to
    /// use instead. Defaults and settings equal to our behaviour are not
    /// listed.
    pub fn compat_notes(&self) -> Vec<CompatNote> {
        let mut out = Vec::new();
        let mut leaf = |key: String, note: &str| {
            out.push(CompatNote {
                key,
                note: note.to_string(),
            })
        };
        let sections: [(&str, &Option<serde_json::Value>, &str); 4] = [
            ("sizing", &self.sizing, "v0.2.0 sizing thresholds other than mode, repo and task are not used"),
            ("routing", &self.routing, "stage order is the loop's graph: write an overlay loop (docs/authoring.md) instead"),
            ("policies", &self.policies, "not implemented here"),
            ("boundaries", &self.boundaries, "config changes apply at the next run boundary; the v0.2.0 boundary lists are not used"),
        ];
        for (name, value, why) in sections {
            let Some(v) = value else { continue };
            for_each_leaf(name, v, &mut |key, value| {
                let note = match key.as_str() {
                    "sizing.mode" => return,
                    k if k.starts_with("sizing.repo.") || k.starts_with("sizing.task.") => {
                        if k.ends_with("file_count_threshold") || k.ends_with("nonempty_line_count_threshold") {
                            return;
                        }
                        "only file_count_threshold and nonempty_line_count_threshold are used"
                    }
                    k if k.starts_with("policies.outage.") => "use `[outage]` (waits, backoff, probe_command)",
                    "policies.usage.enabled" | "policies.usage.orch_command" => return,
                    k if k.starts_with("policies.usage.execution.") && !k.ends_with("refresh_utc") => return,
                    "policies.usage.provider" if matches!(value.as_str(), Some("env" | "command")) => return,
                    "policies.usage.provider" => "the `codex` usage sampler is not implemented: use `env` or `command`, or `[budget]` caps",
                    k if k.starts_with("policies.usage.") => "use `[budget]` caps (usd, tokens, invocations, wall_seconds) and `millrace usage`",
                    "policies.complexity.enabled" | "policies.complexity.default_band" => return,
                    k if k.starts_with("policies.complexity.") => "the complexity profiles are v0.2.0's model.complexity.<band> (efforts per stage); other profiles are not loaded",
                    k if k.starts_with("policies.search.") => "search is not enabled for any stage here",
                    k if k.starts_with("policies.network_guard.") => "use `[runners.<id>] network = false`",
                    k if k.starts_with("policies.preflight.") => "runner problems are classified per attempt; `millrace doctor` checks runners",
                    _ => why,
                };
                leaf(key, note);
            });
        }
        for (kind, o) in &self.stages {
            if o.allow_search == Some(true) {
                leaf(
                    format!("stages.{kind}.allow_search"),
                    "search is not enabled for any stage here",
                );
            }
        }
        out
    }

    /// Values the types allow but the runtime cannot use: zero or absurd
    /// durations, non-finite numbers, paths that leave the workspace.
    fn check_ranges(&self) -> Result<(), (String, String)> {
        const DAY: u64 = 86_400;
        let within = |key: &str, v: u64, lo: u64, hi: u64| {
            if v < lo || v > hi {
                Err((
                    key.to_string(),
                    format!("must be between {lo} and {hi}, not {v}"),
                ))
            } else {
                Ok(())
            }
        };
        let e = &self.engine;
        within(
            "engine.poll_interval_seconds",
            e.poll_interval_seconds,
            1,
            DAY,
        )?;
        within(
            "engine.inter_task_delay_seconds",
            e.inter_task_delay_seconds,
            0,
            DAY,
        )?;
        within("engine.stop_grace_seconds", e.stop_grace_seconds, 0, DAY)?;
        let o = &self.outage;
        within(
            "outage.wait_initial_seconds",
            o.wait_initial_seconds,
            0,
            DAY,
        )?;
        within("outage.wait_max_seconds", o.wait_max_seconds, 0, 7 * DAY)?;
        within("outage.stall_seconds", o.stall_seconds, 0, 7 * DAY)?;
        within(
            "research.idle_poll_seconds",
            self.research.idle_poll_seconds,
            0,
            DAY,
        )?;
        within(
            "research.stage_retry_backoff_seconds",
            self.research.stage_retry_backoff_seconds,
            0,
            DAY,
        )?;
        let b = &self.budget;
        let scopes = [("task", &b.task), ("run", &b.run), ("day", &b.day)];
        let named = scopes
            .iter()
            .filter_map(|(n, c)| c.as_ref().map(|c| (format!("budget.{n}"), c)))
            .chain(
                b.stage
                    .iter()
                    .map(|(k, c)| (format!("budget.stage.{k}"), c)),
            );
        for (key, caps) in named {
            if let Some(usd) = caps.usd {
                if !(usd.is_finite() && (0.0..=1e9).contains(&usd)) {
                    return Err((
                        format!("{key}.usd"),
                        format!("must be a number of dollars from 0 to 1e9, not {usd}"),
                    ));
                }
            }
        }
        for (model, p) in &self.prices {
            for v in [
                Some(p.input_per_mtok),
                p.cached_input_per_mtok,
                Some(p.output_per_mtok),
            ]
            .into_iter()
            .flatten()
            {
                if !(v.is_finite() && (0.0..=1e6).contains(&v)) {
                    return Err((
                        format!("prices.{model}"),
                        format!("prices must be from 0 to 1e6 USD per million tokens, not {v}"),
                    ));
                }
            }
        }
        // Loop bounds: the compiler proves termination for any number, but
        // a bound in the billions proves nothing useful.
        within(
            "execution.quickfix_max_attempts",
            u64::from(self.execution.quickfix_max_attempts),
            0,
            100,
        )?;
        within(
            "execution.recovery_max_rounds",
            u64::from(self.execution.recovery_max_rounds),
            0,
            100,
        )?;
        within(
            "research.spec_review_max_revisions",
            u64::from(self.research.spec_review_max_revisions),
            0,
            20,
        )?;
        within(
            "research.audit_max_failures",
            u64::from(self.research.audit_max_failures),
            0,
            100,
        )?;
        let d = self.watchers.debounce_seconds;
        if !(d.is_finite() && (0.0..=3600.0).contains(&d)) {
            return Err((
                "watchers.debounce_seconds".into(),
                format!("must be a number from 0 to 3600, not {d}"),
            ));
        }
        for (kind, o) in &self.stages {
            if let Some(t) = o.timeout_seconds {
                within(&format!("stages.{kind}.timeout_seconds"), t, 1, 7 * DAY)?;
            }
        }
        for (key, p) in [
            ("paths.workspace", &self.paths.workspace),
            ("paths.agents_dir", &self.paths.agents_dir),
        ] {
            let escapes = p.is_absolute()
                || p.components()
                    .any(|c| matches!(c, std::path::Component::ParentDir));
            if escapes {
                return Err((
                    key.to_string(),
                    format!(
                        "must be a path inside the workspace (relative, without `..`), not `{}`",
                        p.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Runner ids known to this workspace: built-ins plus `[runners.*]`.
    pub fn runner_ids(&self) -> impl Iterator<Item = &str> {
        RunnerKind::BUILTIN
            .iter()
            .map(|(id, _)| *id)
            .chain(self.runners.keys().map(String::as_str))
    }

    /// SHA-256 of the config as JSON with sorted keys (as v0.2.0's config_hash).
    pub fn hash(&self) -> String {
        let value = serde_json::to_value(self).expect("config serialises");
        sha256_hex(value.to_string().as_bytes())
    }

    /// Reads an integer config value by dotted key (threshold limits).
    pub fn integer(&self, key: &str) -> Option<u64> {
        self.get(key).as_ref().and_then(serde_json::Value::as_u64)
    }

    /// Resolves the agents directory for a config file at `config_path`.
    pub fn agents_dir(&self, config_path: &Path) -> PathBuf {
        without_cur_dir(
            &self
                .workspace_root(config_path)
                .join(&self.paths.agents_dir),
        )
    }

    pub fn workspace_root(&self, config_path: &Path) -> PathBuf {
        let dir = config_path.parent().unwrap_or(Path::new("."));
        without_cur_dir(&dir.join(&self.paths.workspace))
    }
}

/// `a/./b` → `a/b` (keeps `..`: resolving it needs the file system).
fn without_cur_dir(path: &Path) -> PathBuf {
    let cleaned: PathBuf = path
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    if cleaned.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        cleaned
    }
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

/// Lowercase hex of a digest.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        use std::fmt::Write;
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Converts a byte offset into a 1-based line and column (in characters).
pub fn offset_to_pos(text: &str, offset: usize) -> Pos {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Pos::new(line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_takes_v020_defaults() {
        let c = Config::parse("millrace.toml", "").unwrap();
        assert_eq!(c.execution.quickfix_max_attempts, 2);
        assert_eq!(c.engine.poll_interval_seconds, 60);
        assert_eq!(c.plan.mode, "standard");
        assert_eq!(c.integer("execution.quickfix_max_attempts"), Some(2));
        assert_eq!(c.integer("execution.nope"), None);
    }

    #[test]
    fn unknown_keys_are_located() {
        let err =
            Config::parse("millrace.toml", "[engine]\nmode = \"once\"\nbogus = 1\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.message.contains("bogus"), "{err}");
    }

    #[test]
    fn hash_is_stable_and_sensitive() {
        let a = Config::parse("m", "").unwrap();
        let b = Config::parse("m", "[execution]\nquickfix_max_attempts = 3\n").unwrap();
        assert_eq!(a.hash(), Config::default().hash());
        assert_ne!(a.hash(), b.hash());
    }
}

/// Calls `f` with the dotted key and value of every leaf of `v` (a
/// non-empty object is walked, anything else is a leaf) under `prefix`.
pub fn for_each_leaf(
    prefix: &str,
    v: &serde_json::Value,
    f: &mut dyn FnMut(String, &serde_json::Value),
) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                for_each_leaf(&key, v, f);
            }
        }
        other => f(prefix.to_string(), other),
    }
}

/// Where the dotted `key` is set in a parsed TOML document, or none when
/// the document does not set it.
pub fn toml_key_pos(doc: &toml_edit::Document<String>, key: &str) -> Option<Pos> {
    let mut item = doc.as_item();
    for part in key.split('.') {
        item = item.get(part)?;
    }
    let span = item
        .span()
        .or_else(|| item.as_value().and_then(|v| v.span()))?;
    Some(offset_to_pos(doc.raw(), span.start))
}

/// Locates the key `table.field` (or the table itself when `field` is
/// empty) in TOML text, from toml_edit's spans; the start of the file when
/// the text does not parse or lacks the key.
pub fn toml_pos(text: &str, table: &str, field: &str) -> Pos {
    let Ok(doc) = toml_edit::Document::parse(text) else {
        return Pos::START;
    };
    let mut current: &dyn toml_edit::TableLike = doc.as_table();
    let mut span = None;
    let segments = table.split('.').chain((!field.is_empty()).then_some(field));
    for seg in segments {
        let Some((key, item)) = current.get_key_value(seg) else {
            break;
        };
        span = key.span().or_else(|| item.span()).or(span);
        match item.as_table_like() {
            Some(t) => current = t,
            None => break,
        }
    }
    span.map_or(Pos::START, |r| offset_to_pos(text, r.start))
}

/// When a changed config field takes effect in a running daemon (spec §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Boundary {
    /// At once (poll interval, inter-task delay).
    LiveImmediate,
    /// Before the next stage. Runs follow frozen plans, so in practice: at
    /// the next run.
    StageBoundary,
    /// At the next cycle (run).
    CycleBoundary,
    /// Only at daemon start; refused while a daemon runs.
    StartupOnly,
}

impl Boundary {
    pub fn of(key: &str) -> Boundary {
        let starts = |p: &str| key == p || key.starts_with(&format!("{p}."));
        if starts("paths") {
            Boundary::StartupOnly
        } else if matches!(
            key,
            "engine.poll_interval_seconds"
                | "engine.inter_task_delay_seconds"
                | "engine.stop_grace_seconds"
        ) {
            Boundary::LiveImmediate
        } else if key == "engine.mode"
            || starts("execution")
            || starts("stages")
            || starts("runners")
            || starts("plan")
        {
            Boundary::StageBoundary
        } else {
            Boundary::CycleBoundary
        }
    }
}

impl Config {
    /// The value at a dotted key, as JSON; `None` for unknown keys.
    pub fn get(&self, key: &str) -> Option<serde_json::Value> {
        let value = serde_json::to_value(self).ok()?;
        key.split('.')
            .try_fold(&value, |v, seg| v.get(seg))
            .cloned()
    }
}

/// Sets `key` to `value` in the TOML `text` of a config, keeping the rest of
/// the file (comments, order) as it is. The value is read as a TOML literal
/// (`2`, `true`, `"x"`, `["a", "b"]`), else as a string. The result is parsed
/// and checked before it is returned, so a bad key or value never reaches
/// the file.
pub fn set_in_text(text: &str, key: &str, value: &str) -> Result<(String, Config), String> {
    let segments: Vec<&str> = key.split('.').collect();
    if segments.len() < 2 || segments.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "unknown config key: {key} (keys look like `engine.poll_interval_seconds`)"
        ));
    }
    let known = Config::default();
    // Sections with optional or user-named tables: the typed parse of the
    // result checks them.
    let dynamic = matches!(segments[0], "stages" | "runners" | "budget" | "prices");
    if !dynamic && known.get(key).is_none() {
        let mut prefix = String::new();
        for seg in &segments {
            if !prefix.is_empty() {
                prefix.push('.');
            }
            prefix.push_str(seg);
            if known.get(&prefix).is_none() {
                return Err(format!("unknown config key segment: {seg} (in {key})"));
            }
        }
        return Err(format!("unknown config key: {key}"));
    }
    let new_text = edit_toml(text, &segments, value)?;
    let config = Config::parse("millrace.toml", &new_text)
        .map_err(|d| format!("invalid value for {key}: {}", d.message))?;
    Ok((new_text, config))
}

/// The TOML value of `value`: a TOML literal (`2`, `true`, `"x"`,
/// `["a", "b"]`), else the text as a string.
fn literal(value: &str) -> toml_edit::Value {
    format!("v = {value}")
        .parse::<toml_edit::DocumentMut>()
        .ok()
        .and_then(|doc| doc.get("v").and_then(|i| i.as_value()).cloned())
        .map(|mut v| {
            v.decor_mut().clear();
            v
        })
        .unwrap_or_else(|| toml_edit::Value::from(value))
}

/// Sets `segments` (a dotted key) in `text` with toml_edit, so comments,
/// layout, spacing in headers (`[ engine ]`), inline tables and multi-line
/// arrays stay as written. Missing tables are added.
fn edit_toml(text: &str, segments: &[&str], value: &str) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| format!("millrace.toml is not valid TOML: {e}"))?;
    let (leaf, tables) = segments.split_last().expect("at least two segments");
    let mut item = doc.as_item_mut();
    for (i, seg) in tables.iter().enumerate() {
        let here = tables[..=i].join(".");
        let table = item
            .as_table_like_mut()
            .ok_or_else(|| format!("cannot set a key under `{here}`: it is not a table"))?;
        if table.get(seg).is_none() {
            table.insert(seg, toml_edit::Item::Table(toml_edit::Table::new()));
        }
        item = table.get_mut(seg).expect("just inserted");
        if !item.is_table_like() {
            return Err(format!(
                "cannot set a key under `{here}`: it is a value, not a table"
            ));
        }
    }
    let table = item.as_table_like_mut().expect("checked above");
    match table.get_mut(leaf) {
        Some(existing) if existing.is_value() => {
            // Keep the comment and spacing around the old value.
            let decor = existing.as_value().map(|v| v.decor().clone());
            let mut new = literal(value);
            if let Some(d) = decor {
                *new.decor_mut() = d;
            }
            *existing = toml_edit::Item::Value(new);
        }
        Some(_) => return Err(format!("`{}` is a table, not a value", segments.join("."))),
        None => {
            table.insert(leaf, toml_edit::Item::Value(literal(value)));
        }
    }
    if let Some(inline) = item.as_inline_table_mut() {
        inline.fmt();
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod edit_tests {
    use super::*;

    const TEXT: &str = "# top\n[engine]\nmode = \"once\" # keep\npoll_interval_seconds = 60\n\n[execution]\nquickfix_max_attempts = 2\n";

    #[test]
    fn edits_in_place_keeps_comments_and_adds_tables() {
        let (t, c) = set_in_text(TEXT, "engine.poll_interval_seconds", "5").unwrap();
        assert!(
            t.contains("poll_interval_seconds = 5\n")
                && t.contains("# top")
                && t.contains("# keep"),
            "{t}"
        );
        assert_eq!(c.engine.poll_interval_seconds, 5);
        let (t, c) = set_in_text(&t, "stages.builder.timeout_seconds", "2").unwrap();
        assert!(t.contains("[stages.builder]\ntimeout_seconds = 2\n"), "{t}");
        assert_eq!(c.stages["builder"].timeout_seconds, Some(2));
        let (_, c) = set_in_text(TEXT, "execution.integration_mode", "always").unwrap();
        assert_eq!(c.execution.integration_mode, IntegrationMode::Always);
    }

    #[test]
    fn valid_toml_shapes_are_edited_in_place() {
        // Spaces in a header, an inline table, a multi-line array.
        let text = "[ engine ]\npoll_interval_seconds = 60 # poll\n\n[stages]\nqa = { model = \"o3\" }\n\n[runners.x]\nargs = [\n  \"a\",\n  \"b\",\n]\n";
        let (t, c) = set_in_text(text, "engine.poll_interval_seconds", "5").unwrap();
        assert!(
            t.starts_with("[ engine ]\npoll_interval_seconds = 5 # poll\n"),
            "{t}"
        );
        assert_eq!(c.engine.poll_interval_seconds, 5);
        let (t, c) = set_in_text(&t, "stages.qa.timeout_seconds", "9").unwrap();
        assert!(
            t.contains("qa = { model = \"o3\", timeout_seconds = 9 }"),
            "{t}"
        );
        assert_eq!(c.stages["qa"].timeout_seconds, Some(9));
        let (t, c) = set_in_text(&t, "runners.x.command", "[\"/bin/x\"]").unwrap();
        assert!(t.contains("args = [\n  \"a\",\n  \"b\",\n]"), "{t}");
        assert_eq!(c.runners["x"].command, ["/bin/x"]);
    }

    #[test]
    fn bad_keys_and_values_are_refused() {
        assert_eq!(
            set_in_text(TEXT, "engine.nope", "1").unwrap_err(),
            "unknown config key segment: nope (in engine.nope)"
        );
        assert!(set_in_text(TEXT, "engine.poll_interval_seconds", "soon")
            .unwrap_err()
            .starts_with("invalid value"));
        assert!(set_in_text(TEXT, "nokey", "1").is_err());
    }

    #[test]
    fn boundaries() {
        assert_eq!(Boundary::of("paths.workspace"), Boundary::StartupOnly);
        assert_eq!(
            Boundary::of("engine.poll_interval_seconds"),
            Boundary::LiveImmediate
        );
        assert_eq!(Boundary::of("stages.qa.model"), Boundary::StageBoundary);
        assert_eq!(
            Boundary::of("watchers.debounce_seconds"),
            Boundary::CycleBoundary
        );
    }
}
