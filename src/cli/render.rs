//! Rendering of operator data: human text on stdout, diagnostics and errors
//! on stderr, JSON (sorted keys, two-space indent) from the same values.

use std::fmt::Write as _;
use std::io::Write;

use serde::Serialize;

use crate::compile::plan::{FrozenPlan, LoopPlan, Target};
use crate::control::init::InitReport;
use crate::control::plan::{LoopSummary, ModeSummary, ValidateReport};
use crate::control::ControlError;
use crate::spec::diag::Diagnostics;

/// JSON as v0.2.0 prints it: sorted keys, two-space indent.
pub fn json<T: Serialize>(value: &T) -> String {
    let value = serde_json::to_value(value).expect("serialisable");
    let mut s = serde_json::to_string_pretty(&value).expect("serialisable");
    s.push('\n');
    s
}

pub fn error(err: &ControlError, as_json: bool) {
    let stderr = &mut std::io::stderr().lock();
    if as_json {
        let value = match err {
            ControlError::Diagnostics(d) => {
                serde_json::json!({ "error": err.to_string(), "diagnostics": d })
            }
            ControlError::Invalid(d) => {
                serde_json::json!({ "error": d.message, "diagnostics": [d] })
            }
            _ => serde_json::json!({ "error": err.to_string() }),
        };
        let _ = stderr.write_all(json(&value).as_bytes());
        return;
    }
    match err {
        ControlError::Diagnostics(d) => {
            let _ = write!(stderr, "{d}");
            let _ = writeln!(stderr, "\nerror: compilation failed with {}", counts(d));
        }
        ControlError::Invalid(d) => {
            let _ = writeln!(stderr, "{d}");
        }
        ControlError::NotFound { message, hint } => {
            let _ = writeln!(stderr, "error: {message}");
            if let Some(h) = hint {
                let _ = writeln!(stderr, "\nhint: {h}");
            }
        }
        other => {
            let _ = writeln!(stderr, "error: {other}");
        }
    }
}

fn counts(d: &Diagnostics) -> String {
    let (e, w) = (d.error_count(), d.warning_count());
    let plural = |n: usize, s: &str| {
        if n == 1 {
            format!("{n} {s}")
        } else {
            format!("{n} {s}s")
        }
    };
    if w == 0 {
        plural(e, "error")
    } else {
        format!("{}, {}", plural(e, "error"), plural(w, "warning"))
    }
}

/// Prints warnings (and errors) of a read command without failing it.
pub fn warn_diagnostics(d: &Diagnostics) {
    if !d.is_empty() {
        let _ = write!(std::io::stderr().lock(), "{d}");
    }
}

pub fn init(out: &mut impl Write, r: &InitReport, as_json: bool) {
    // v0.2.0's OperationResult shape (spec §1.4).
    let payload = serde_json::to_value(r).expect("serialisable");
    if as_json {
        let value = serde_json::json!({
            "mode": "direct",
            "applied": true,
            "message": "workspace initialized",
            "command_id": null,
            "payload": payload,
        });
        let _ = out.write_all(json(&value).as_bytes());
        return;
    }
    let mut s = String::from("Mode: direct\nApplied: yes\nMessage: workspace initialized\n");
    if let Some(map) = payload.as_object() {
        for (k, v) in map {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            let _ = writeln!(s, "{k}: {v}");
        }
    }
    let _ = out.write_all(s.as_bytes());
}

pub fn validate(out: &mut impl Write, r: &ValidateReport, as_json: bool) {
    if as_json {
        let _ = out.write_all(json(r).as_bytes());
        return;
    }
    warn_diagnostics(&r.diagnostics);
    if !r.ok {
        let _ = writeln!(
            std::io::stderr(),
            "\nerror: plan validation failed with {}",
            counts(&r.diagnostics)
        );
        return;
    }
    let mut s = format!(
        "ok: mode {} compiled to {}\n",
        r.mode.as_deref().unwrap_or("?"),
        r.plan_id.as_deref().unwrap_or("?")
    );
    if let Some(n) = r.max_stage_runs {
        let _ = writeln!(s, "every run ends within {n} stage executions");
    }
    if let Some(p) = &r.plan_path {
        let verb = if r.plan_written { "wrote" } else { "unchanged" };
        let _ = writeln!(s, "{verb} {p}");
    }
    let _ = out.write_all(s.as_bytes());
}

pub fn modes(out: &mut impl Write, modes: &[ModeSummary], as_json: bool) {
    if as_json {
        let _ = out.write_all(json(&modes).as_bytes());
        return;
    }
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
    let _ = out.write_all(s.as_bytes());
}

pub fn loops(out: &mut impl Write, loops: &[LoopSummary], as_json: bool) {
    if as_json {
        let _ = out.write_all(json(&loops).as_bytes());
        return;
    }
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
    let _ = out.write_all(s.as_bytes());
}

/// Definitions print as YAML for people (a ready overlay starting point) and
/// JSON for scripts.
pub fn yaml_or_json<T: Serialize>(out: &mut impl Write, value: &T, as_json: bool) {
    let text = if as_json {
        json(value)
    } else {
        serde_saphyr::to_string(value).unwrap_or_else(|_| json(value))
    };
    let _ = out.write_all(text.as_bytes());
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
