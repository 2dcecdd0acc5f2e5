//! Modes (`modes/<id>.yaml`): which loop runs on each plane, and per-stage
//! parameter overrides.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::loop_def::StageOverrides;
use super::research::ResearchFamily;
use super::stage_kind::Plane;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModeDef {
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_]*$"))]
    pub id: String,
    /// Other names accepted by `--mode`.
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Loop id per plane. `execution` is required. A `research` loop
    /// serves the research families its entries name (`idea`, `incident`,
    /// `audit`).
    pub loops: BTreeMap<Plane, String>,
    /// Loop id per research family, above `loops.research`; families named
    /// by neither run the packaged `goalspec`, `incident` and `audit` loops.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub research: BTreeMap<ResearchFamily, String>,
    /// Defaults applied to every stage of the mode (above stage-kind defaults).
    #[serde(default, skip_serializing_if = "StageOverrides::is_empty")]
    pub defaults: StageOverrides,
    /// Overrides per stage kind id (above loop node overrides).
    #[serde(default)]
    pub stages: BTreeMap<String, StageOverrides>,
}
