//! The keys of v0.2.0's `status --json` that ours adds beside its own, so
//! that scripts written for v0.2.0 keep working: where the status and the
//! config come from, the integration preview for the active task, and
//! (with `--detail`) the research report.

use serde::Serialize;

use crate::compile::plan::{FrozenPlan, Target};
use crate::defs::stage_kind::Plane;
use crate::interp::size_report::SizeReport;
use crate::store::cards::Card;
use crate::store::queue::Queue;

use super::{Result, Workspace};

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Compat {
    /// `live` (a daemon's state) or `snapshot` (the last state written).
    pub source_kind: String,
    /// As v0.2.0: always `native_toml`.
    pub config_source_kind: String,
    pub config_source: super::config::ConfigSource,
    /// Whether the active task would run integration, and why.
    pub integration_policy: Option<IntegrationPolicy>,
    /// What sizing says about the active task now (nothing is latched by
    /// reading it).
    pub size: crate::interp::size_report::SizeReport,
    /// Why the active task runs the loop it runs (SMALL or LARGE).
    pub selection_explanation: crate::interp::size_report::SelectionExplanation,
    /// What the plan selected: mode, loop, each stage's binding.
    pub selection: Option<super::selection::Selection>,
    /// Always null: millrace ships no asset bundle to resolve.
    pub assets: Option<serde_json::Value>,
    /// With `--detail`: the `research --json` report.
    pub research: Option<Box<super::research::ResearchReport>>,
}

/// v0.2.0's `integration_policy` preview.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct IntegrationPolicy {
    /// `[execution] integration_mode`.
    pub effective_mode: String,
    /// Where a successful builder goes.
    pub builder_success_target: String,
    pub should_run_integration: bool,
    /// The card's `Gates:` names INTEGRATION.
    pub task_gate_required: bool,
    /// The card's `Integration:` value.
    pub task_integration_preference: Option<String>,
    pub requested_sequence: Vec<String>,
    pub effective_sequence: Vec<String>,
    /// The execution loop's nodes.
    pub available_execution_nodes: Vec<String>,
    pub reason: String,
}

pub fn compat(
    ws: &Workspace,
    queue: &Queue,
    plan: Option<&FrozenPlan>,
    live: bool,
    detail: bool,
) -> Result<Compat> {
    let (active, size) = super::selection::active_and_size(ws, queue);
    Ok(Compat {
        selection: plan.map(|p| super::selection::of(ws, p, None, active.as_ref())),
        selection_explanation: crate::interp::size_report::explain(&size),
        integration_policy: plan.and_then(|p| integration_policy(ws, active.as_ref(), &size, p)),
        size,
        source_kind: if live { "live" } else { "snapshot" }.into(),
        config_source_kind: "native_toml".into(),
        config_source: super::config::source(ws),
        assets: None,
        research: if detail {
            Some(Box::new(super::research::report(ws)?))
        } else {
            None
        },
    })
}

/// The preview for the active task (the mode alone without one), over the
/// persisted plan; none when there is no plan yet.
pub(super) fn integration_policy(
    ws: &Workspace,
    task: Option<&Card>,
    size: &SizeReport,
    plan: &FrozenPlan,
) -> Option<IntegrationPolicy> {
    let lp = plan.content.planes.get(&Plane::Execution)?;
    let d = crate::interp::integration::decide(
        ws.config.execution.integration_mode,
        size.latched_as == "LARGE" || lp.size == crate::defs::loop_def::TaskSize::Large,
        task,
    );
    let nodes: Vec<String> = lp.nodes.keys().cloned().collect();
    let requested: Vec<String> = if d.run {
        vec!["integration".into(), "qa".into()]
    } else {
        vec!["qa".into()]
    };
    let effective: Vec<String> = requested
        .iter()
        .filter(|n| nodes.contains(n))
        .cloned()
        .collect();
    let target = effective.first().cloned().or_else(|| {
        // A custom loop: where its builder's success goes first.
        lp.routes
            .get(lp.entries.get("task")?)?
            .values()
            .find_map(|r| r.candidates.last())
            .map(|c| match &c.target {
                Target::Node(n) | Target::Terminal(n) => n.clone(),
            })
    });
    Some(IntegrationPolicy {
        effective_mode: crate::defs::serde_name(&ws.config.execution.integration_mode),
        builder_success_target: target.unwrap_or_default(),
        should_run_integration: d.run,
        task_gate_required: d.gate,
        task_integration_preference: d.preference,
        reason: format!(
            "{}; builder routes to {}",
            d.reason,
            effective
                .first()
                .map_or("its loop's success edge", String::as_str)
        ),
        requested_sequence: requested,
        effective_sequence: effective,
        available_execution_nodes: nodes,
    })
}
