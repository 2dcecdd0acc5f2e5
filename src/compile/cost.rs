//! Worst case before the run: the compiler's proved bound on stage
//! executions of a loop, times what one stage may take (its timeout) and
//! cost (its runner's `max_usd_per_stage`), is the most a run of that loop
//! can spend.

use schemars::JsonSchema;
use serde::Serialize;

use crate::defs::config::{toml_pos, Config, RunnerKind};
use crate::defs::diag::{Diagnostic, Diagnostics};

use super::plan::{LoopPlan, PlanContent};
use super::sources::Inputs;

/// A USD cap counts dollars, so every agent stage it covers must have a
/// known cost: refuses the cap (located at its key) when a node's runner
/// never reports cost (Codex reports tokens only) and `[prices]` has no
/// price for the node's model. Without this, such stages would count as
/// $0 and the cap would silently not hold.
pub fn check_usd_caps(plan: &PlanContent, inputs: &Inputs, diags: &mut Diagnostics) {
    let b = &inputs.config.budget;
    let mut caps: Vec<(String, &str)> = [
        ("budget.task", &b.task),
        ("budget.run", &b.run),
        ("budget.day", &b.day),
    ]
    .into_iter()
    .filter(|(_, c)| c.as_ref().is_some_and(|c| c.usd.is_some()))
    .map(|(k, _)| (k.to_string(), "usd"))
    .collect();
    caps.extend(
        b.stage
            .iter()
            .filter(|(_, c)| c.usd.is_some())
            .map(|(k, _)| (format!("budget.stage.{k}"), "usd")),
    );
    let Some((table, field)) = caps.first() else {
        return;
    };
    let loops = plan
        .planes
        .values()
        .chain(plan.research.values())
        .chain(plan.large.as_ref());
    // (runner, model) → the nodes it runs.
    let mut unpriced: std::collections::BTreeMap<(&str, &str), Vec<&str>> = Default::default();
    for n in loops.flat_map(|l| l.nodes.values()) {
        let kind = RunnerKind::of(&n.runner, inputs.config.runners.get(&n.runner));
        let priced = n
            .model
            .as_ref()
            .is_some_and(|m| inputs.config.prices.contains_key(m));
        if kind == RunnerKind::Codex && !priced {
            let nodes = unpriced
                .entry((&n.runner, n.model.as_deref().unwrap_or("its default")))
                .or_default();
            if !nodes.contains(&n.node_id.as_str()) {
                nodes.push(&n.node_id);
            }
        }
    }
    if unpriced.is_empty() {
        return;
    }
    let unpriced: Vec<String> = unpriced
        .iter()
        .map(|((runner, model), nodes)| {
            format!(
                "runner `{runner}` with model `{model}` ({})",
                nodes.join(", ")
            )
        })
        .collect();
    diags.push(
        Diagnostic::error(
            "budget.unpriced",
            format!(
                "{table}.{field} cannot be enforced: {} reports no cost and [prices] has no price for the model",
                unpriced.join(", ")
            ),
        )
        .at(inputs.config_path.clone(), toml_pos(&inputs.config_text, table, field))
        .with_hint("add `[prices.\"<model>\"] input_per_mtok = …, output_per_mtok = …` for each model, or cap tokens instead (`budget.*.tokens`)"),
    );
}

/// The most one run of a loop can spend.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct WorstCase {
    pub loop_id: String,
    /// Stage executions of `max_stage_runs` still to come (all of them
    /// before the run starts).
    pub stage_runs: u64,
    /// The longest timeout of the loop's nodes.
    pub max_stage_seconds: u64,
    /// `stage_runs × max_stage_seconds`.
    pub wall_seconds: u64,
    /// The largest per-stage USD ceiling of the loop's nodes.
    pub max_stage_usd: Option<f64>,
    /// `stage_runs × max_stage_usd`; `None` when a node's runner has no
    /// ceiling (its cost is unbounded).
    pub usd: Option<f64>,
    /// Nodes whose runner has no `max_usd_per_stage`.
    pub uncapped_nodes: Vec<String>,
    /// Nodes whose ceiling is declared but not enforced by their runner
    /// (only Claude stops itself at `--max-budget-usd`; checks and the demo
    /// agent cost nothing): the USD worst case holds only if they keep it.
    pub unenforced_nodes: Vec<String>,
}

/// The worst case of `remaining` more stage executions of loop `lp`.
pub fn worst_case(lp: &LoopPlan, config: &Config, remaining: u64) -> WorstCase {
    let max_stage_seconds = lp
        .nodes
        .values()
        .map(|n| n.timeout_seconds)
        .max()
        .unwrap_or(0);
    let mut uncapped_nodes = Vec::new();
    let mut unenforced_nodes = Vec::new();
    let mut max_stage_usd: Option<f64> = None;
    for n in lp.nodes.values() {
        let runner = config.runners.get(&n.runner);
        let kind = RunnerKind::of(&n.runner, runner);
        // A check command and the demo agent cost nothing.
        let free = matches!(kind, RunnerKind::Command | RunnerKind::Demo);
        if !free
            && kind != RunnerKind::Claude
            && runner.is_some_and(|r| r.max_usd_per_stage.is_some())
        {
            unenforced_nodes.push(n.node_id.clone());
        }
        let ceiling = if free {
            Some(0.0)
        } else {
            runner.and_then(|r| r.max_usd_per_stage)
        };
        match ceiling {
            Some(c) => max_stage_usd = Some(max_stage_usd.map_or(c, |m: f64| m.max(c))),
            None => uncapped_nodes.push(n.node_id.clone()),
        }
    }
    WorstCase {
        loop_id: lp.loop_id.clone(),
        stage_runs: remaining,
        max_stage_seconds,
        wall_seconds: remaining.saturating_mul(max_stage_seconds),
        usd: max_stage_usd
            .filter(|_| uncapped_nodes.is_empty())
            .map(|c| c * remaining as f64),
        max_stage_usd,
        uncapped_nodes,
        unenforced_nodes,
    }
}
