//! The frozen plan: everything a run needs, resolved, with provenance, as one
//! canonical JSON document with a content hash.
//!
//! A run copies this document into its run directory and follows that copy to
//! its end, so nothing here may depend on files being present later: prompt
//! template sources are embedded, limits read from the config are resolved to
//! numbers.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::defs::config::sha256_hex;
use crate::defs::config::OutageConfig;
use crate::defs::loop_def::{Condition, CountDef, Effect, QueueEffect, TaskSize, TerminalClass};
use crate::defs::research::ResearchFamily;
use crate::defs::stage_kind::{ArtifactDecl, Effort, OutcomeClass, OutcomeDecl, Plane};

use super::sources::Layer;

pub const PLAN_SCHEMA_VERSION: u32 = 1;
pub const PLAN_KIND: &str = "millrace.frozen_plan";
/// Bumped when the compiler's output changes meaning for the same inputs.
pub const COMPILER_VERSION: &str = "millrace-compile-1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FrozenPlan {
    pub schema_version: u32,
    pub kind: String,
    /// `plan-<mode>-<first 12 hex of content_hash>`.
    pub plan_id: String,
    /// SHA-256 of `content` as compact JSON with sorted keys.
    pub content_hash: String,
    pub fingerprint: Fingerprint,
    pub content: PlanContent,
}

/// What the plan was compiled from. Two plans with equal fingerprints were
/// compiled from identical inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fingerprint {
    /// Compiler version and a hash of its sources.
    pub compiler: String,
    pub mode_id: String,
    pub config_hash: String,
    pub inputs: Vec<InputHash>,
    /// SHA-256 over mode id, config hash and every input hash.
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputHash {
    pub layer: Layer,
    pub path: String,
    pub sha256: String,
}

