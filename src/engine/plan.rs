//! Keeping the plan current: compile the workspace, persist the plan at
//! `agents/state/compiled_plan.json`, and reuse the persisted plan while its
//! input fingerprint still matches the inputs.

use crate::compile::plan::FrozenPlan;
use crate::compile::{self, Compiled};
use crate::defs::diag::Diagnostics;
use crate::store::atomic;
use crate::store::workspace::Workspace;

use super::EngineError;

/// Compiles the workspace (packaged defaults plus overlays).
pub fn compile_workspace(ws: &Workspace, mode: Option<&str>) -> Compiled {
    let mut diags = Diagnostics::new();
    let inputs = ws.inputs(&mut diags);
    let mut compiled = compile::compile(&inputs, mode);
    if !diags.is_empty() {
        // Problems reading overlay files come first; they also fail the plan.
        let failed = diags.has_errors();
        diags.extend(compiled.diagnostics);
        compiled.diagnostics = diags.finish();
        if failed {
            compiled.plan = None;
        }
    }
    compiled
}

/// Compiles and returns the plan, or every diagnostic when it fails.
pub fn show(ws: &Workspace, mode: Option<&str>) -> Result<FrozenPlan, EngineError> {
    let compiled = compile_workspace(ws, mode);
    compiled.plan.ok_or(EngineError::Plan(compiled.diagnostics))
}

/// Writes `agents/state/compiled_plan.json` if it changed.
pub fn persist(ws: &Workspace, plan: &FrozenPlan) -> Result<bool, EngineError> {
    let path = ws.compiled_plan_path();
    atomic::write_if_changed(&path, plan.to_canonical_json().as_bytes())
        .map_err(EngineError::io(path.display().to_string()))
}

/// The plan of the configured mode. The persisted plan is reused when it
/// verifies and was compiled from exactly the current inputs (same
/// fingerprint); otherwise the workspace is compiled, and with `persist_new`
/// the new plan is written.
pub fn current(ws: &Workspace, persist_new: bool) -> Result<FrozenPlan, EngineError> {
    if let Some(plan) = reusable(ws) {
        return Ok(plan);
    }
    let plan = show(ws, None)?;
    if persist_new {
        persist(ws, &plan)?;
    }
    Ok(plan)
}

/// The persisted plan, if it is still current.
pub fn reusable(ws: &Workspace) -> Option<FrozenPlan> {
    let plan = persisted(ws)?;
    let wanted = &ws.config.plan.mode;
    if plan.content.mode.id != *wanted && !plan.content.mode.aliases.contains(wanted) {
        return None;
    }
    let mut diags = Diagnostics::new();
    let inputs = ws.inputs(&mut diags);
    (!diags.has_errors()
        && compile::fingerprint(&inputs, &plan.content.mode.id) == plan.fingerprint)
        .then_some(plan)
}

/// The persisted plan, current or not, if it exists and verifies.
pub fn persisted(ws: &Workspace) -> Option<FrozenPlan> {
    let text =
        crate::store::safe::read_text(&ws.compiled_plan_path(), crate::store::safe::RECORD_LIMIT)
            .ok()?;
    FrozenPlan::from_json(&text).ok().filter(FrozenPlan::verify)
}
