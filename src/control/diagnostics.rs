//! `diagnostics list|show|create`: the bundles under `agents/diagnostics/`
//! (spec §9.2), written by the runtime on escalations, exhausted
//! thresholds, environment pauses and quarantines, or on request.

use serde::Serialize;

use crate::store::diagnostics::{self, Bundle};

use super::{ControlError, Result, Workspace};

/// `diagnostics list --json`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct BundleList {
    pub bundles: Vec<Bundle>,
}

pub fn list(ws: &Workspace) -> BundleList {
    BundleList {
        bundles: diagnostics::list(&ws.agents),
    }
}

pub fn show(ws: &Workspace, id: &str) -> Result<Bundle> {
    diagnostics::read(&ws.agents, id).ok_or_else(|| ControlError::NotFound {
        message: format!("no diagnostics bundle `{id}`"),
        hint: Some("`millrace diagnostics list` shows the bundles".into()),
    })
}

/// A bundle on request: of run `run_id` (the active run by default), or of
/// the stores alone when there is no run.
pub fn create(ws: &Workspace, run_id: Option<&str>) -> Result<Bundle> {
    let run = match run_id {
        Some(id) => {
            if crate::store::runs::RunDir::open_any(&ws.agents, id).is_none() {
                return Err(ControlError::NotFound {
                    message: format!("no run `{id}`"),
                    hint: Some("`millrace status` names the active and last runs".into()),
                });
            }
            Some(id.to_string())
        }
        None => crate::store::runs::active(&ws.agents)
            .ok()
            .flatten()
            .map(|a| a.run_id)
            .or_else(|| crate::store::runs::last(&ws.agents)),
    };
    diagnostics::create(
        &ws.agents,
        run.as_deref(),
        "operator",
        "requested with `millrace diagnostics create`",
        &ws.config.hash(),
        &crate::interp::run::redaction(&ws.config),
    )
    .map_err(ControlError::io(ws.agents.join("diagnostics")))
}
