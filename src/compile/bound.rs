//! The termination proof: the loop's routes as a petgraph, every cycle
//! broken by a threshold whose counter it passes, and the bound on stage
//! executions per run (`max_stage_runs`) that the plan carries.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Bfs, EdgeRef, Reversed};
use petgraph::Direction;

use crate::defs::diag::Diagnostics;

use super::plan::{OutcomeRoute, Target, ThresholdPlan};
use super::registry::{Registry, ResolvedLoop};

type Graph = DiGraph<Target, Transition>;
type Index = BTreeMap<Target, NodeIndex>;

/// Reachability, dead ends and cycle bounds over the petgraph graph.
pub(super) fn check_structure(
    reg: &Registry,
    lp: &ResolvedLoop,
    routes: &BTreeMap<String, BTreeMap<String, OutcomeRoute>>,
    thresholds: &[ThresholdPlan],
    diags: &mut Diagnostics,
) -> Option<u64> {
    let errors_before = diags.error_count();
    let (graph, index) = build_graph(lp, routes, thresholds);
    check_reachable(reg, lp, &graph, &index, diags);
    check_finishing(reg, lp, &graph, &index, diags);
    // Cycles are allowed only through counted edges.
    let uncounted = graph.filter_map(
        |_, n| Some(n.clone()),
        |_, t| (!t.counted).then(|| t.clone()),
    );
    check_cycles(reg, lp, &uncounted, diags);
    let reset_order = reset_order(reg, lp, thresholds, diags);
    if diags.error_count() > errors_before {
        return None;
    }
    stage_bound(&uncounted, thresholds, reset_order)
}

/// The loop as a graph: a vertex per node and terminal, an edge per routed
/// outcome (counted when a threshold counts it), and from a counted outcome
/// an edge to its threshold's exhausted target.
fn build_graph(
    lp: &ResolvedLoop,
    routes: &BTreeMap<String, BTreeMap<String, OutcomeRoute>>,
    thresholds: &[ThresholdPlan],
) -> (Graph, Index) {
    let mut graph: DiGraph<Target, Transition> = DiGraph::new();
    let mut index: BTreeMap<Target, NodeIndex> = BTreeMap::new();
    for id in lp.nodes.keys() {
        let t = Target::Node(id.clone());
        index.insert(t.clone(), graph.add_node(t));
    }
    for id in lp.terminals.keys() {
        let t = Target::Terminal(id.clone());
        index.insert(t.clone(), graph.add_node(t));
    }
    let exhausted: BTreeMap<&str, &Target> = thresholds
        .iter()
        .map(|t| (t.counter.as_str(), &t.exhausted))
        .collect();
    for (node, table) in routes {
        let from = index[&Target::Node(node.clone())];
        for (outcome, route) in table {
            let counted = route.counter.is_some();
            let mut targets: Vec<Target> =
                route.candidates.iter().map(|c| c.target.clone()).collect();
            targets.extend(route.resume_targets.iter().map(|n| Target::Node(n.clone())));
            for t in targets {
                graph.add_edge(
                    from,
                    index[&t],
                    Transition {
                        outcome: outcome.clone(),
                        counted,
                    },
                );
            }
            if let Some(counter) = &route.counter {
                graph.add_edge(
                    from,
                    index[exhausted[counter.as_str()]],
                    Transition {
                        outcome: outcome.clone(),
                        counted: false,
                    },
                );
            }
        }
    }
    (graph, index)
}

/// Every node must be reachable from an entry (an error); a terminal never
/// reached is a warning.
fn check_reachable(
    reg: &Registry,
    lp: &ResolvedLoop,
    graph: &Graph,
    index: &Index,
    diags: &mut Diagnostics,
) {
    let mut reachable = BTreeSet::new();
    for e in lp.entry.values() {
        let mut bfs = Bfs::new(graph, index[&Target::Node(e.def.clone())]);
        while let Some(n) = bfs.next(graph) {
            reachable.insert(n);
        }
    }
    for (id, node) in &lp.nodes {
        if !reachable.contains(&index[&Target::Node(id.clone())]) {
            diags.push(
                reg.key_error(
                    &node.origin,
                    "graph.unreachable",
                    format!("node `{id}` is unreachable from every entry"),
                )
                .with_hint("add an edge into it, or remove it"),
            );
        }
    }
    for (id, t) in &lp.terminals {
        if !reachable.contains(&index[&Target::Terminal(id.clone())]) {
            diags.push(
                crate::defs::diag::Diagnostic::warning(
                    "graph.unused_terminal",
                    format!("terminal state `{id}` is never reached"),
                )
                .at(
                    reg.file(t.origin.file).display.clone(),
                    reg.key_pos(&t.origin),
                ),
            );
        }
    }
}

/// Every node must be able to reach a terminal state.
fn check_finishing(
    reg: &Registry,
    lp: &ResolvedLoop,
    graph: &Graph,
    index: &Index,
    diags: &mut Diagnostics,
) {
    let mut finishing = BTreeSet::new();
    let reversed = Reversed(graph);
    for id in lp.terminals.keys() {
        let mut bfs = Bfs::new(reversed, index[&Target::Terminal(id.clone())]);
        while let Some(n) = bfs.next(reversed) {
            finishing.insert(n);
        }
    }
    for (id, node) in &lp.nodes {
        if !finishing.contains(&index[&Target::Node(id.clone())]) {
            diags.push(
                reg.key_error(&node.origin, "graph.dead_end", format!("no terminal state is reachable from node `{id}`"))
                    .with_hint("route at least one of its outcomes, directly or indirectly, to a terminal state"),
            );
        }
    }
}

