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
    pub config: Config,
}

pub fn show(ws: &Workspace) -> ConfigView {
    ConfigView {
        config_path: ws.config_path.display().to_string(),
        workspace_root: ws.root.display().to_string(),
        config_hash: ws.config.hash(),
        config: ws.config.clone(),
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
    let text = std::fs::read_to_string(&ws.config_path).unwrap_or_default();
    let doc = text.parse::<toml_edit::Document<String>>().ok();
    let line_of = |key: &str| -> Option<usize> {
        let doc = doc.as_ref()?;
        let mut item = doc.as_item();
        for part in key.split('.') {
            item = item.get(part)?;
        }
        let span = item
            .span()
            .or_else(|| item.as_value().and_then(|v| v.span()))?;
        Some(text[..span.start].matches('\n').count() + 1)
    };
    let mut out = Vec::new();
    let value = serde_json::to_value(&ws.config).unwrap_or_default();
    flatten("", &value, &mut out);
    out.into_iter()
        .map(|(key, value)| ConfigEntry {
            source: line_of(&key).map_or_else(
                || "default".to_string(),
                |l| {
                    let name = ws.config_path.file_name().and_then(|n| n.to_str());
                    format!("{}:{l}", name.unwrap_or("millrace.toml"))
                },
            ),
            key,
            value,
        })
        .collect()
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, child, out);
            }
        }
        serde_json::Value::Null => out.push((prefix.to_string(), "(unset)".to_string())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}
