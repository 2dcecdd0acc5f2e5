//! Compiling, validating and inspecting plans, modes and loops.

use serde::Serialize;

use crate::compile::plan::FrozenPlan;
use crate::compile::registry::Registry;
use crate::compile::sources::Inputs;
use crate::defs::config::Config;
use crate::defs::diag::{did_you_mean, Diagnostics};
use crate::defs::loop_def::LoopDef;
use crate::engine;

use super::{ControlError, Result, Workspace};

/// Outcome of `plan validate`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ValidateReport {
    pub ok: bool,
    pub mode: Option<String>,
    pub plan_id: Option<String>,
    pub content_hash: Option<String>,
    pub fingerprint: Option<String>,
    /// Where the plan was persisted (relative to the workspace), if it was.
    pub plan_path: Option<String>,
    pub plan_written: bool,
    /// The proved bound of the execution loop (the largest over the
    /// mode's plane loops).
    pub max_stage_runs: Option<u64>,
    /// The proved bound of each planned research family's loop.
    pub research_max_stage_runs:
        std::collections::BTreeMap<crate::defs::research::ResearchFamily, u64>,
    /// What one run of each loop can spend at most (proved stage bound ×
    /// per-stage timeout and USD ceiling).
    pub worst_case: Vec<crate::compile::cost::WorstCase>,
    pub error_count: usize,
    pub warning_count: usize,
    pub diagnostics: Diagnostics,
}

/// Compiles the workspace and persists the plan at
/// `agents/state/compiled_plan.json` when it compiles.
pub fn validate(ws: &Workspace, mode: Option<&str>) -> Result<ValidateReport> {
    let compiled = engine::plan::compile_workspace(ws, mode);
    let mut report = ValidateReport {
        ok: compiled.plan.is_some(),
        mode: None,
        plan_id: None,
        content_hash: None,
        fingerprint: None,
        plan_path: None,
        plan_written: false,
        max_stage_runs: None,
        research_max_stage_runs: Default::default(),
        worst_case: Vec::new(),
        error_count: compiled.diagnostics.error_count(),
        warning_count: compiled.diagnostics.warning_count(),
        diagnostics: compiled.diagnostics,
    };
    if let Some(plan) = compiled.plan {
        report.plan_written = engine::plan::persist(ws, &plan)?;
        report.plan_path = Some(ws.relative(&ws.compiled_plan_path()));
        report.mode = Some(plan.content.mode.id.clone());
        report.plan_id = Some(plan.plan_id.clone());
        report.content_hash = Some(plan.content_hash.clone());
        report.fingerprint = Some(plan.fingerprint.digest.clone());
        report.max_stage_runs = plan.content.planes.values().map(|p| p.max_stage_runs).max();
        report.worst_case = worst_cases(ws, &plan);
        report.research_max_stage_runs = plan
            .content
            .research
            .iter()
            .map(|(f, lp)| (*f, lp.max_stage_runs))
            .collect();
    }
    Ok(report)
}

/// Compiles and returns the plan, or every diagnostic when it fails.
pub fn show(ws: &Workspace, mode: Option<&str>) -> Result<FrozenPlan> {
    Ok(engine::plan::show(ws, mode)?)
}

/// The registry of a workspace, or of the packaged defaults when there is
/// no workspace; problems in it are returned alongside.
pub fn registry(ws: Option<&Workspace>) -> (Registry, Diagnostics) {
    let mut diags = Diagnostics::new();
    let inputs = match ws {
        Some(ws) => ws.inputs(&mut diags),
        None => Inputs::packaged(Config::default()),
    };
    let reg = Registry::load(&inputs, &mut diags);
    (reg, diags.finish())
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ModeSummary {
    pub id: String,
    pub aliases: Vec<String>,
    pub title: Option<String>,
    pub loops: std::collections::BTreeMap<String, String>,
    pub source: String,
}

pub fn modes(reg: &Registry) -> Vec<ModeSummary> {
    reg.modes
        .values()
        .map(|m| ModeSummary {
            id: m.def.id.clone(),
            aliases: m.def.aliases.clone(),
            title: m.def.title.clone(),
            loops: m
                .def
                .loops
                .iter()
                .map(|(p, l)| (p.as_str().to_string(), l.clone()))
                .collect(),
            source: reg.file(m.origin.file).display.clone(),
        })
        .collect()
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LoopSummary {
    pub id: String,
    pub plane: String,
    pub title: Option<String>,
    pub extends: Vec<String>,
    pub nodes: usize,
    pub edges: usize,
    pub terminals: Vec<String>,
    pub source: String,
}

pub fn loops(reg: &Registry) -> Vec<LoopSummary> {
    reg.loops
        .values()
        .map(|l| LoopSummary {
            id: l.id.clone(),
            plane: l.plane.as_str().to_string(),
            title: l.title.clone(),
            extends: l.extends.clone(),
            nodes: l.nodes.len(),
            edges: l.edges.len(),
            terminals: l.terminals.keys().cloned().collect(),
            source: reg.file(l.origin.file).display.clone(),
        })
        .collect()
}

/// A mode as resolved from the registry.
pub fn mode(reg: &Registry, name: &str) -> Result<crate::defs::mode::ModeDef> {
    reg.mode(name)
        .map(|m| m.def.clone())
        .ok_or_else(|| not_found("mode", name, reg.modes.keys().map(String::as_str)))
}

/// A loop after shadowing and `extends`, in the authoring format.
pub fn loop_def(reg: &Registry, id: &str) -> Result<LoopDef> {
    let l = reg
        .loops
        .get(id)
        .ok_or_else(|| not_found("loop", id, reg.loops.keys().map(String::as_str)))?;
    Ok(LoopDef {
        id: l.id.clone(),
        plane: l.plane,
        title: l.title.clone(),
        size: (l.size == crate::defs::loop_def::TaskSize::Large).then_some(l.size),
        extends: None,
        entry: l
            .entry
            .iter()
            .map(|(k, v)| (k.clone(), v.def.clone()))
            .collect(),
        nodes: l
            .nodes
            .iter()
            .map(|(k, v)| (k.clone(), v.def.clone()))
            .collect(),
        edges: l.edges.iter().map(|e| e.def.clone()).collect(),
        terminals: l
            .terminals
            .iter()
            .map(|(k, v)| (k.clone(), v.def.clone()))
            .collect(),
        thresholds: l.thresholds.iter().map(|t| t.def.clone()).collect(),
        resume: l.resume.iter().map(|r| r.def.clone()).collect(),
        remove_nodes: Vec::new(),
        remove_edges: Vec::new(),
    })
}

fn not_found<'a>(
    what: &str,
    name: &str,
    known: impl Iterator<Item = &'a str> + Clone,
) -> ControlError {
    let hint = match did_you_mean(name, known.clone()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("known {what}s: {}", known.collect::<Vec<_>>().join(", ")),
    };
    ControlError::NotFound {
        message: format!("unknown {what} `{name}`"),
        hint: Some(hint),
    }
}

/// The worst case of one run of each loop of `plan` under `ws`'s config:
/// the plane loops, then each planned research family's.
pub fn worst_cases(ws: &Workspace, plan: &FrozenPlan) -> Vec<crate::compile::cost::WorstCase> {
    let c = &plan.content;
    let mut seen = Vec::new();
    c.planes
        .values()
        .chain(c.research.values())
        .filter(|lp| {
            let new = !seen.contains(&lp.loop_id);
            seen.push(lp.loop_id.clone());
            new
        })
        .map(|lp| crate::compile::cost::worst_case(lp, &ws.config, lp.max_stage_runs))
        .collect()
}