/// Each cycle of uncounted edges is an error located at the edge an
/// overlay added to it, if any, else at its first node.
fn check_cycles(reg: &Registry, lp: &ResolvedLoop, uncounted: &Graph, diags: &mut Diagnostics) {
    for scc in tarjan_scc(uncounted) {
        let cyclic = scc.len() > 1 || uncounted.find_edge(scc[0], scc[0]).is_some();
        if !cyclic {
            continue;
        }
        let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
        let mut names: Vec<&str> = scc.iter().map(|n| uncounted[*n].id()).collect();
        names.sort();
        let inner: Vec<String> = uncounted
            .edge_references()
            .filter(|e| members.contains(&e.source()) && members.contains(&e.target()))
            .map(|e| format!("{} {}", uncounted[e.source()].id(), e.weight().outcome))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let first = names[0];
        // An edge of the cycle that a workspace overlay added is the likely
        // cause: point there rather than at the packaged loop.
        let in_cycle = |id: &str| names.contains(&id);
        let overlay_edge = lp.edges.iter().find(|e| {
            in_cycle(&e.def.from)
                && in_cycle(&e.def.to)
                && reg.file(e.origin.file).layer == super::sources::Layer::Workspace
        });
        let origin = match overlay_edge {
            Some(e) => &e.origin,
            None => lp.nodes.get(first).map_or(&lp.origin, |n| &n.origin),
        };
        diags.push(
            reg.key_error(
                origin,
                "graph.unbounded_cycle",
                format!(
                    "cycle through {} is not bounded by a threshold policy",
                    names.join(", ")
                ),
            )
            .with_hint(format!(
                "add a threshold counting one of: {}",
                inner.join("; ")
            )),
        );
    }
}

/// The proved bound: the longest stage path of the acyclic uncounted graph,
/// times one more than the counted passes every threshold allows (a
/// counter reset by others counts again after each of their passes).
fn stage_bound(
    uncounted: &Graph,
    thresholds: &[ThresholdPlan],
    reset_order: Vec<String>,
) -> Option<u64> {
    // Longest stage path in the acyclic uncounted graph, and counted budget.
    let order = toposort(uncounted, None).ok()?;
    let mut longest: HashMap<NodeIndex, u64> = HashMap::new();
    for n in order.iter().rev() {
        let own = u64::from(matches!(uncounted[*n], Target::Node(_)));
        let best = uncounted
            .neighbors_directed(*n, Direction::Outgoing)
            .map(|m| longest.get(&m).copied().unwrap_or(0))
            .max()
            .unwrap_or(0);
        longest.insert(*n, own + best);
    }
    let path = longest.values().copied().max().unwrap_or(0);
    let mut times: BTreeMap<&str, u64> = BTreeMap::new();
    for counter in reset_order {
        let t = thresholds
            .iter()
            .find(|t| t.counter == counter)
            .expect("known counter");
        let resetters: u64 = thresholds
            .iter()
            .filter(|p| p.resets.contains(&t.counter))
            .map(|p| times.get(p.counter.as_str()).copied().unwrap_or(0))
            .sum();
        times.insert(
            &t.counter,
            u64::from(t.limit).saturating_mul(resetters.saturating_add(1)),
        );
    }
    let counted_total: u64 = times.values().fold(0u64, |a, b| a.saturating_add(*b));
    Some(counted_total.saturating_add(1).saturating_mul(path.max(1)))
}

/// Counters ordered so that a counter comes after every counter that resets
/// it; reports cyclic reset relations.
fn reset_order(
    reg: &Registry,
    lp: &ResolvedLoop,
    thresholds: &[ThresholdPlan],
    diags: &mut Diagnostics,
) -> Vec<String> {
    let mut g: DiGraph<&str, ()> = DiGraph::new();
    let idx: BTreeMap<&str, NodeIndex> = thresholds
        .iter()
        .map(|t| (t.counter.as_str(), g.add_node(t.counter.as_str())))
        .collect();
    for t in thresholds {
        for r in &t.resets {
            if let Some(to) = idx.get(r.as_str()) {
                g.add_edge(idx[t.counter.as_str()], *to, ());
            }
        }
    }
    match toposort(&g, None) {
        Ok(order) => order.into_iter().map(|n| g[n].to_string()).collect(),
        Err(cycle) => {
            let counter = g[cycle.node_id()];
            let origin = lp
                .thresholds
                .iter()
                .find(|t| t.def.counter == counter)
                .map_or(&lp.origin, |t| &t.origin);
            diags.push(
                reg.error(&origin.child("resets"), "threshold.reset_cycle", format!("counter `{counter}` is (indirectly) reset by itself"))
                    .with_hint("counters that reset each other can loop forever; make the `resets` relation acyclic"),
            );
            Vec::new()
        }
    }
}

#[derive(Debug, Clone)]
struct Transition {
    outcome: String,
    counted: bool,
}
