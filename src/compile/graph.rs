//! Graph checks on one resolved loop, and its routing table.
//!
//! Builds a petgraph graph of nodes and terminal states and rejects loops
//! that could misroute or run forever: unknown targets, outcomes without an
//! edge, unreachable nodes, dead ends, and cycles that no threshold policy
//! bounds. For a loop that passes, it also computes an upper bound on stage
//! executions per run (`max_stage_runs`), which is the proof of termination.
//!
//! Termination argument: a counted outcome takes its normal edge at most
//! `limit` times between resets, after which it takes its `exhausted` edge.
//! If the graph of uncounted edges plus exhausted edges is acyclic, a run can
//! only take finitely many counted edges, with at most one acyclic path of
//! stages between two of them; resets are allowed only along an acyclic
//! "resets" relation between counters, so their products stay finite.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::defs::config::Config;
use crate::defs::diag::{did_you_mean, Diagnostics};
use crate::defs::loop_def::{EdgeDef, Limit};
use crate::defs::stage_kind::StageKind;

use super::bound::check_structure;
use super::plan::{OutcomeRoute, RouteCandidate, Target, ThresholdPlan};
use super::registry::{Item, Origin, Registry, ResolvedLoop};

/// Run facts an edge condition may test, with the JSON type of their value.
pub const FACTS: [(&str, &str, &str); 2] = [
    (
        "integration",
        "boolean",
        "whether the integration stage runs for this task (config `execution.integration_mode` and the card's `Integration:` field)",
    ),
    (
        "complexity",
        "string",
        "the task's complexity band: the card's `Complexity:` field (`moderate`, `involved`, `complex`), else `[policies.complexity] default_band`, else `moderate`",
    ),
];

/// The routing part of a loop plan, produced when the loop passes.
#[derive(Debug)]
pub struct CheckedLoop {
    pub routes: BTreeMap<String, BTreeMap<String, OutcomeRoute>>,
    pub thresholds: Vec<ThresholdPlan>,
    pub max_stage_runs: u64,
}

/// Checks `lp` and builds its routing table. Problems go to `diags`; returns
/// `None` when the loop has errors.
pub fn check_loop(
    reg: &Registry,
    lp: &ResolvedLoop,
    config: &Config,
    diags: &mut Diagnostics,
) -> Option<CheckedLoop> {
    let errors_before = diags.error_count();
    let kinds = node_kinds(reg, lp, diags);

    for (id, t) in &lp.terminals {
        if lp.nodes.contains_key(id) {
            diags.push(
                reg.key_error(
                    &t.origin,
                    "graph.name_clash",
                    format!("`{id}` is both a node and a terminal state"),
                )
                .with_hint("edges name their target by id, so node and terminal ids must differ"),
            );
        }
    }
    if lp.entry.is_empty() {
        diags.push(
            reg.key_error(
                &lp.origin,
                "graph.no_entry",
                format!("loop `{}` has no entry node", lp.id),
            )
            .with_hint("add `entry: { task: <node> }`"),
        );
    }
    for (key, e) in &lp.entry {
        if !lp.nodes.contains_key(&e.def) {
            diags.push(unknown_target(
                reg,
                &e.origin,
                &e.def,
                lp,
                &format!("entry `{key}`"),
                false,
            ));
        }
    }

    let by_pair = check_edges(reg, lp, &kinds, diags);
    let mut routes = build_routes(reg, lp, &kinds, &by_pair, diags);
    let thresholds = check_thresholds(reg, lp, &kinds, config, diags);
    check_resume(reg, lp, &kinds, &by_pair, diags);

    if diags.error_count() > errors_before {
        return None;
    }
    for t in &thresholds {
        for c in &t.count {
            if let Some(r) = routes.get_mut(&c.node).and_then(|m| m.get_mut(&c.on)) {
                r.counter = Some(t.counter.clone());
            }
        }
    }
    for r in &lp.resume {
        if let Some(route) = routes
            .get_mut(&r.def.from)
            .and_then(|m| m.get_mut(&r.def.on))
        {
            route.resume_targets = r.def.targets.clone();
        }
    }
    let max_stage_runs = check_structure(reg, lp, &routes, &thresholds, diags)?;
    Some(CheckedLoop {
        routes,
        thresholds,
        max_stage_runs,
    })
}

