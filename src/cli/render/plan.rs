//! Plans and the registry: `plan validate`, `modes`/`loops`, `plan show` as DOT and Mermaid, `plan diff`, `plan simulate` and worst cases.

use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize;

use super::*;

impl Render for ValidateReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let r = self;
        warn_diagnostics(&r.diagnostics);
        if !r.ok {
            let _ = writeln!(
                std::io::stderr(),
                "\nerror: plan validation failed with {}",
                counts(&r.diagnostics)
            );
            return Ok(());
        }
        let mut s = format!(
            "ok: mode {} compiled to {}\n",
            r.mode.as_deref().unwrap_or("?"),
            r.plan_id.as_deref().unwrap_or("?")
        );
        if let Some(n) = r.max_stage_runs {
            let _ = writeln!(s, "every run ends within {n} stage executions");
        }
        for (family, n) in &r.research_max_stage_runs {
            let _ = writeln!(
                s,
                "every {family} research run ends within {n} stage executions"
            );
        }
        s.push_str(&worst_case_text(&r.worst_case));
        if let Some(p) = &r.plan_path {
            let verb = if r.plan_written { "wrote" } else { "unchanged" };
            let _ = writeln!(s, "{verb} {p}");
        }
        out.write_all(s.as_bytes())?;
        Ok(())
    }

    sorted_json!();
}

impl Render for Vec<ModeSummary> {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let modes = self;
        let mut s = String::new();
        for m in modes {
            let loops: Vec<String> = m.loops.iter().map(|(p, l)| format!("{p}={l}")).collect();
            let aliases = if m.aliases.is_empty() {
                String::new()
            } else {
                format!(" (aliases: {})", m.aliases.join(", "))
            };
            let _ = writeln!(
                s,
                "{:<22} {:<36} {}{aliases}",
                m.id,
                loops.join(" "),
                m.title.as_deref().unwrap_or("")
            );
        }
        out.write_all(s.as_bytes())?;
        Ok(())
    }

    sorted_json!();
}

impl Render for Vec<LoopSummary> {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let loops = self;
        let mut s = String::new();
        for l in loops {
            let ext = if l.extends.is_empty() {
                String::new()
            } else {
                format!(" extends {}", l.extends.join(" → "))
            };
            let _ = writeln!(
                s,
                "{:<22} {:<10} {:>3} nodes {:>3} edges  {}{ext}",
                l.id,
                l.plane,
                l.nodes,
                l.edges,
                l.title.as_deref().unwrap_or("")
            );
        }
        out.write_all(s.as_bytes())?;
        Ok(())
    }

    sorted_json!();
}

/// A definition: YAML for people (a ready overlay starting point), JSON for
/// scripts.
pub struct Definition<T>(pub T);

impl<T: Serialize> Render for Definition<T> {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        match serde_saphyr::to_string(&self.0) {
            Ok(text) => out.write_all(text.as_bytes()),
            Err(_) => write_json(out, &self.0),
        }
    }

    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        write_json(out, &self.0)
    }
}

/// Graphviz rendering: nodes as boxes, terminals as double octagons, counted
/// edges dashed, threshold exhaustion dotted.
pub fn plan_dot(plan: &FrozenPlan) -> String {
    let mut s = String::from("digraph millrace {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n");
    for lp in plan.content.planes.values() {
        let p = lp.plane.as_str();
        let _ = writeln!(
            s,
            "  subgraph \"cluster_{p}\" {{\n    label=\"{p}: {}\";",
            esc(&lp.loop_id)
        );
        for (key, node) in &lp.entries {
            let _ = writeln!(s, "    \"{p}.entry.{key}\" [shape=point];");
            let _ = writeln!(
                s,
                "    \"{p}.entry.{key}\" -> \"{p}.{node}\" [label=\"{}\"];",
                esc(key)
            );
        }
        for n in lp.nodes.values() {
            let _ = writeln!(
                s,
                "    \"{p}.{}\" [shape=box, label=\"{}\\n({})\"];",
                n.node_id,
                esc(&n.node_id),
                esc(&n.stage_kind)
            );
        }
        for (id, t) in &lp.terminals {
            let _ = writeln!(
                s,
                "    \"{p}.{id}\" [shape=doubleoctagon, label=\"{}\\n{}\"];",
                esc(id),
                esc(&t.status)
            );
        }
        for (from, outcomes, to, style) in edges(lp) {
            let label: Vec<String> = outcomes.iter().map(|o| esc(o)).collect();
            let _ = writeln!(
                s,
                "    \"{p}.{from}\" -> \"{p}.{to}\" [label=\"{}\"{style}];",
                label.join("\\n")
            );
        }
        s.push_str("  }\n");
    }
    s.push_str("}\n");
    s
}

/// Mermaid flowchart rendering of the same graph.
pub fn plan_mermaid(plan: &FrozenPlan) -> String {
    let mut s = String::from("flowchart LR\n");
    for lp in plan.content.planes.values() {
        let p = lp.plane.as_str();
        let _ = writeln!(s, "  subgraph {p}[\"{p}: {}\"]", lp.loop_id);
        for (key, node) in &lp.entries {
            let _ = writeln!(s, "    {p}_entry_{key}(( )) -->|{key}| {p}_{node}");
        }
        for n in lp.nodes.values() {
            let _ = writeln!(
                s,
                "    {p}_{}[\"{}<br/>({})\"]",
                n.node_id, n.node_id, n.stage_kind
            );
        }
        for (id, t) in &lp.terminals {
            let _ = writeln!(s, "    {p}_{id}{{{{\"{id}<br/>{}\"}}}}", t.status);
        }
        for (from, outcomes, to, style) in edges(lp) {
            let arrow = if style.is_empty() { "-->" } else { "-.->" };
            let _ = writeln!(
                s,
                "    {p}_{from} {arrow}|\"{}\"| {p}_{to}",
                outcomes.join("<br/>").replace('"', "'")
            );
        }
        s.push_str("  end\n");
    }
    s
}

