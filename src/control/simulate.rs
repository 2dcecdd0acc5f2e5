//! `plan simulate`: walks a compiled loop with the interpreter's own
//! routing code and scripted outcomes instead of agents — the path, the
//! counters, what the run could spend by then and where `[budget]` would
//! pause it, and the terminal — so an overlay's routing is tested before a
//! token is spent.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use serde_json::Value;

use crate::compile::plan::{FrozenPlan, LoopPlan, Target};
use crate::defs::research::ResearchFamily;
use crate::defs::stage_kind::{OutcomeClass, Plane};
use crate::interp::route;

use super::{ControlError, Result, Workspace};

/// `plan simulate --json`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Simulation {
    pub plan_id: String,
    pub loop_id: String,
    pub steps: Vec<Step>,
    /// The terminal reached, or `None` when the simulation stopped first
    /// (a budget pause, or the proved bound).
    pub terminal: Option<String>,
    pub terminal_status: Option<String>,
    pub stages_run: u64,
    /// The loop's proved bound on stage executions.
    pub max_stage_runs: u64,
    /// Where `[budget.run]` / `[budget.task]` would pause the run, taking
    /// every stage at its ceiling (`max_usd_per_stage`, timeout).
    pub budget_pause: Option<String>,
    /// Scripted outcomes that were never used (a sign the script and the
    /// routing disagree).
    pub unused: Vec<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Step {
    pub node: String,
    pub stage_kind: String,
    pub outcome: String,
    /// `script`, or `default` (the stage kind's first success outcome).
    pub source: String,
    pub edge: String,
    pub next: String,
    pub counters: BTreeMap<String, u32>,
    /// Worst-case spend so far: every stage at its ceiling.
    pub worst_usd: Option<f64>,
    pub worst_seconds: u64,
}

/// Parses `node=MARKER[*N],…` (also one per line, `#` comments) into a
/// queue of outcomes per node.
pub fn parse_outcomes(spec: &str) -> Result<BTreeMap<String, VecDeque<String>>> {
    let mut out: BTreeMap<String, VecDeque<String>> = BTreeMap::new();
    for item in spec
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        let bad = || {
            ControlError::Usage(format!(
                "`{item}`: outcomes are `node=MARKER` or `node=MARKER*N` (e.g. `qa=QUICKFIX_NEEDED*2`)"
            ))
        };
        let (node, rest) = item.split_once('=').ok_or_else(bad)?;
        let (marker, times) = match rest.split_once('*') {
            Some((m, n)) => (m.trim(), n.trim().parse::<u32>().map_err(|_| bad())?),
            None => (rest.trim(), 1),
        };
        if node.trim().is_empty()
            || !crate::defs::marker::is_marker(marker)
            || !(1..=1000).contains(&times)
        {
            return Err(bad());
        }
        let q = out.entry(node.trim().to_string()).or_default();
        q.extend(std::iter::repeat_n(marker.to_string(), times as usize));
    }
    Ok(out)
}

/// The loop `which` names: a loop id, a research family, or (`None`) the
/// execution loop.
fn pick<'p>(plan: &'p FrozenPlan, which: Option<&str>) -> Result<&'p LoopPlan> {
    let c = &plan.content;
    let found = match which {
        None => c.planes.get(&Plane::Execution),
        Some(w) => c
            .planes
            .values()
            .chain(c.research.values())
            .find(|l| l.loop_id == w)
            .or_else(|| ResearchFamily::parse(w).and_then(|f| c.research.get(&f))),
    };
    found.ok_or_else(|| {
        let mut names: Vec<String> = c.planes.values().map(|l| l.loop_id.clone()).collect();
        names.extend(c.research.values().map(|l| l.loop_id.clone()));
        ControlError::Usage(format!(
            "plan `{}` has no loop `{}`; it has: {}",
            plan.plan_id,
            which.unwrap_or("execution"),
            names.join(", ")
        ))
    })
}