fn node_kinds<'r>(
    reg: &'r Registry,
    lp: &ResolvedLoop,
    diags: &mut Diagnostics,
) -> BTreeMap<String, &'r StageKind> {
    let mut kinds = BTreeMap::new();
    for (id, node) in &lp.nodes {
        match reg.stage_kinds.get(&node.def.stage) {
            None if reg.is_broken(crate::defs::schema::DocKind::StageKind, &node.def.stage) => {}
            None => {
                let known = reg.stage_kinds.keys().map(String::as_str);
                let mut d = reg.error(
                    &node.origin.child("stage"),
                    "graph.unknown_stage_kind",
                    format!("node `{id}` uses unknown stage kind `{}`", node.def.stage),
                );
                if let Some(s) = did_you_mean(&node.def.stage, known) {
                    d = d.with_hint(format!("did you mean `{s}`?"));
                } else {
                    d = d.with_hint(
                        "see `millrace plan show` or assets/stages/ for the stage kinds",
                    );
                }
                diags.push(d);
            }
            Some(kind) if kind.def.plane != lp.plane => diags.push(reg.error(
                &node.origin.child("stage"),
                "graph.plane_mismatch",
                format!(
                    "node `{id}` uses stage kind `{}` of plane `{}` in a `{}` loop",
                    node.def.stage,
                    kind.def.plane.as_str(),
                    lp.plane.as_str()
                ),
            )),
            Some(kind) => {
                kinds.insert(id.clone(), &kind.def);
            }
        }
    }
    kinds
}

type Pairs<'l> = BTreeMap<(String, String), Vec<&'l Item<EdgeDef>>>;

fn check_edges<'l>(
    reg: &Registry,
    lp: &'l ResolvedLoop,
    kinds: &BTreeMap<String, &StageKind>,
    diags: &mut Diagnostics,
) -> Pairs<'l> {
    let mut by_pair: Pairs<'l> = BTreeMap::new();
    let mut keys: HashMap<String, &Origin> = HashMap::new();
    for edge in &lp.edges {
        let e = &edge.def;
        let key = e.key();
        if let Some(first) = keys.insert(key.clone(), &edge.origin) {
            let first_pos = reg.pos(first);
            diags.push(
                reg.error(&edge.origin, "graph.duplicate_edge", format!("edge id `{key}` is used twice"))
                    .with_hint(format!(
                        "the first is at line {}; give one an explicit `id:` (ids default to `<from>:<first outcome>`)",
                        first_pos.line
                    )),
            );
        }
        if !lp.nodes.contains_key(&e.from) {
            diags.push(unknown_target(
                reg,
                &edge.origin.child("from"),
                &e.from,
                lp,
                "edge source",
                false,
            ));
            continue;
        }
        let to_known = lp.nodes.contains_key(&e.to) || lp.terminals.contains_key(&e.to);
        if !to_known {
            diags.push(unknown_target(
                reg,
                &edge.origin.child("to"),
                &e.to,
                lp,
                "edge target",
                true,
            ));
        }
        if let Some(cond) = &e.when {
            check_condition(reg, &edge.origin.child("when"), cond, diags);
        }
        let Some(kind) = kinds.get(&e.from) else {
            continue;
        };
        for (i, marker) in e.on.iter().enumerate() {
            if kind.outcome(marker).is_none() {
                let legal: Vec<&str> = kind.outcomes.iter().map(|o| o.marker.as_str()).collect();
                diags.push(
                    reg.error(
                        &edge.origin.child("on").child(&i.to_string()),
                        "graph.illegal_outcome",
                        format!(
                            "stage kind `{}` (node `{}`) cannot emit `{marker}`",
                            kind.id, e.from
                        ),
                    )
                    .with_hint(format!(
                        "legal outcomes of `{}`: {}",
                        kind.id,
                        legal.join(", ")
                    )),
                );
            } else if to_known {
                by_pair
                    .entry((e.from.clone(), marker.clone()))
                    .or_default()
                    .push(edge);
            }
        }
    }
    by_pair
}

