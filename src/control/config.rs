//! `config show`, `config set`, `config reload`.

use serde::Serialize;
use serde_json::json;

use crate::defs::config::Config;

use super::queue::Operation;
use super::{mailbox, Result, Workspace};

#[derive(Debug, Serialize)]
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
    mailbox::dispatch(ws, "set_config", json!({"key": key, "value": value}), wait)
}

pub fn reload(ws: &Workspace, wait: bool) -> Result<Operation> {
    mailbox::dispatch(ws, "reload_config", json!({}), wait)
}
