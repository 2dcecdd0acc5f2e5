//! Loops (`loops/<plane>/<id>.yaml`): graphs of stage nodes joined by
//! outcome-keyed edges, ending in terminal states, bounded by thresholds.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::stage_kind::{Effort, Plane};

/// A loop definition as authored. With `extends`, it is a patch applied to the
/// loop it names (see [`LoopDef::extends`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoopDef {
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_]*$"))]
    pub id: String,
    pub plane: Plane,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The task size this loop serves (default `small`). With
    /// `[execution] integration_mode = "large_only"`, integration runs for
    /// tasks on `large` loops. A loop with `extends` inherits its base's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<TaskSize>,
    /// Loop id this definition patches. Nodes, entries, terminals, thresholds
    /// and resume policies with the same key replace the base's; edges replace
    /// the base edge with the same `id` (default `<from>:<first outcome>`);
    /// `remove_nodes` / `remove_edges` delete from the base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// Entry node per intake kind (`task`, `idea`, `incident`, `audit`, …).
    #[serde(default)]
    pub entry: BTreeMap<String, String>,
    /// Nodes keyed by node id.
    #[serde(default)]
    pub nodes: BTreeMap<String, NodeDef>,
    #[serde(default)]
    pub edges: Vec<EdgeDef>,
    /// Terminal states keyed by id.
    #[serde(default)]
    pub terminals: BTreeMap<String, TerminalDef>,
    #[serde(default)]
    pub thresholds: Vec<ThresholdDef>,
    #[serde(default)]
    pub resume: Vec<ResumeDef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_nodes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_edges: Vec<String>,
}

/// The size class of the work a loop serves (v0.2.0's `size_status.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskSize {
    #[default]
    Small,
    Large,
}

/// A node: one placement of a stage kind, with optional parameter overrides.
/// (The override fields are spelled out rather than flattened from
/// [`StageOverrides`] because serde's `flatten` disables unknown-field checks.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeDef {
    /// Stage kind id.
    pub stage: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<Effort>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub timeout_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

impl NodeDef {
    pub fn overrides(&self) -> StageOverrides {
        StageOverrides {
            runner: self.runner.clone(),
            model: self.model.clone(),
            effort: self.effort,
            timeout_seconds: self.timeout_seconds,
            prompt: self.prompt.clone(),
            ..StageOverrides::default()
        }
    }
}

/// Overridable stage parameters; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<Effort>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub timeout_seconds: Option<u64>,
    /// Prompt template path relative to the prompt roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// v0.2.0's spelling of a prompt override: a file relative to the
    /// workspace, e.g. `agents/_start.md` (`prompt` wins when both are set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_file: Option<String>,
    /// v0.2.0's per-stage search switch: accepted, reported by `health`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_search: Option<bool>,
}

impl StageOverrides {
    pub fn is_empty(&self) -> bool {
        *self == StageOverrides::default()
    }
}

/// An edge: when node `from` ends with one of `on`, go to `to` (a node or a
/// terminal state), provided `when` holds. Among edges for the same node and
/// outcome, the lowest `priority` whose condition holds wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EdgeDef {
    /// Stable id used by overlays; defaults to `<from>:<first outcome>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub from: String,
    /// Outcome markers this edge handles.
    #[schemars(length(min = 1))]
    pub on: Vec<String>,
    /// Target node id or terminal state id.
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    #[serde(default = "default_priority")]
    pub priority: u32,
}

fn default_priority() -> u32 {
    100
}

impl EdgeDef {
    pub fn key(&self) -> String {
        self.id
            .clone()
            .unwrap_or_else(|| format!("{}:{}", self.from, self.on.first().map_or("", |s| s)))
    }
}

/// A routing condition over a run fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Fact name; see `docs/authoring.md` for the list (e.g. `integration`).
    pub fact: String,
    pub equals: serde_json::Value,
}