fn check_condition(
    reg: &Registry,
    origin: &Origin,
    cond: &crate::defs::loop_def::Condition,
    diags: &mut Diagnostics,
) {
    match FACTS.iter().find(|(name, _, _)| *name == cond.fact) {
        None => {
            let names: Vec<&str> = FACTS.iter().map(|f| f.0).collect();
            diags.push(
                reg.error(
                    &origin.child("fact"),
                    "graph.unknown_fact",
                    format!("unknown routing fact `{}`", cond.fact),
                )
                .with_hint(format!("known facts: {}", names.join(", "))),
            );
        }
        Some((name, "boolean", _)) if !cond.equals.is_boolean() => diags.push(reg.error(
            &origin.child("equals"),
            "graph.fact_type",
            format!("fact `{name}` is a boolean; `equals` must be true or false"),
        )),
        Some(_) => {}
    }
}

fn build_routes(
    reg: &Registry,
    lp: &ResolvedLoop,
    kinds: &BTreeMap<String, &StageKind>,
    by_pair: &Pairs<'_>,
    diags: &mut Diagnostics,
) -> BTreeMap<String, BTreeMap<String, OutcomeRoute>> {
    let mut routes = BTreeMap::new();
    for (node_id, kind) in kinds {
        let node = &lp.nodes[node_id];
        let mut table = BTreeMap::new();
        for outcome in &kind.outcomes {
            let pair = (node_id.clone(), outcome.marker.clone());
            let mut edges: Vec<&Item<EdgeDef>> = by_pair.get(&pair).cloned().unwrap_or_default();
            edges.sort_by_key(|e| (e.def.priority, e.def.key()));
            let Some(first_plain) = edges.iter().position(|e| e.def.when.is_none()) else {
                let msg = if edges.is_empty() {
                    format!(
                        "node `{node_id}` can end with `{}` but no edge handles it",
                        outcome.marker
                    )
                } else {
                    format!(
                        "every edge for `{node_id}` on `{}` is conditional",
                        outcome.marker
                    )
                };
                diags.push(
                    reg.key_error(&node.origin, "graph.unhandled_outcome", msg).with_hint(format!(
                        "add an unconditional edge: `{{ from: {node_id}, on: [{}], to: <node or terminal> }}`",
                        outcome.marker
                    )),
                );
                continue;
            };
            for dead in &edges[first_plain + 1..] {
                diags.push(
                    crate::defs::diag::Diagnostic::warning(
                        "graph.dead_edge",
                        format!(
                        "edge `{}` never fires on `{}`: edge `{}` comes first and has no condition",
                        dead.def.key(),
                        outcome.marker,
                        edges[first_plain].def.key()
                    ),
                    )
                    .at(
                        reg.file(dead.origin.file).display.clone(),
                        reg.pos(&dead.origin),
                    ),
                );
            }
            let candidates = edges[..=first_plain]
                .iter()
                .map(|e| RouteCandidate {
                    edge_id: e.def.key(),
                    priority: e.def.priority,
                    when: e.def.when.clone(),
                    target: target_of(lp, &e.def.to),
                })
                .collect();
            table.insert(
                outcome.marker.clone(),
                OutcomeRoute {
                    class: outcome.class,
                    candidates,
                    counter: None,
                    resume_targets: Vec::new(),
                },
            );
        }
        if !kind
            .outcomes
            .iter()
            .any(|o| o.marker == kind.failure_outcome)
        {
            let k = &reg.stage_kinds[&kind.id];
            diags.push(reg.error(
                &k.origin.child("failure_outcome"),
                "stage.failure_outcome",
                format!(
                    "failure outcome `{}` of stage kind `{}` is not one of its outcomes",
                    kind.failure_outcome, kind.id
                ),
            ));
        }
        routes.insert(node_id.clone(), table);
    }
    routes
}