/// Walks loop `which` of `plan` with `script`'s outcomes (the stage kind's
/// first success outcome once a node's are used up), or along the longest
/// path when `worst` is set.
pub fn simulate(
    ws: &Workspace,
    plan: &FrozenPlan,
    which: Option<&str>,
    mut script: BTreeMap<String, VecDeque<String>>,
    facts: BTreeMap<String, Value>,
    worst: bool,
) -> Result<Simulation> {
    let lp = pick(plan, which)?;
    if let Some(node) = script.keys().find(|n| !lp.nodes.contains_key(*n)) {
        return Err(ControlError::Usage(format!(
            "loop `{}` has no node `{node}`; its nodes: {}",
            lp.loop_id,
            lp.nodes.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let longest = worst.then(|| longest_path(lp, &facts));
    let mut longest = longest.map(VecDeque::from);
    let entry = lp
        .main_entry()
        .cloned()
        .ok_or_else(|| ControlError::Usage(format!("loop `{}` has no entry", lp.loop_id)))?;
    let ceiling = crate::compile::cost::worst_case(lp, &ws.config, 1);
    let budget = &ws.config.budget;
    let caps: Vec<(&str, f64)> = [
        ("budget.run.usd", budget.run.as_ref()),
        ("budget.task.usd", budget.task.as_ref()),
    ]
    .into_iter()
    .filter_map(|(k, c)| c.and_then(|c| c.usd).map(|u| (k, u)))
    .collect();
    let mut counters = BTreeMap::new();
    let mut steps = Vec::new();
    let mut next = Target::Node(entry);
    let mut budget_pause = None;
    let mut seconds = 0u64;
    while let Target::Node(node) = next.clone() {
        if steps.len() as u64 >= lp.max_stage_runs {
            break;
        }
        let n = &lp.nodes[&node];
        let kind = plan.content.kind_of(n);
        // Before the stage: would a cap pause the run here?
        budget_pause = pause_before(&ceiling, &caps, steps.len(), &node);
        if budget_pause.is_some() {
            break;
        }
        let (outcome, source) = match longest.as_mut().and_then(|p| p.pop_front()) {
            Some(o) => (o, "worst_case"),
            None => match script.get_mut(&node).and_then(|q| q.pop_front()) {
                Some(o) => (o, "script"),
                None => (first_success(kind), "default"),
            },
        };
        check_outcome(kind, &node, &outcome)?;
        let d = route::route(lp, &node, &outcome, &mut counters, &facts, None)
            .map_err(|e| ControlError::Usage(e.to_string()))?;
        seconds += n.timeout_seconds;
        let ran = steps.len() as f64 + 1.0;
        steps.push(Step {
            node: node.clone(),
            stage_kind: kind.id.clone(),
            outcome,
            source: source.to_string(),
            edge: d.edge_id,
            next: crate::compile::describe::target(&d.target),
            counters: counters.clone(),
            worst_usd: ceiling
                .max_stage_usd
                .filter(|_| ceiling.uncapped_nodes.is_empty())
                .map(|c| c * ran),
            worst_seconds: seconds,
        });
        next = d.target;
    }
    let terminal = match &next {
        Target::Terminal(t) if budget_pause.is_none() => Some(t.clone()),
        _ => None,
    };
    Ok(Simulation {
        plan_id: plan.plan_id.clone(),
        loop_id: lp.loop_id.clone(),
        terminal_status: terminal.as_ref().map(|t| lp.terminals[t].status.clone()),
        terminal,
        stages_run: steps.len() as u64,
        max_stage_runs: lp.max_stage_runs,
        steps,
        budget_pause,
        unused: script
            .into_iter()
            .flat_map(|(n, q)| q.into_iter().map(move |o| format!("{n}={o}")))
            .collect(),
    })
}

/// Where a USD cap would pause the run: before a stage whose ceiling could
/// take the spend past it (only when every node has a ceiling).
fn pause_before(
    ceiling: &crate::compile::cost::WorstCase,
    caps: &[(&str, f64)],
    ran: usize,
    node: &str,
) -> Option<String> {
    use crate::defs::records::usd;
    let c = ceiling
        .max_stage_usd
        .filter(|_| ceiling.uncapped_nodes.is_empty())?;
    let so_far = ran as f64;
    let (key, cap) = caps
        .iter()
        .find(|(_, cap)| (so_far + 1.0) * c > cap + 1e-9)?;
    Some(format!(
        "{key} {} would pause the run before `{node}`: {} spent at most, the next stage may add {}",
        usd(*cap),
        usd(so_far * c),
        usd(c),
    ))
}

/// The stage kind's first success outcome (else its failure outcome).
fn first_success(kind: &crate::compile::plan::StageKindPlan) -> String {
    kind.outcomes
        .iter()
        .find(|o| o.class == OutcomeClass::Success)
        .map(|o| o.marker.clone())
        .unwrap_or_else(|| kind.failure_outcome.clone())
}

/// A scripted outcome must be one the node's stage kind can end with.
fn check_outcome(
    kind: &crate::compile::plan::StageKindPlan,
    node: &str,
    outcome: &str,
) -> Result<()> {
    if kind.outcome_class(outcome).is_some() {
        return Ok(());
    }
    Err(ControlError::Usage(format!(
        "`{outcome}` is not an outcome of `{node}` (stage kind `{}`); it may end with {}",
        kind.id,
        kind.outcomes
            .iter()
            .map(|o| o.marker.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// The outcomes of a longest run of `lp`: a depth-first search over
/// (node, counters) states, bounded by the proved `max_stage_runs`.
fn longest_path(lp: &LoopPlan, facts: &BTreeMap<String, Value>) -> Vec<String> {
    fn walk(
        lp: &LoopPlan,
        facts: &BTreeMap<String, Value>,
        node: &str,
        counters: &BTreeMap<String, u32>,
        depth: u64,
        memo: &mut BTreeMap<(String, BTreeMap<String, u32>), Vec<String>>,
    ) -> Vec<String> {
        if depth >= lp.max_stage_runs {
            return Vec::new();
        }
        let key = (node.to_string(), counters.clone());
        if let Some(p) = memo.get(&key) {
            return p.clone();
        }
        let mut best: Vec<String> = Vec::new();
        for outcome in lp
            .routes
            .get(node)
            .map(|r| r.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let mut c = counters.clone();
            let Ok(d) = route::route(lp, node, &outcome, &mut c, facts, None) else {
                continue;
            };
            let mut path = vec![outcome];
            if let Target::Node(next) = &d.target {
                path.extend(walk(lp, facts, next, &c, depth + 1, memo));
            }
            if path.len() > best.len() {
                best = path;
            }
        }
        memo.insert(key, best.clone());
        best
    }
    let Some(entry) = lp.main_entry() else {
        return Vec::new();
    };
    walk(lp, facts, entry, &BTreeMap::new(), 0, &mut BTreeMap::new())
}

#[cfg(test)]
mod tests {
    use super::parse_outcomes;

    #[test]
    fn outcome_scripts_parse_with_repeats_lines_and_comments() {
        let q = parse_outcomes(
            "builder=BUILDER_COMPLETE,qa=QUICKFIX_NEEDED*2\nqa=QA_COMPLETE # then done\n",
        )
        .unwrap();
        assert_eq!(
            q["qa"],
            ["QUICKFIX_NEEDED", "QUICKFIX_NEEDED", "QA_COMPLETE"]
        );
        assert_eq!(q["builder"], ["BUILDER_COMPLETE"]);
        for bad in [
            "qa",
            "qa=done",
            "qa=QA_COMPLETE*0",
            "=QA_COMPLETE",
            "qa=QA_COMPLETE*x",
        ] {
            assert!(parse_outcomes(bad).is_err(), "{bad}");
        }
    }
}
