//! `config show`, `config set`, `config reload`.

use serde::Serialize;

use crate::defs::config::Config;
use crate::engine::commands::Command;

use super::queue::Operation;
use super::{mailbox, Result, Workspace};

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ConfigView {
    pub config_path: String,
    pub workspace_root: String,
    pub config_hash: String,
    /// The config as loaded (the text output prints it).
    #[serde(skip)]
    pub loaded: Config,
    /// The config as loaded, with what v0.2.0's `config show` also gave:
    /// `sizing`, `routing`, `policies` and `boundaries` with v0.2.0's
    /// defaults under the file's values (`health` names those that take no
    /// effect), and `stages` with every stage's effective settings
    /// ([`super::config_stages`]).
    #[schemars(with = "Config")]
    pub config: serde_json::Value,
    /// Where the config came from (v0.2.0's key).
    pub source: ConfigSource,
    /// What the config selects (v0.2.0's key); none when it does not
    /// compile.
    pub selection: Option<super::selection::Selection>,
    pub selection_explanation: crate::interp::size_report::SelectionExplanation,
    /// Where each stage's prompt comes from, and the workspace's role and
    /// skill files (v0.2.0's asset resolution).
    pub assets: super::config_stages::Assets,
}

pub fn show(ws: &Workspace) -> ConfigView {
    let (active, size) =
        super::selection::active_and_size(ws, &crate::store::queue::Queue::new(&ws.agents));
    let plan = crate::engine::plan::show(ws, None).ok();
    // One read of the workspace's definitions serves both the registry and
    // the prompt lookups.
    let mut diags = crate::defs::diag::Diagnostics::new();
    let inputs = ws.inputs(&mut diags);
    let registry = crate::compile::registry::Registry::load(&inputs, &mut diags);
    let stages = super::config_stages::effective(ws, &inputs, &registry, plan.as_ref());
    let mut config = serde_json::to_value(&ws.config).expect("config serialises");
    for section in ["sizing", "routing", "policies", "boundaries"] {
        config[section] = ws.config.v020_section(section);
    }
    config["stages"] = serde_json::to_value(&stages).expect("stages serialise");
    ConfigView {
        config_path: ws.config_path.display().to_string(),
        workspace_root: ws.root.display().to_string(),
        config_hash: ws.config.hash(),
        loaded: ws.config.clone(),
        config,
        source: source(ws),
        selection: plan
            .as_ref()
            .map(|p| super::selection::of(ws, p, None, active.as_ref())),
        selection_explanation: crate::interp::size_report::explain(&size),
        assets: super::config_stages::assets(ws, &stages),
    }
}

/// Where the config came from, as v0.2.0 reports it (`config_source`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ConfigSource {
    /// Always `native_toml`: millrace reads `millrace.toml` only (v0.2.0
    /// could also map a legacy markdown config).
    pub kind: String,
    /// Always null (no legacy policy file is read).
    pub legacy_policy_compatibility: Option<String>,
    pub primary_path: String,
    /// Always empty.
    pub secondary_paths: Vec<String>,
    /// Always empty: an unknown key is an error, never dropped.
    pub unmapped_keys: Vec<String>,
}

pub fn source(ws: &Workspace) -> ConfigSource {
    ConfigSource {
        kind: "native_toml".into(),
        legacy_policy_compatibility: None,
        primary_path: ws.config_path.display().to_string(),
        secondary_paths: Vec::new(),
        unmapped_keys: Vec::new(),
    }
}

pub fn set(ws: &Workspace, key: &str, value: &str, wait: bool) -> Result<Operation> {
    let command = Command::SetConfig {
        key: key.to_string(),
        value: value.to_string(),
    };
    mailbox::dispatch(ws, command, wait)
}

pub fn reload(ws: &Workspace, wait: bool) -> Result<Operation> {
    mailbox::dispatch(ws, Command::ReloadConfig, wait)
}

/// One effective setting and where its value comes from.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ConfigEntry {
    /// Dotted key, as `config set` takes it.
    pub key: String,
    /// The value, as TOML would spell it (strings quoted).
    pub value: String,
    /// `millrace.toml:<line>` when the file sets it, else `default`.
    pub source: String,
}

/// Every leaf of the effective config, in key order, with provenance.
pub fn effective(ws: &Workspace) -> Vec<ConfigEntry> {
    use crate::defs::config::{for_each_leaf, toml_key_pos};
    let text = std::fs::read_to_string(&ws.config_path).unwrap_or_default();
    let doc = text.parse::<toml_edit::Document<String>>().ok();
    let name = ws.config_path.file_name().and_then(|n| n.to_str());
    let name = name.unwrap_or("millrace.toml");
    let value = serde_json::to_value(&ws.config).unwrap_or_default();
    let mut out = Vec::new();
    for_each_leaf("", &value, &mut |key, v| {
        let source = doc
            .as_ref()
            .and_then(|d| toml_key_pos(d, &key))
            .map_or_else(|| "default".to_string(), |p| format!("{name}:{}", p.line));
        let value = if v.is_null() {
            "(unset)".to_string()
        } else {
            v.to_string()
        };
        out.push(ConfigEntry { key, value, source });
    });
    out
}