fn target_of(lp: &ResolvedLoop, id: &str) -> Target {
    if lp.nodes.contains_key(id) {
        Target::Node(id.to_string())
    } else {
        Target::Terminal(id.to_string())
    }
}

fn check_thresholds(
    reg: &Registry,
    lp: &ResolvedLoop,
    kinds: &BTreeMap<String, &StageKind>,
    config: &Config,
    diags: &mut Diagnostics,
) -> Vec<ThresholdPlan> {
    let mut out = Vec::new();
    let mut counted: BTreeMap<(String, String), String> = BTreeMap::new();
    let counters: BTreeSet<&str> = lp
        .thresholds
        .iter()
        .map(|t| t.def.counter.as_str())
        .collect();
    let mut seen = BTreeSet::new();
    for t in &lp.thresholds {
        let d = &t.def;
        if !seen.insert(d.counter.as_str()) {
            diags.push(reg.error(
                &t.origin.child("counter"),
                "threshold.duplicate",
                format!("counter `{}` is declared twice", d.counter),
            ));
        }
        check_counts(reg, lp, kinds, t, &mut counted, diags);
        if !(lp.nodes.contains_key(&d.exhausted) || lp.terminals.contains_key(&d.exhausted)) {
            diags.push(unknown_target(
                reg,
                &t.origin.child("exhausted"),
                &d.exhausted,
                lp,
                "threshold target",
                true,
            ));
        }
        for (i, r) in d.resets.iter().enumerate() {
            if !counters.contains(r.as_str()) || *r == d.counter {
                diags.push(reg.error(
                    &t.origin.child("resets").child(&i.to_string()),
                    "threshold.bad_reset",
                    if *r == d.counter {
                        format!("counter `{r}` cannot reset itself")
                    } else {
                        format!("`{r}` is not a counter of loop `{}`", lp.id)
                    },
                ));
            }
        }
        let Some((limit, limit_source)) = limit_of(reg, t, config, diags) else {
            continue;
        };
        out.push(ThresholdPlan {
            counter: d.counter.clone(),
            count: d.count.clone(),
            limit,
            limit_source,
            exhausted: target_of(lp, &d.exhausted),
            resets: d.resets.clone(),
        });
    }
    out
}

/// Each `count` entry names a node that can emit its outcome, counted by
/// one threshold only.
fn check_counts(
    reg: &Registry,
    lp: &ResolvedLoop,
    kinds: &BTreeMap<String, &StageKind>,
    t: &Item<crate::defs::loop_def::ThresholdDef>,
    counted: &mut BTreeMap<(String, String), String>,
    diags: &mut Diagnostics,
) {
    let d = &t.def;
    for (i, c) in d.count.iter().enumerate() {
        let at = t.origin.child("count").child(&i.to_string());
        match kinds.get(&c.node) {
            None if !lp.nodes.contains_key(&c.node) => {
                diags.push(unknown_target(
                    reg,
                    &at.child("node"),
                    &c.node,
                    lp,
                    "threshold count",
                    false,
                ));
            }
            None => {}
            Some(kind) if kind.outcome(&c.on).is_none() => diags.push(reg.error(
                &at.child("on"),
                "graph.illegal_outcome",
                format!(
                    "stage kind `{}` (node `{}`) cannot emit `{}`",
                    kind.id, c.node, c.on
                ),
            )),
            Some(_) => {
                if let Some(other) =
                    counted.insert((c.node.clone(), c.on.clone()), d.counter.clone())
                {
                    diags.push(reg.error(
                        &at,
                        "threshold.double_count",
                        format!("`{}` on `{}` is already counted by `{other}`", c.node, c.on),
                    ));
                }
            }
        }
    }
}

