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