/// Edges grouped by (from, to, style) with their outcome labels joined.
fn edges(lp: &LoopPlan) -> Vec<(String, Vec<String>, String, &'static str)> {
    let mut grouped: std::collections::BTreeMap<(String, String, &'static str), Vec<String>> =
        Default::default();
    let exhausted: std::collections::BTreeMap<&str, &Target> = lp
        .thresholds
        .iter()
        .map(|t| (t.counter.as_str(), &t.exhausted))
        .collect();
    for (node, table) in &lp.routes {
        for (outcome, route) in table {
            let style = if route.counter.is_some() {
                ", style=dashed"
            } else {
                ""
            };
            for c in &route.candidates {
                let label = match &c.when {
                    Some(w) => format!("{outcome} [{}={}]", w.fact, w.equals),
                    None => outcome.clone(),
                };
                grouped
                    .entry((node.clone(), c.target.id().to_string(), style))
                    .or_default()
                    .push(label);
            }
            if let Some(counter) = &route.counter {
                let t = exhausted[counter.as_str()];
                grouped
                    .entry((
                        node.clone(),
                        t.id().to_string(),
                        ", style=dotted, color=red",
                    ))
                    .or_default()
                    .push(format!("{outcome} ({counter} exhausted)"));
            }
        }
    }
    grouped
        .into_iter()
        .map(|((from, to, style), labels)| (from, labels, to, style))
        .collect()
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
impl Render for crate::control::runs::PlanDiff {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let d = self;
        let mut s = format!("{} ({})\n{} ({})\n", d.a, d.a_plan_id, d.b, d.b_plan_id);
        if d.identical {
            s.push_str("identical plans\n");
        }
        let show = |v: &Option<serde_json::Value>| {
            v.as_ref().map_or_else(
                || "(absent)".to_string(),
                |v| {
                    let t = v.to_string();
                    if t.len() > 80 {
                        format!(
                            "{}…",
                            &t[..t.char_indices().nth(80).map_or(t.len(), |(i, _)| i)]
                        )
                    } else {
                        t
                    }
                },
            )
        };
        for c in &d.changes {
            let _ = writeln!(s, "  {}: {} → {}", c.path, show(&c.a), show(&c.b));
        }
        if !d.changed_inputs.is_empty() {
            let _ = writeln!(s, "changed inputs: {}", d.changed_inputs.join(", "));
        }
        out.write_all(s.as_bytes())?;
        Ok(())
    }

    sorted_json!();
}
/// One line per loop: the worst case of one run.
pub fn worst_case_text(cases: &[crate::compile::cost::WorstCase]) -> String {
    let mut s = String::new();
    for w in cases {
        let hours = w.wall_seconds as f64 / 3600.0;
        let usd = match w.usd {
            Some(u) if !w.unenforced_nodes.is_empty() => format!(
                "${u:.2} (≤ ${:.2} per stage, declared: not enforced by the runners of {})",
                w.max_stage_usd.unwrap_or(0.0),
                w.unenforced_nodes.join(", ")
            ),
            Some(u) => format!(
                "${u:.2} (≤ ${:.2} per stage)",
                w.max_stage_usd.unwrap_or(0.0)
            ),
            None => format!(
                "unbounded USD (no [runners.<id>] max_usd_per_stage for {})",
                w.uncapped_nodes.join(", ")
            ),
        };
        let _ = writeln!(
            s,
            "worst case of a `{}` run: {} stages × ≤ {} s = {:.1} h; {usd}",
            w.loop_id, w.stage_runs, w.max_stage_seconds, hours
        );
    }
    s
}

impl Render for crate::control::simulate::Simulation {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut s = format!("simulated loop {} of {}\n", self.loop_id, self.plan_id);
        for (i, st) in self.steps.iter().enumerate() {
            let counters: Vec<String> = self
                .steps
                .get(i)
                .map(|st| {
                    st.counters
                        .iter()
                        .filter(|(_, v)| **v > 0)
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect()
                })
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "{:>3}. {:<14} {:<24} → {:<16} {}{}",
                i + 1,
                st.node,
                st.outcome,
                st.next,
                if st.source == "default" {
                    "(default) "
                } else {
                    ""
                },
                if counters.is_empty() {
                    String::new()
                } else {
                    format!("[{}]", counters.join(" "))
                }
            );
        }
        match (&self.terminal, &self.budget_pause) {
            (_, Some(p)) => {
                let _ = writeln!(s, "paused: {p}");
            }
            (Some(t), None) => {
                let _ = writeln!(
                    s,
                    "terminal {t} ({}) after {} stage(s); the proved bound is {}",
                    self.terminal_status.as_deref().unwrap_or(""),
                    self.stages_run,
                    self.max_stage_runs
                );
            }
            (None, None) => {
                let _ = writeln!(
                    s,
                    "stopped at the proved bound of {} stages",
                    self.max_stage_runs
                );
            }
        }
        if let Some(last) = self.steps.last() {
            let usd = last.worst_usd.map_or_else(
                || "unbounded USD (no stage ceilings)".into(),
                |u| format!("at most ${u:.2}"),
            );
            let _ = writeln!(
                s,
                "spend by then: {usd}, at most {:.1} h",
                last.worst_seconds as f64 / 3600.0
            );
        }
        if !self.unused.is_empty() {
            let _ = writeln!(
                s,
                "unused outcomes (the routing never asked): {}",
                self.unused.join(", ")
            );
        }
        out.write_all(s.as_bytes())
    }

    sorted_json!();
}
