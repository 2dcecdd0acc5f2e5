//! `schema export`: writes the JSON Schemas of every authored format and of
//! the frozen plan.

use std::path::{Path, PathBuf};

use crate::compile::plan::FrozenPlan;
use crate::defs::schema::DocKind;
use crate::store::atomic;

use super::{ControlError, Result};

pub const PLAN_SCHEMA_FILE: &str = "frozen-plan.schema.json";

/// Every schema as (file name, pretty JSON text).
pub fn all() -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = DocKind::ALL
        .iter()
        .map(|k| (k.schema_file(), k.schema_text()))
        .collect();
    let plan = serde_json::to_value(schemars::schema_for!(FrozenPlan)).expect("schema serialises");
    let mut text = serde_json::to_string_pretty(&plan).expect("schema serialises");
    text.push('\n');
    out.push((PLAN_SCHEMA_FILE, text));
    out
}

/// Writes every schema into `dir`; returns the paths written.
pub fn export(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (name, text) in all() {
        let path = dir.join(name);
        atomic::write(&path, text.as_bytes()).map_err(ControlError::io(&path))?;
        written.push(path);
    }
    Ok(written)
}
