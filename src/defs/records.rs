//! Runtime record types shared by the `store` and `runner` layers.

use serde::{Deserialize, Serialize};

/// Token accounting normalised across runners (Codex counts cached input
/// inside `input`; Claude does not, so its adapter adds it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Usage {
    pub input: u64,
    pub cached_input: u64,
    pub cache_write: u64,
    pub output: u64,
    pub reasoning_output: u64,
    pub total: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// The attempt was cut off (a timeout, a stall, a stop) before its CLI
    /// reported the whole call: the figures are what its events showed so
    /// far, a floor, and the rest is unknown. Never read as "spent zero".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// Why the runner's figures were refused (negative, not a number,
    /// infinite or beyond any real call): the attempt's spend is unknown.
    /// Its figures are then zero but never read as "spent zero": the
    /// ledger counts it among the attempts of unknown cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid: Option<String>,
}

/// More tokens than any one agent call can report (a trillion).
pub const MAX_ATTEMPT_TOKENS: u64 = 1_000_000_000_000;
/// More dollars than any one agent call can cost.
pub const MAX_ATTEMPT_USD: f64 = 1_000_000.0;

impl Usage {
    /// The figures if they are believable, else unknown usage saying why
    /// (nothing a runner reports is credited or wraps a sum).
    pub fn checked(self) -> Usage {
        let tokens = [
            ("input", self.input),
            ("cached_input", self.cached_input),
            ("cache_write", self.cache_write),
            ("output", self.output),
            ("reasoning_output", self.reasoning_output),
            ("total", self.total),
        ];
        let why = if let Some((name, v)) = tokens.iter().find(|(_, v)| *v > MAX_ATTEMPT_TOKENS) {
            Some(format!(
                "{name} tokens {v} exceed {MAX_ATTEMPT_TOKENS}, more than any one call"
            ))
        } else {
            match self.cost_usd {
                Some(c) if c.is_nan() => Some("cost is not a number".to_string()),
                Some(c) if c.is_infinite() => Some(format!("cost {c} is infinite")),
                Some(c) if c < 0.0 => Some(format!("cost {c} is negative")),
                Some(c) if c > MAX_ATTEMPT_USD => Some(format!(
                    "cost {c} exceeds ${MAX_ATTEMPT_USD}, more than any one call"
                )),
                _ => None,
            }
        };
        match why {
            Some(why) => Usage {
                partial: self.partial,
                invalid: Some(format!("invalid usage refused: {why}")),
                ..Usage::default()
            },
            None => self,
        }
    }
}

/// Dollars with the precision a decision needs: cents when that is exact,
/// else up to six decimals (`$0.40`, `$0.004`, `$0.012345`), so a budget
/// message never reads "spent $0.00 … cap $0.01".
pub fn usd(v: f64) -> String {
    let s = format!("{:.6}", v);
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let frac = frac.trim_end_matches('0');
    let frac = if frac.len() < 2 {
        format!("{frac:0<2}")
    } else {
        frac.to_string()
    };
    format!("${int}.{frac}")
}

/// How a stage attempt ended. Exactly one class per attempt: the agent's own
/// `outcome` or `task_failure` route the task; the environment classes never
/// do (the run waits at the same node and resumes there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptClass {
    /// The agent ended with a legal marker.
    Outcome,
    /// The agent ran and ended without a legal marker.
    TaskFailure,
    /// 401/403, not logged in, a missing key.
    Auth,
    /// 429, usage or quota exhausted.
    RateLimit,
    /// 5xx, connection refused or reset, DNS, TLS, a stalled stream.
    Unavailable,
    /// Unknown model, missing executable, refused permission mode, missing
    /// provider, a prompt that does not render.
    Config,
    /// No output for `[outage] stall_seconds`.
    Stall,
    /// No result within the stage's time limit.
    Timeout,
    /// Stopped by the operator or a signal.
    Interrupted,
    /// The stage changed the runtime's own files (the config, the task
    /// stores, overlays, prompts, `.runtime/`, the staging repository's git
    /// config or hooks): its outcome is not trusted and the run waits for
    /// a person.
    Tamper,
}