/// A terminal state a run of the loop ends in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TerminalDef {
    pub class: TerminalClass,
    /// Marker written to the plane's status file on reaching this terminal.
    #[schemars(regex(pattern = r"^[A-Z][A-Z0-9_]*$"))]
    pub status: String,
    /// What happens to the work item.
    pub queue: QueueEffect,
    /// What the engine applies, in order and as one journaled transaction,
    /// when a run reaches this terminal (research loops).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effects: Vec<Effect>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A change to the workspace the engine makes for a run that reached a
/// terminal state. Agents never edit the task stores; they write
/// artifacts, and effects move what the artifacts hold into the stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "effect", rename_all = "snake_case", deny_unknown_fields)]
pub enum Effect {
    /// Appends the cards of a `task_cards` artifact to the backlog, each
    /// stamped with the run's `Spec-ID` when it names none.
    AppendCards {
        artifact: String,
        #[serde(default)]
        position: CardPosition,
    },
    /// Returns the frozen batch of the incident being resolved to the
    /// backlog, right behind the cards this transaction put at the front,
    /// and marks the recovery latch thawed.
    ThawBatch,
    /// Records a `json` artifact holding `{decision: PASS|FAIL, reasons,
    /// …}` as `reports/completion_decision.json`, appends it to
    /// `audit_history.md`, and writes (PASS) or removes (FAIL)
    /// `AUTONOMY_COMPLETE`.
    WriteDecision { artifact: String },
    /// Moves the idea being worked on to `ideas/finished/`.
    ArchiveIdea,
    /// Moves the incident being worked on to `ideas/incidents/archived/`.
    ArchiveIncident,
}

impl Effect {
    /// The artifact the effect consumes, if any.
    pub fn artifact(&self) -> Option<&str> {
        match self {
            Effect::AppendCards { artifact, .. } | Effect::WriteDecision { artifact } => {
                Some(artifact)
            }
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Effect::AppendCards { .. } => "append_cards",
            Effect::ThawBatch => "thaw_batch",
            Effect::WriteDecision { .. } => "write_decision",
            Effect::ArchiveIdea => "archive_idea",
            Effect::ArchiveIncident => "archive_incident",
        }
    }
}

/// Where appended cards go in the backlog.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CardPosition {
    /// After every card already queued.
    #[default]
    Back,
    /// Before every card already queued (remediation runs first).
    Front,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TerminalClass {
    Success,
    Blocked,
    NeedsResearch,
    Failure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueueEffect {
    /// Move the task to `tasksarchive.md`.
    Archive,
    /// Leave the task active (blocked) in `tasks.md`.
    KeepActive,
    /// Freeze the task and the backlog for research (spec §3.4).
    Quarantine,
    /// The work item is not a task (research loops).
    None,
}

/// A bound on repeated outcomes: `counter` counts every time one of `count`
/// happens; the occurrence that takes it past `limit` routes to `exhausted`
/// instead of its normal edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdDef {
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_]*$"))]
    pub counter: String,
    #[schemars(length(min = 1))]
    pub count: Vec<CountDef>,
    pub limit: Limit,
    /// Node or terminal reached when the limit is exceeded.
    pub exhausted: String,
    /// Counters reset to zero whenever this counter's outcomes take their
    /// normal edge (e.g. a recovery round resets the quickfix budget).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resets: Vec<String>,
}

/// An occurrence that increments a threshold counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CountDef {
    pub node: String,
    pub on: String,
}

/// A threshold limit: a number, or a `millrace.toml` key holding one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Limit {
    Fixed(u32),
    Config {
        /// Dotted config key, e.g. `execution.quickfix_max_attempts`.
        config: String,
    },
}

/// Lets a stage choose where the loop resumes: when `from` ends with `on`,
/// the run continues at the node the agent names (one of `targets`); when it
/// names none, or an illegal one, the edge for `(from, on)` applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeDef {
    pub from: String,
    pub on: String,
    #[schemars(length(min = 1))]
    pub targets: Vec<String>,
}