/// A threshold's limit and where it comes from (`fixed`, `config:<key>`);
/// `None` when its config key holds no whole number.
fn limit_of(
    reg: &Registry,
    t: &Item<crate::defs::loop_def::ThresholdDef>,
    config: &Config,
    diags: &mut Diagnostics,
) -> Option<(u32, String)> {
    match &t.def.limit {
        Limit::Fixed(n) => Some((*n, "fixed".to_string())),
        Limit::Config { config: key } => {
            match config.integer(key).and_then(|v| u32::try_from(v).ok()) {
                Some(n) => Some((n, format!("config:{key}"))),
                None => {
                    diags.push(
                        reg.error(
                            &t.origin.child("limit").child("config"),
                            "threshold.bad_limit",
                            format!("config key `{key}` does not hold a whole number"),
                        )
                        .with_hint(
                            "use e.g. `execution.quickfix_max_attempts` or a fixed `limit: 2`",
                        ),
                    );
                    None
                }
            }
        }
    }
}

fn check_resume(
    reg: &Registry,
    lp: &ResolvedLoop,
    kinds: &BTreeMap<String, &StageKind>,
    by_pair: &Pairs<'_>,
    diags: &mut Diagnostics,
) {
    let mut seen = BTreeSet::new();
    for r in &lp.resume {
        let d = &r.def;
        if !lp.nodes.contains_key(&d.from) {
            diags.push(unknown_target(
                reg,
                &r.origin.child("from"),
                &d.from,
                lp,
                "resume policy",
                false,
            ));
            continue;
        }
        if let Some(kind) = kinds.get(&d.from) {
            if kind.outcome(&d.on).is_none() {
                diags.push(reg.error(
                    &r.origin.child("on"),
                    "graph.illegal_outcome",
                    format!(
                        "stage kind `{}` (node `{}`) cannot emit `{}`",
                        kind.id, d.from, d.on
                    ),
                ));
            } else if !by_pair.contains_key(&(d.from.clone(), d.on.clone())) {
                diags.push(reg.error(
                    &r.origin,
                    "resume.no_edge",
                    format!("resume policy for `{}` on `{}` needs an edge for that outcome (its default)", d.from, d.on),
                ));
            }
        }
        if !seen.insert((d.from.as_str(), d.on.as_str())) {
            diags.push(reg.error(
                &r.origin,
                "resume.duplicate",
                format!("`{}` on `{}` has two resume policies", d.from, d.on),
            ));
        }
        for (i, t) in d.targets.iter().enumerate() {
            if !lp.nodes.contains_key(t) {
                diags.push(unknown_target(
                    reg,
                    &r.origin.child("targets").child(&i.to_string()),
                    t,
                    lp,
                    "resume target",
                    false,
                ));
            }
        }
    }
}

fn unknown_target(
    reg: &Registry,
    origin: &Origin,
    name: &str,
    lp: &ResolvedLoop,
    what: &str,
    terminals_allowed: bool,
) -> crate::defs::diag::Diagnostic {
    let mut known: Vec<&str> = lp.nodes.keys().map(String::as_str).collect();
    if terminals_allowed {
        known.extend(lp.terminals.keys().map(String::as_str));
    }
    let noun = if terminals_allowed {
        "node or terminal state"
    } else {
        "node"
    };
    let d = reg.error(
        origin,
        "graph.unknown_target",
        format!("{what} `{name}` is not a {noun} of loop `{}`", lp.id),
    );
    match did_you_mean(name, known.iter().copied()) {
        Some(s) => d.with_hint(format!("did you mean `{s}`?")),
        None => d.with_hint(format!("known: {}", known.join(", "))),
    }
}
