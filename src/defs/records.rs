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
}