impl AttemptClass {
    pub const ALL: [AttemptClass; 10] = [
        AttemptClass::Outcome,
        AttemptClass::TaskFailure,
        AttemptClass::Auth,
        AttemptClass::RateLimit,
        AttemptClass::Unavailable,
        AttemptClass::Config,
        AttemptClass::Stall,
        AttemptClass::Timeout,
        AttemptClass::Interrupted,
        AttemptClass::Tamper,
    ];

    /// A fault of the world, not of the task: it never routes.
    pub fn is_environment(self) -> bool {
        self.is_transient() || self.needs_person()
    }

    /// Likely to clear by itself: wait and retry (`NET_WAIT`).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            AttemptClass::RateLimit | AttemptClass::Unavailable | AttemptClass::Stall
        )
    }

    /// Needs a person to fix something (`ENV_BLOCKED`).
    pub fn needs_person(self) -> bool {
        matches!(
            self,
            AttemptClass::Auth | AttemptClass::Config | AttemptClass::Tamper
        )
    }

    /// What the class means, one line (the guides' fault table).
    pub fn meaning(self) -> &'static str {
        match self {
            AttemptClass::Outcome => "the agent ended with a legal marker: the run routes on it",
            AttemptClass::TaskFailure => "the agent ran and ended without a legal marker: the stage's failure outcome routes",
            AttemptClass::Auth => "401/403, not logged in, a missing key: the run waits for a person (ENV_BLOCKED)",
            AttemptClass::RateLimit => "429, usage or quota exhausted: the run waits and retries (NET_WAIT)",
            AttemptClass::Unavailable => "5xx, connection refused or reset, DNS, TLS: the run waits and retries (NET_WAIT)",
            AttemptClass::Config => "unknown model, missing executable, refused permission mode, a prompt that does not render: the run waits for a person (ENV_BLOCKED)",
            AttemptClass::Stall => "no output for `[outage] stall_seconds`: the run waits and retries (NET_WAIT)",
            AttemptClass::Timeout => "no result within the stage's time limit: the stage's failure outcome routes",
            AttemptClass::Interrupted => "stopped by the operator or a signal: the run resumes at the same stage on the next start",
            AttemptClass::Tamper => "the stage changed the runtime's own files: nothing routes, the run waits for a person (ENV_BLOCKED)",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AttemptClass::Outcome => "outcome",
            AttemptClass::TaskFailure => "task_failure",
            AttemptClass::Auth => "auth",
            AttemptClass::RateLimit => "rate_limit",
            AttemptClass::Unavailable => "unavailable",
            AttemptClass::Config => "config",
            AttemptClass::Stall => "stall",
            AttemptClass::Timeout => "timeout",
            AttemptClass::Interrupted => "interrupted",
            AttemptClass::Tamper => "tamper",
        }
    }
}

impl std::fmt::Display for AttemptClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An environment fault an adapter recognised in its CLI's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Fault {
    pub class: AttemptClass,
    /// The CLI's own words, one line.
    pub message: String,
}

/// How a stage's agent was started: exact argv and the names (not values)
/// of the variables set for it. Part of the attempt's `result.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Invocation {
    pub argv: Vec<String>,
    pub cwd: String,
    pub env_names: Vec<String>,
    pub kind: super::runner_kind::RunnerKind,
    pub runner: String,
    /// How the prompt was passed (`prompt` on stdin, `rpc`, …).
    pub stdin: String,
    pub timeout_seconds: u64,
}

#[cfg(test)]
mod usd_tests {
    #[test]
    fn dollars_keep_the_precision_that_decides() {
        for (v, s) in [
            (0.4, "$0.40"),
            (0.0, "$0.00"),
            (12.0, "$12.00"),
            (0.004, "$0.004"),
            (0.0123456, "$0.012346"),
            (1.5, "$1.50"),
        ] {
            assert_eq!(super::usd(v), s, "{v}");
        }
    }
}