impl Fingerprint {
    pub fn new(mode_id: &str, config_hash: &str, mut inputs: Vec<InputHash>) -> Fingerprint {
        inputs.sort_by(|a, b| (a.layer, &a.path).cmp(&(b.layer, &b.path)));
        let compiler = format!("{COMPILER_VERSION}+{}", super::sources::COMPILER_BUILD);
        let mut text = format!("{compiler}\n{mode_id}\n{config_hash}\n");
        for i in &inputs {
            text.push_str(&format!("{} {} {}\n", i.layer.as_str(), i.path, i.sha256));
        }
        Fingerprint {
            compiler,
            mode_id: mode_id.to_string(),
            config_hash: config_hash.to_string(),
            digest: sha256_hex(text.as_bytes()),
            inputs,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanContent {
    pub compiler_version: String,
    pub mode: ModeInfo,
    /// One loop per plane the mode uses.
    pub planes: BTreeMap<Plane, LoopPlan>,
    /// The loop serving each research family.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub research: BTreeMap<ResearchFamily, LoopPlan>,
    /// With `[sizing]`: the execution loop for LARGE work (the `large`
    /// mode's), when the mode's own execution loop serves small work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large: Option<LoopPlan>,
    /// Stage kinds used by the nodes, keyed by [`NodePlan::stage_kind`].
    pub stage_kinds: BTreeMap<String, StageKindPlan>,
    /// Prompt templates used by the nodes, keyed by [`NodePlan::prompt`].
    pub prompts: BTreeMap<String, PromptPlan>,
    /// How runs wait out environment faults: `[outage]`, frozen.
    pub outage: OutageConfig,
}

impl PlanContent {
    /// The stage kind of a node (always present in a compiled plan).
    pub fn kind_of(&self, node: &NodePlan) -> &StageKindPlan {
        &self.stage_kinds[&node.stage_kind]
    }

    /// The loop with id `loop_id` on `plane` (a run records both).
    pub fn loop_plan(&self, plane: Plane, loop_id: &str) -> Option<&LoopPlan> {
        self.planes
            .get(&plane)
            .filter(|l| l.loop_id == loop_id)
            .or_else(|| self.research.values().find(|l| l.loop_id == loop_id))
            .or_else(|| self.large.as_ref().filter(|l| l.loop_id == loop_id))
            .filter(|l| l.plane == plane)
    }
}

/// What the interpreter needs of a stage kind: its markers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageKindPlan {
    pub id: String,
    pub plane: Plane,
    pub title: Option<String>,
    pub running_marker: String,
    pub outcomes: Vec<OutcomeDecl>,
    pub failure_outcome: String,
    pub source: String,
    /// Files the stage must produce (see [`ArtifactDecl`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactDecl>,
    /// Artifacts of earlier stages the stage reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
}

impl StageKindPlan {
    /// The artifacts that must exist and validate when the stage ends with
    /// `marker`.
    pub fn artifacts_on<'a>(&'a self, marker: &'a str) -> impl Iterator<Item = &'a ArtifactDecl> {
        self.artifacts.iter().filter(move |a| {
            if a.required_on.is_empty() {
                self.outcome_class(marker) == Some(OutcomeClass::Success)
            } else {
                a.required_on.iter().any(|m| m == marker)
            }
        })
    }

    pub fn outcome_class(&self, marker: &str) -> Option<OutcomeClass> {
        self.outcomes
            .iter()
            .find(|o| o.marker == marker)
            .map(|o| o.class)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModeInfo {
    pub id: String,
    pub aliases: Vec<String>,
    pub title: Option<String>,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoopPlan {
    pub loop_id: String,
    pub plane: Plane,
    pub title: Option<String>,
    /// The task size this loop serves (decides `large_only` integration).
    pub size: TaskSize,
    pub source: String,
    /// Loops this one extends, nearest first.
    pub extends: Vec<String>,
    /// Entry node per intake kind.
    pub entries: BTreeMap<String, String>,
    pub nodes: BTreeMap<String, NodePlan>,
    pub terminals: BTreeMap<String, TerminalPlan>,
    /// Routing table: node → outcome marker → route.
    pub routes: BTreeMap<String, BTreeMap<String, OutcomeRoute>>,
    pub thresholds: Vec<ThresholdPlan>,
    /// Upper bound on stage executions in one run of this loop, proved at
    /// compile time from the threshold policies.
    pub max_stage_runs: u64,
}

impl LoopPlan {
    /// The entry a run normally starts at: `task` for an execution loop,
    /// else the first entry other than `empty` (the taskless update of
    /// `execution.run_update_on_empty`).
    pub fn main_entry(&self) -> Option<&String> {
        self.entries.get("task").or_else(|| {
            self.entries
                .iter()
                .find(|(k, _)| k.as_str() != "empty")
                .map(|(_, v)| v)
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodePlan {
    pub node_id: String,
    /// Key into [`PlanContent::stage_kinds`].
    pub stage_kind: String,
    pub runner: String,
    pub model: Option<String>,
    pub effort: Option<Effort>,
    pub timeout_seconds: u64,
    /// Prompt template path; the template is in [`PlanContent::prompts`].
    pub prompt: String,
    /// For each resolved parameter, where its value was set.
    pub provenance: BTreeMap<String, Provenance>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptPlan {
    /// Path relative to the prompt roots.
    pub path: String,
    /// `packaged:assets/prompts/qa.md` or `agents/prompts/qa.md`.
    pub source: String,
    pub sha256: String,
    pub template: String,
}

/// Which layer set a value, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// `stage_kind`, `mode_defaults`, `loop_node`, `mode_stage` or `config`.
    pub layer: String,
    pub file: String,
    /// JSON pointer (YAML) or dotted key (TOML) of the value.
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TerminalPlan {
    pub class: TerminalClass,
    pub status: String,
    pub queue: QueueEffect,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effects: Vec<Effect>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Node(String),
    Terminal(String),
}

impl Target {
    pub fn id(&self) -> &str {
        match self {
            Target::Node(id) | Target::Terminal(id) => id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRoute {
    pub class: OutcomeClass,
    /// Candidate edges in evaluation order; the first whose condition holds
    /// wins. The last candidate is always unconditional.
    pub candidates: Vec<RouteCandidate>,
    /// Threshold counter this outcome increments, if any.
    pub counter: Option<String>,
    /// Nodes the stage may ask to resume at instead (resume policy).
    pub resume_targets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteCandidate {
    pub edge_id: String,
    pub priority: u32,
    pub when: Option<Condition>,
    pub target: Target,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdPlan {
    pub counter: String,
    pub count: Vec<CountDef>,
    pub limit: u32,
    /// `fixed` or `config:<key>`.
    pub limit_source: String,
    pub exhausted: Target,
    pub resets: Vec<String>,
}

impl FrozenPlan {
    /// Assembles a plan, computing its content hash and id.
    pub fn new(content: PlanContent, fingerprint: Fingerprint) -> FrozenPlan {
        let content_hash = content_hash(&content);
        FrozenPlan {
            schema_version: PLAN_SCHEMA_VERSION,
            kind: PLAN_KIND.to_string(),
            plan_id: format!("plan-{}-{}", content.mode.id, &content_hash[..12]),
            content_hash,
            fingerprint,
            content,
        }
    }

    /// Canonical JSON: sorted keys, two-space indent, trailing newline.
    pub fn to_canonical_json(&self) -> String {
        let value = serde_json::to_value(self).expect("plan serialises");
        let mut text = serde_json::to_string_pretty(&value).expect("plan serialises");
        text.push('\n');
        text
    }

    pub fn from_json(text: &str) -> Result<FrozenPlan, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Recomputes the content hash; false means the file was edited.
    pub fn verify(&self) -> bool {
        content_hash(&self.content) == self.content_hash
    }
}

fn content_hash(content: &PlanContent) -> String {
    // `serde_json::Value` keeps object keys sorted, which makes this
    // canonical; the compact text is streamed into the hasher, not built.
    let value = serde_json::to_value(content).expect("plan serialises");
    let mut hasher = HashWriter(sha2::Sha256::default());
    serde_json::to_writer(&mut hasher, &value).expect("hashing cannot fail");
    crate::defs::config::to_hex(&sha2::Digest::finalize(hasher.0))
}

/// Feeds written bytes into a SHA-256.
struct HashWriter(sha2::Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(&mut self.0, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
