//! Stage kinds (`assets/stages/*.yaml`): what one kind of agent stage may emit
//! and how it runs by default.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Whether `token` is a marker token: `[A-Z][A-Z0-9_]*`.
pub use super::marker::is_marker;

/// A plane is an independent lane of work with its own status file.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Plane {
    /// Builds tasks from the backlog; status in `agents/status.md`.
    Execution,
    /// Turns ideas, incidents and audits into tasks; status in `agents/research_status.md`.
    Research,
}

impl Plane {
    pub const ALL: [Plane; 2] = [Plane::Execution, Plane::Research];

    pub fn as_str(self) -> &'static str {
        match self {
            Plane::Execution => "execution",
            Plane::Research => "research",
        }
    }
}

/// What an outcome means for routing and reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeClass {
    /// The stage did its job; the loop moves forward.
    Success,
    /// The stage found more work to do in the same loop (e.g. QUICKFIX_NEEDED).
    Followup,
    /// The stage could not proceed.
    Blocked,
    /// The problem must leave this loop (e.g. NEEDS_RESEARCH).
    Escalation,
}

/// Reasoning effort passed to runners that support it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Effort {
    Minimal,
    Low,
    Medium,
    High,
    Xhigh,
}

impl Effort {
    pub fn as_str(self) -> &'static str {
        match self {
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
            Effort::Xhigh => "xhigh",
        }
    }
}

/// Stage parameters that a loop node, a mode or `millrace.toml` may override.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OverrideField {
    Runner,
    Model,
    Effort,
    TimeoutSeconds,
    Prompt,
}

impl OverrideField {
    pub fn as_str(self) -> &'static str {
        match self {
            OverrideField::Runner => "runner",
            OverrideField::Model => "model",
            OverrideField::Effort => "effort",
            OverrideField::TimeoutSeconds => "timeout_seconds",
            OverrideField::Prompt => "prompt",
        }
    }
}

/// One marker a stage may end with, e.g. `### QA_COMPLETE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeDecl {
    /// Marker token without the `### ` prefix, e.g. `QA_COMPLETE`.
    #[schemars(regex(pattern = r"^[A-Z][A-Z0-9_]*$"))]
    pub marker: String,
    pub class: OutcomeClass,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A kind of stage: its markers, legal outcomes and default execution
/// parameters. Loops place stage kinds as nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageKind {
    /// Identifier used by loop nodes and mode overrides, e.g. `qa`.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_]*$"))]
    pub id: String,
    pub plane: Plane,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Marker written to the plane's status file while the stage runs.
    #[schemars(regex(pattern = r"^[A-Z][A-Z0-9_]*$"))]
    pub running_marker: String,
    /// Every marker the stage may legally end with, in order of preference.
    #[schemars(length(min = 1))]
    pub outcomes: Vec<OutcomeDecl>,
    /// Outcome used when the stage fails without a legal marker (missing or
    /// illegal marker, timeout, spawn failure). Must be one of `outcomes`.
    #[serde(default = "default_failure_outcome")]
    #[schemars(regex(pattern = r"^[A-Z][A-Z0-9_]*$"))]
    pub failure_outcome: String,
    /// Prompt template, relative to the prompt roots (`agents/prompts/` in the
    /// workspace, then the packaged `assets/prompts/`).
    pub prompt: String,
    /// Default runner id (`codex`, `claude`, `pi`, `subprocess`, `demo` or a
    /// runner declared in `millrace.toml`).
    pub runner: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<Effort>,
    #[schemars(range(min = 1))]
    pub timeout_seconds: u64,
    /// Fields a loop node, a mode or the config may override.
    #[serde(default)]
    pub overridable: Vec<OverrideField>,
    /// Files the stage must produce; checked when it reports an outcome that
    /// requires them (see [`ArtifactDecl::required_on`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactDecl>,
    /// Artifacts of earlier stages this stage reads (its prompt gets their
    /// paths); the compiler proves each is produced on every path here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
}

/// A file a stage must write, and how it is checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArtifactDecl {
    /// Name other stages (`inputs`) and terminal effects refer to it by.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_]*$"))]
    pub name: String,
    /// Path relative to `agents/`, a template over `run.id`, `item.id` and
    /// `item.spec_id` (e.g. `runs/{{ run.id }}/artifacts/brief.md`,
    /// `specs/{{ item.spec_id }}.md`). It must stay inside `agents/`.
    pub path: String,
    pub format: ArtifactFormat,
    /// For `json`: the JSON Schema the document must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
    /// For `task_cards`: the fewest cards accepted (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_cards: Option<u32>,
    /// Outcome markers on which the artifact must exist and validate
    /// (default: every `success` outcome).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_on: Vec<String>,
    /// For `json`: per outcome marker, values the document must hold, keyed
    /// by JSON pointer (e.g. `AUDIT_PASS: { "/decision": "PASS" }`), so the
    /// document cannot contradict the marker.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub expect:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// How an artifact is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactFormat {
    /// Non-empty UTF-8 text.
    Markdown,
    /// Task cards (`## YYYY-MM-DD - Title` blocks): each parses, has a
    /// title, and no id repeats within the file or the task stores.
    TaskCards,
    /// A JSON document, matching `schema` when one is given.
    Json,
}

fn default_failure_outcome() -> String {
    "BLOCKED".to_string()
}

impl StageKind {
    pub fn outcome(&self, marker: &str) -> Option<&OutcomeDecl> {
        self.outcomes.iter().find(|o| o.marker == marker)
    }
}
