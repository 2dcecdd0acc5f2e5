//! Human-readable description of a frozen plan: printed by `plan show` and
//! written as `plan.md` next to every run's `plan.json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::defs::loop_def::{Effect, TaskSize};
use crate::defs::serde_name;

use super::plan::{FrozenPlan, LoopPlan, PlanContent, PromptPlan, Target};

pub fn plan_text(plan: &FrozenPlan) -> String {
    let c = &plan.content;
    let mut s = String::new();
    let _ = writeln!(s, "plan {}", plan.plan_id);
    let _ = writeln!(
        s,
        "mode {} — {} ({})",
        c.mode.id,
        c.mode.title.as_deref().unwrap_or(""),
        c.mode.source
    );
    let _ = writeln!(s, "content hash {}", plan.content_hash);
    let _ = writeln!(
        s,
        "inputs {} (config {})",
        plan.fingerprint.digest, &plan.fingerprint.config_hash
    );
    let o = &c.outage;
    let waits = match o.max_wait_seconds() {
        Some(total) => format!(
            "at most {} wait(s), {total}s in all, then pause",
            o.max_waits
        ),
        None => "unbounded waits".to_string(),
    };
    let _ = writeln!(
        s,
        "outages: retry after {}s doubling to {}s, {waits}; stall after {}; timeouts are {}",
        o.wait_initial_seconds,
        o.wait_max_seconds,
        if o.stall_seconds == 0 {
            "never".to_string()
        } else {
            format!("{}s without output", o.stall_seconds)
        },
        if o.timeout_is_outage {
            "outages"
        } else {
            "task failures"
        }
    );
    for lp in c.planes.values() {
        s.push('\n');
        loop_text(&mut s, lp, c);
    }
    let mut shown: Vec<&str> = c.planes.values().map(|l| l.loop_id.as_str()).collect();
    for (family, lp) in &c.research {
        let _ = writeln!(s, "\nresearch family {family}: loop {}", lp.loop_id);
        if !shown.contains(&lp.loop_id.as_str()) {
            shown.push(&lp.loop_id);
            loop_text(&mut s, lp, c);
        }
    }
    s
}

fn loop_text(s: &mut String, lp: &LoopPlan, c: &PlanContent) {
    let prompts: &BTreeMap<String, PromptPlan> = &c.prompts;
    let _ = writeln!(
        s,
        "{} loop {} — {} ({})",
        lp.plane.as_str(),
        lp.loop_id,
        lp.title.as_deref().unwrap_or(""),
        lp.source
    );
    if !lp.extends.is_empty() {
        let _ = writeln!(s, "  extends {}", lp.extends.join(" → "));
    }
    if lp.size == TaskSize::Large {
        let _ = writeln!(
            s,
            "  serves large tasks (integration_mode = large_only runs integration)"
        );
    }
    let entries: Vec<String> = lp
        .entries
        .iter()
        .map(|(k, v)| format!("{k} → {v}"))
        .collect();
    let _ = writeln!(s, "  entry: {}", entries.join(", "));
    let _ = writeln!(s, "  nodes:");
    for n in lp.nodes.values() {
        let _ = writeln!(
            s,
            "    {:<14} {:<14} runner={} model={} effort={} timeout={}s prompt={}",
            n.node_id,
            n.stage_kind,
            n.runner,
            n.model.as_deref().unwrap_or("-"),
            n.effort.map_or("-", |e| e.as_str()),
            n.timeout_seconds,
            prompts
                .get(&n.prompt)
                .map_or(n.prompt.as_str(), |p| p.source.as_str())
        );
    }
    artifacts_text(s, lp, c);
    routes_text(s, lp);
    thresholds_text(s, lp);
    terminals_text(s, lp);
    let _ = writeln!(
        s,
        "  bound: every run ends within {} stage executions",
        lp.max_stage_runs
    );
}

/// What each node writes and reads.
fn artifacts_text(s: &mut String, lp: &LoopPlan, c: &PlanContent) {
    let mut artifacts = Vec::new();
    for n in lp.nodes.values() {
        let kind = c.kind_of(n);
        for a in &kind.artifacts {
            artifacts.push(format!(
                "    {:<14} writes {:<20} {:<10} {}",
                n.node_id,
                a.name,
                serde_name(&a.format),
                a.path
            ));
        }
        for i in &kind.inputs {
            artifacts.push(format!("    {:<14} reads  {i}", n.node_id));
        }
    }
    if !artifacts.is_empty() {
        let _ = writeln!(s, "  artifacts:");
        for line in artifacts {
            let _ = writeln!(s, "{line}");
        }
    }
}

/// Each routed outcome of each node, with its counter and resume targets.
fn routes_text(s: &mut String, lp: &LoopPlan) {
    let _ = writeln!(s, "  routes:");
    for (node, table) in &lp.routes {
        for (outcome, route) in table {
            let targets: Vec<String> = route
                .candidates
                .iter()
                .map(|c| match &c.when {
                    Some(w) => format!("{} if {} = {}", target(&c.target), w.fact, w.equals),
                    None => target(&c.target),
                })
                .collect();
            let mut line = format!("    {node:<14} {outcome:<24} → {}", targets.join(" | "));
            if let Some(counter) = &route.counter {
                let _ = write!(line, "  [counts {counter}]");
            }
            if !route.resume_targets.is_empty() {
                let _ = write!(
                    line,
                    "  [may resume at {}]",
                    route.resume_targets.join(", ")
                );
            }
            let _ = writeln!(s, "{line}");
        }
    }
}

fn thresholds_text(s: &mut String, lp: &LoopPlan) {
    if !lp.thresholds.is_empty() {
        let _ = writeln!(s, "  thresholds:");
        for t in &lp.thresholds {
            let count: Vec<String> = t
                .count
                .iter()
                .map(|c| format!("{} {}", c.node, c.on))
                .collect();
            let resets = if t.resets.is_empty() {
                String::new()
            } else {
                format!("; resets {}", t.resets.join(", "))
            };
            let _ = writeln!(
                s,
                "    {:<20} counts {}; limit {} ({}); exhausted → {}{resets}",
                t.counter,
                count.join(", "),
                t.limit,
                t.limit_source,
                target(&t.exhausted)
            );
        }
    }
}

/// Terminal states with the status they write, their queue move and effects.
fn terminals_text(s: &mut String, lp: &LoopPlan) {
    let _ = writeln!(s, "  terminals:");
    for (id, t) in &lp.terminals {
        let _ = writeln!(
            s,
            "    {id:<14} {:<14} writes {:<16} queue {}",
            serde_name(&t.class),
            t.status,
            serde_name(&t.queue)
        );
        for e in &t.effects {
            let what = match e {
                Effect::AppendCards { artifact, position } => {
                    format!("append_cards {artifact} ({})", serde_name(position))
                }
                Effect::WriteDecision { artifact } => format!("write_decision {artifact}"),
                other => other.name().to_string(),
            };
            let _ = writeln!(s, "      then {what}");
        }
    }
}

pub fn target(t: &Target) -> String {
    match t {
        Target::Node(n) => n.clone(),
        Target::Terminal(n) => format!("⟂{n}"),
    }
}
