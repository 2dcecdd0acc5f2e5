//! Rendering of operator data: human text on stdout, diagnostics and errors
//! on stderr, JSON (sorted keys, two-space indent) from the same values.

use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize;

use super::output::{write_json, write_json_ordered, Render, SortedSeq};

/// The usual `Render::json`: the value's own serialisation, keys sorted.
macro_rules! sorted_json {
    () => {
        fn json(&self, out: &mut dyn Write) -> io::Result<()> {
            write_json(out, self)
        }
    };
}

use crate::defs::serde_name;

use crate::compile::plan::{FrozenPlan, LoopPlan, Target};
use crate::control::init::InitReport;
use crate::control::plan::{LoopSummary, ModeSummary, ValidateReport};
use crate::control::ControlError;
use crate::defs::diag::Diagnostics;
use crate::store::runs::TransitionEvent;

/// Prints a failed command's error on stderr: one clear line and a hint,
/// or the located diagnostics; the cause chain goes to the debug log
/// (`RUST_LOG=millrace=debug`).
pub fn error(err: &ControlError, as_json: bool) {
    let mut cause = std::error::Error::source(err);
    while let Some(c) = cause {
        tracing::debug!("caused by: {c}");
        cause = c.source();
    }
    let stderr = &mut std::io::stderr().lock();
    let hint = err.hint();
    if as_json {
        let (error, diagnostics) = match err {
            ControlError::Diagnostics(d) => (err.to_string(), Some(d.iter().cloned().collect())),
            ControlError::Invalid(d) => (d.message.clone(), Some(vec![(**d).clone()])),
            _ => (err.to_string(), None),
        };
        let value = crate::control::schema::ErrorOutput {
            error,
            hint,
            diagnostics,
        };
        let _ = write_json(stderr, &value);
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
        other => {
            let _ = writeln!(stderr, "error: {other}");
            if let Some(h) = hint {
                let _ = writeln!(stderr, "\nhint: {h}");
            }
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

/// `init` answers in v0.2.0's OperationResult shape (spec §1.4).
impl Render for InitReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let payload = serde_json::to_value(self).map_err(io::Error::other)?;
        let mut s = String::from("Mode: direct\nApplied: yes\nMessage: workspace initialized\n");
        if let Some(map) = payload.as_object() {
            for (k, v) in map {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                let _ = writeln!(s, "{k}: {v}");
            }
        }
        out.write_all(s.as_bytes())
    }

    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        write_json(
            out,
            &serde_json::json!({
                "mode": "direct",
                "applied": true,
                "message": "workspace initialized",
                "command_id": null,
                "payload": self,
            }),
        )
    }
}

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

/// v0.2.0's OperationResult text: Mode / Applied / Message, then payload keys.
impl Render for crate::control::queue::Operation {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let op = self;
        let mut s = format!(
            "Mode: {}\nApplied: {}\nMessage: {}\n",
            op.mode.as_str(),
            if op.applied { "yes" } else { "no" },
            op.message
        );
        if let Some(id) = &op.command_id {
            let _ = writeln!(s, "Command id: {id}");
        }
        if let Some(map) = op.payload.as_object() {
            for (k, v) in map {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                let _ = writeln!(s, "{k}: {v}");
            }
        }
        out.write_all(s.as_bytes())?;
        Ok(())
    }

    sorted_json!();
}

/// Frozen batches and how to get them back.
fn frozen_lines(s: &mut String, batches: &[crate::store::queue::FrozenBatch]) {
    for b in batches {
        let _ = writeln!(
            s,
            "Frozen: batch {} — {} card(s) since {}; `millrace queue thaw {}` returns them to the backlog",
            b.batch_id,
            b.task_ids.len(),
            b.frozen_at.as_deref().unwrap_or("?"),
            b.batch_id
        );
    }
}

fn task_line(t: Option<&crate::store::cards::TaskView>) -> String {
    t.map_or_else(
        || "none".to_string(),
        |t| format!("{} — {}", t.task_id, t.title),
    )
}

/// `queue` (`inspect`: with every backlog card).
pub struct Queue {
    pub view: crate::store::queue::QueueView,
    pub inspect: bool,
}

impl Render for Queue {
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        // QueueView and TaskView declare their fields in sorted order, so
        // even a 100k-card backlog streams.
        write_json_ordered(out, &self.view)
    }

    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let (q, inspect) = (&self.view, self.inspect);
        let mut s = format!(
            "Active: {}\nBacklog: {}\nNext: {}\n",
            task_line(q.active_task.as_ref()),
            q.backlog_depth,
            task_line(q.next_task.as_ref())
        );
        frozen_lines(&mut s, &q.frozen_batches);
        for w in &q.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        if inspect {
            for (i, t) in q.backlog.iter().enumerate() {
                let _ = writeln!(s, "{:>4}. {} — {}", i + 1, t.task_id, t.title);
            }
        }
        out.write_all(s.as_bytes())
    }
}

impl Render for crate::control::start::StartReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let r = self;
        if let Some(run) = &r.research_run {
            let mut s = format!(
                "research run {}{}: {} `{}` → {} ({}) after {} stage(s)\n",
                run.run_id,
                if run.resumed { " (resumed)" } else { "" },
                run.item.as_ref().map_or("", |i| i.family.as_str()),
                run.task_title.as_deref().unwrap_or("(no item)"),
                run.terminal,
                run.terminal_class,
                run.stages_run
            );
            if let Some(e) = &run.effects {
                let mut done = Vec::new();
                if !e.appended.is_empty() {
                    done.push(format!("{} card(s) queued", e.appended.len()));
                }
                if let Some(b) = &e.batch_id {
                    done.push(format!(
                        "frozen batch {b} thawed ({} card(s))",
                        e.thawed.len()
                    ));
                }
                if let Some(d) = &e.decision {
                    done.push(format!("completion decision {d}"));
                }
                done.extend(e.moved.iter().map(|m| format!("moved to {m}")));
                if !done.is_empty() {
                    let _ = writeln!(s, "{}", done.join("; "));
                }
            }
            let _ = writeln!(s, "details: millrace run-provenance {}", run.run_id);
            out.write_all(s.as_bytes())?;
        }
        // An empty backlog is not news: stay quiet.
        let Some(run) = &r.run else { return Ok(()) };
        let mut s = format!(
            "run {}{}: {} → {} ({}) after {} stage(s)\n",
            run.run_id,
            if run.resumed { " (resumed)" } else { "" },
            run.task_title.as_deref().unwrap_or("(no task)"),
            run.terminal,
            run.terminal_class,
            run.stages_run
        );
        let effect = match run.queue_effect.as_str() {
            "archive" => "task archived",
            "keep_active" => "task kept active",
            "quarantine" => {
                "task and backlog frozen for research (`millrace queue thaw` returns them)"
            }
            _ => "no queue change",
        };
        let _ = writeln!(
            s,
            "{effect}; status {}; backlog {}",
            run.status, r.backlog_depth
        );
        let _ = writeln!(s, "details: millrace run-provenance {}", run.run_id);
        out.write_all(s.as_bytes())?;
        Ok(())
    }

    sorted_json!();
}

impl Render for crate::control::status::StatusReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let r = self;
        let rt = &r.runtime;
        let process = match &rt.owner {
            Some(o) if rt.process_running => format!("running (pid {}, {})", o.pid, o.purpose),
            _ if rt.process_running => "running".to_string(),
            _ => "stopped".to_string(),
        };
        let mut s = format!(
            "Process: {process}\nExecution status: {}\nResearch status: {} (mode {}{}{})\n",
            rt.execution_status,
            rt.research_status,
            crate::defs::serde_name(&rt.research_mode),
            rt.active_research_run
                .as_ref()
                .map(|a| format!("; run {}", a.run_id))
                .unwrap_or_default(),
            rt.completion_decision
                .as_ref()
                .map(|d| format!("; completion {d}"))
                .unwrap_or_default()
        );
        if let Some(d) = &r.daemon {
            let flags = if d.stop_requested { ", stopping" } else { "" };
            let state = match (&d.pause_reason, &d.retry_at) {
                (Some(why), _) if d.paused => format!("paused ({why})"),
                _ if d.paused => "paused".to_string(),
                (_, Some(at)) => {
                    format!("waiting on the environment; retry {} at {at}", d.net_waits)
                }
                _ => "running".to_string(),
            };
            let _ = writeln!(s, "Daemon: {state}{flags}");
            if let Some(p) = &d.plan_problem {
                let _ = writeln!(s, "Daemon is not starting runs: {p}");
            }
        }
        let _ = writeln!(
            s,
            "Active task: {}",
            rt.active_task_id.as_deref().unwrap_or("none")
        );
        let _ = writeln!(s, "Backlog: {}", rt.backlog_depth);
        frozen_lines(&mut s, &rt.frozen_batches);
        if let Some(w) = &r.waiting {
            let _ = writeln!(
                s,
                "Waiting on the environment: {} at `{}` since {}: {}\nhint: {}",
                w.class, w.node, w.since, w.message, w.hint
            );
        }
        if let Some(w) = &r.remaining_worst_case {
            let usd = w
                .usd
                .map_or_else(|| "unbounded USD".to_string(), |u| format!("${u:.2}"));
            let _ = writeln!(
                s,
                "Worst case left for the active run: {} stages, {:.1} h, {usd}",
                w.stage_runs,
                w.wall_seconds as f64 / 3600.0
            );
        }
        if let Some(b) = &r.budget_pause {
            let _ = writeln!(
                s,
                "Paused by a budget cap at `{}` since {}: {}",
                b.node, b.since, b.message
            );
        }
        if let Some(a) = &rt.active_run {
            let _ = writeln!(
                s,
                "Active run: {} (started {}; the next `start` finishes it)",
                a.run_id, a.started_at
            );
        }
        let p = &r.plan;
        let plan = match &p.plan_id {
        Some(id) if p.current => format!("{id} (mode {}, current)", p.mode),
        Some(id) => format!("{id} (mode {}; agents/state/compiled_plan.json is stale until the next run or `plan validate`)", p.mode),
        None => format!("mode {} does not compile: {} error(s); run `millrace plan validate`", p.mode, p.error_count),
    };
        let _ = writeln!(s, "Plan: {plan}");
        if let Some(run) = &r.last_run {
            let _ = writeln!(s, "Last run: {} → {}", run.run_id, run.state);
        }
        for w in &r.queue_warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        if r.active_task.is_some() || r.next_task.is_some() {
            let _ = writeln!(s, "Active task card: {}", task_line(r.active_task.as_ref()));
            let _ = writeln!(s, "Next task: {}", task_line(r.next_task.as_ref()));
        }
        out.write_all(s.as_bytes())?;
        Ok(())
    }

    sorted_json!();
}

impl Render for crate::control::runs::Provenance {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let p = self;
        let f = &p.frozen_plan;
        let mut s = format!(
            "run {}\nplan {} (mode {}, content hash {}{})\n",
            p.run_id,
            f.plan_id,
            f.mode_id,
            f.content_hash,
            if f.verified { "" } else { ", EDITED" }
        );
        if let Some(m) = &p.run {
            let _ = writeln!(
                s,
                "task {} — {}",
                m.task_id.as_deref().unwrap_or("-"),
                m.task_title.as_deref().unwrap_or("-")
            );
            let _ = writeln!(
                s,
                "state {} (started {}, finished {})",
                m.state,
                m.started_at,
                m.finished_at.as_deref().unwrap_or("-")
            );
        }
        let _ = writeln!(s, "history {}", p.transition_history_path);
        for t in &p.transitions {
            let node = t
                .node
                .as_deref()
                .map(|n| format!(" {n}#{}", t.attempt.unwrap_or(0)))
                .unwrap_or_default();
            let mut line = format!("  {:04} {}{node}", t.seq, t.event);
            if let Some(o) = &t.outcome {
                let _ = write!(
                    line,
                    " → {o} ({})",
                    t.outcome_source
                        .map_or_else(|| "?".to_string(), |s| s.to_string())
                );
            }
            if let Some(f) = &t.failure {
                let _ = write!(line, " [{f}]");
            }
            if let (Some(next), TransitionEvent::StageFinished | TransitionEvent::RunStarted) =
                (&t.next, t.event)
            {
                let _ = write!(line, " → next {}", crate::compile::describe::target(next));
            }
            if let (Some(b), TransitionEvent::StageStarted) = (&t.bound, t.event) {
                let _ = write!(
                    line,
                    " runner={} model={} timeout={}s",
                    b.runner,
                    b.model.as_deref().unwrap_or("-"),
                    b.timeout_seconds
                );
            }
            if let Some(ms) = t.duration_ms {
                let _ = write!(line, " {:.1}s", ms / 1000.0);
            }
            let _ = writeln!(s, "{line}");
        }
        out.write_all(s.as_bytes())?;
        Ok(())
    }

    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        write_json_ordered(out, &ProvenanceJson(self))
    }
}

impl Render for crate::control::logs::Tail {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut any = false;
        self.each(|e| {
            any = true;
            writeln!(
                out,
                "{} {} source={} payload={}",
                e.timestamp, e.kind, e.source, e.payload
            )
        })?;
        if !any {
            out.write_all(b"No events.\n")?;
        }
        Ok(())
    }

    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        write_json_ordered(out, &EventSeq(self))
    }
}

/// The tail as a JSON array, each event sorted on its own and written as
/// it is read.
struct EventSeq<'a>(&'a crate::control::logs::Tail);

impl serde::Serialize for EventSeq<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = s.serialize_seq(None)?;
        let mut failed = None;
        let read = self.0.each(|e| {
            seq.serialize_element(&crate::cli::output::Sorted(&e))
                .map_err(|err| {
                    let msg = err.to_string();
                    failed = Some(err);
                    io::Error::other(msg)
                })
        });
        if let Some(err) = failed {
            return Err(err);
        }
        read.map_err(S::Error::custom)?;
        seq.end()
    }
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

/// `health`, or `doctor` with runner versions and lock state.
pub struct Health {
    pub report: crate::control::health::HealthReport,
    pub doctor: bool,
}

impl Render for Health {
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        write_json(out, &self.report)
    }

    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let (r, doctor) = (&self.report, self.doctor);
        use crate::control::health::CheckStatus;
        let mut s = String::new();
        if doctor {
            let ready = r.bootstrap_ready && r.execution_ready;
            let _ = writeln!(
                s,
                "{}",
                if ready {
                    "PASS: ready to run"
                } else {
                    "FAIL: not ready"
                }
            );
        } else {
            let _ = writeln!(s, "status: {}", serde_name(&r.status));
        }
        for c in &r.checks {
            let label = match c.status {
                CheckStatus::Pass => "PASS",
                CheckStatus::Warn => "WARN",
                CheckStatus::Fail => "FAIL",
            };
            // A message may be a located diagnostic of several lines: its
            // first line stands by the check, the rest indented under it,
            // each detail on a line of its own.
            let mut lines = c.message.lines().filter(|l| !l.trim().is_empty());
            let _ = writeln!(
                s,
                "{label} {:<22} {}",
                c.check_id,
                lines.next().unwrap_or("")
            );
            for l in lines.chain(c.details.iter().flat_map(|d| d.lines())) {
                let _ = writeln!(s, "       {}", l.trim_start());
            }
        }
        if doctor {
            for p in &r.runner_prerequisites {
                let version = p
                    .version
                    .as_deref()
                    .map(|v| format!(" ({v})"))
                    .unwrap_or_default();
                let login = match p.logged_in {
                    Some(true) => "; logged in",
                    Some(false) => "; NOT logged in",
                    None => "",
                };
                let _ = writeln!(s, "runner {}: {}{version}{login}", p.runner, p.message);
                for w in &p.warnings {
                    let _ = writeln!(s, "       {w}");
                }
                if !p.available {
                    let _ = writeln!(
                        s,
                        "       hint: install `{}` or point [runners.{}] command at it",
                        p.executable, p.runner
                    );
                }
            }
        }
        out.write_all(s.as_bytes())?;
        Ok(())
    }
}

/// One compact line per event for `start --daemon --monitor`.
pub fn monitor_line(e: &crate::store::events::Event) {
    let p = &e.payload;
    let s = |k: &str| p[k].as_str().unwrap_or("-").to_string();
    let time = e.timestamp.get(11..19).unwrap_or(&e.timestamp);
    use crate::store::events::{EngineEvent as En, EventKind as K, PlanEvent, PlaneEvent as P};
    let line = match &e.kind {
        K::Plane(_, P::StageStarted) => {
            format!("{time} ▶ {} #{} {}", s("node_id"), s("task_id"), s("title"))
        }
        K::Plane(_, P::StageCompleted) => {
            format!("{time} ✔ {} → {}", s("node_id"), s("status"))
        }
        K::Plane(_, P::StageFailed) => {
            format!("{time} ✘ {} → {} {}", s("node_id"), s("status"), s("error"))
        }
        K::Plane(_, P::TaskArchived) => format!("{time} archived {}", s("task_id")),
        K::Plane(_, P::TaskQuarantined) => format!("{time} quarantined {}", s("task_id")),
        K::Engine(En::Heartbeat) => format!(
            "{time} idle{}{}",
            if p["paused"] == true { " (paused)" } else { "" },
            p["plan_problem"]
                .as_str()
                .map(|x| format!(" — {x}"))
                .unwrap_or_default()
        ),
        K::Engine(En::Started | En::Stopped | En::Paused | En::Resumed)
        | K::Plan(PlanEvent::Stale | PlanEvent::Recovered) => {
            format!("{time} {}", e.kind)
        }
        _ => return,
    };
    let mut out = std::io::stdout().lock();
    // The monitor is a side channel of the daemon: a closed terminal must
    // not stop the runs.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// One followed event: the text line of `logs`, or compact JSON.
pub fn follow_line(
    out: &mut dyn Write,
    e: &crate::store::events::Event,
    as_json: bool,
) -> io::Result<()> {
    if as_json {
        serde_json::to_writer(&mut *out, e).map_err(io::Error::other)?;
        out.write_all(b"\n")?;
    } else {
        writeln!(
            out,
            "{} {} source={} payload={}",
            e.timestamp, e.kind, e.source, e.payload
        )?;
    }
    out.flush()
}

impl Render for crate::engine::daemon::DaemonReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let r = self;
        writeln!(
            out,
            "daemon stopped ({}): {} run(s) finished, {} interrupted, up {}s",
            r.stop_reason, r.runs_finished, r.runs_interrupted, r.uptime_seconds
        )?;
        Ok(())
    }

    sorted_json!();
}

impl Render for crate::control::config::ConfigView {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let c = self;
        let body = toml::to_string(&c.config).unwrap_or_default();
        writeln!(
            out,
            "# {}\n# config_hash {}\n\n{body}",
            c.config_path, c.config_hash
        )?;
        Ok(())
    }

    sorted_json!();
}

/// `run-provenance --json`: keys in sorted order, transitions streamed.
struct ProvenanceJson<'a>(&'a crate::control::runs::Provenance);

impl Serialize for ProvenanceJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use super::output::Sorted;
        use serde::ser::SerializeMap;
        let p = self.0;
        let mut map = s.serialize_map(Some(6))?;
        map.serialize_entry("frozen_plan", &Sorted(&p.frozen_plan))?;
        map.serialize_entry("run", &Sorted(&p.run))?;
        map.serialize_entry("run_dir", &p.run_dir)?;
        map.serialize_entry("run_id", &p.run_id)?;
        map.serialize_entry("transition_history_path", &p.transition_history_path)?;
        map.serialize_entry("transitions", &SortedSeq(&p.transitions))?;
        map.end()
    }
}

impl Render for crate::control::research::ResearchReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let r = self;
        let enabled: Vec<&str> = r.enabled_families.iter().map(|f| f.as_str()).collect();
        let mut s = format!(
            "Research mode: {} ({})\nResearch status: {}\nEnabled families: {}\n",
            crate::defs::serde_name(&r.configured_mode),
            r.enabled_reason,
            r.status,
            if enabled.is_empty() {
                "none".to_string()
            } else {
                enabled.join(", ")
            }
        );
        if let Some(p) = &r.plan_problem {
            let _ = writeln!(s, "Plan: {p}");
        }
        for f in &r.queue_families {
            let first = f
                .first_item
                .as_ref()
                .map(|i| {
                    format!(
                        " — next: {} ({})",
                        i.title,
                        i.path
                            .as_deref()
                            .map_or("automatic".to_string(), |p| format!("agents/{p}"))
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  {:<9} {} item(s){}{}",
                f.family.as_str(),
                f.item_count,
                if f.ready && !f.enabled {
                    " [ready, not enabled]"
                } else if f.ready {
                    " [ready]"
                } else {
                    ""
                },
                first
            );
            for rej in &f.rejected {
                let _ = writeln!(s, "            refused {}: {}", rej.path, rej.reason);
            }
        }
        match &r.active_run {
            Some(a) => {
                let _ = writeln!(s, "Active research run: {}", a.run_id);
            }
            None => s.push_str("Active research run: none\n"),
        }
        if r.deferred_breadcrumb_count > 0 {
            let _ = writeln!(
                s,
                "Deferred requests: {} (agents/.deferred/)",
                r.deferred_breadcrumb_count
            );
        }
        let a = &r.audit_summary.counts;
        let _ = writeln!(
            s,
            "Audits: {} ({} pass, {} fail, {} blocked)",
            a.total, a.pass, a.fail, a.blocked
        );
        let c = &r.completion_state;
        let _ = writeln!(
            s,
            "Completion: decision {}; AUTONOMY_COMPLETE {}{}",
            c.latest_decision.as_deref().unwrap_or("none"),
            if c.marker_present {
                "present"
            } else {
                "absent"
            },
            if c.marker_present && !c.marker_honored {
                format!(" but not obeyed ({})", c.reason)
            } else {
                String::new()
            }
        );
        out.write_all(s.as_bytes())
    }

    sorted_json!();
}

impl Render for crate::control::research::ResearchHistory {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut s = String::new();
        if self.runs.is_empty() {
            s.push_str("no research runs\n");
        }
        for r in &self.runs {
            let item = r.item.as_ref().map_or(String::new(), |i| {
                format!("{} `{}`", i.family.as_str(), i.title)
            });
            let effects = r
                .effects
                .as_ref()
                .map(|e| e.summary().join(", "))
                .filter(|e| !e.is_empty());
            let _ = writeln!(
                s,
                "{}  {}  {}{}",
                r.run_id,
                r.state,
                item,
                effects.map(|e| format!("  [{e}]")).unwrap_or_default()
            );
        }
        out.write_all(s.as_bytes())
    }

    sorted_json!();
}

impl Render for crate::control::usage::UsageReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let line = |key: &str, x: &crate::store::ledger::Spend| {
            format!(
                "{key:<48} {:>10} {:>12} {:>6} {:>10}\n",
                format!("${:.4}", x.usd),
                x.tokens,
                x.invocations,
                format!("{:.1}s", x.wall_ms / 1000.0)
            )
        };
        let by = crate::defs::serde_name(&self.by);
        let mut s = format!(
            "{by:<48} {:>10} {:>12} {:>6} {:>10}\n",
            "usd", "tokens", "calls", "wall"
        );
        for r in &self.rows {
            s.push_str(&line(&r.key, &r.spend));
        }
        s.push_str(&line("total", &self.total));
        if self.total.unpriced > 0 {
            let _ = writeln!(
                s,
                "{} attempt(s) reported tokens but no cost and their model has no [prices.<model>] entry: their USD is not counted",
                self.total.unpriced
            );
        }
        out.write_all(s.as_bytes())
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

impl Render for crate::store::diagnostics::Bundle {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut s = format!("{}\n", self.path);
        let _ = writeln!(s, "  run: {}", self.run_id.as_deref().unwrap_or("-"));
        let _ = writeln!(s, "  why: {}", self.reason.as_deref().unwrap_or("-"));
        let _ = writeln!(
            s,
            "  files: {}; redacted in: {}",
            self.files,
            if self.redacted.is_empty() {
                "none".to_string()
            } else {
                self.redacted.join(", ")
            }
        );
        out.write_all(s.as_bytes())
    }

    sorted_json!();
}

impl Render for crate::control::diagnostics::BundleList {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut s = String::new();
        if self.bundles.is_empty() {
            s.push_str("no diagnostics bundles\n");
        }
        for b in &self.bundles {
            let _ = writeln!(
                s,
                "{}  {}  {}",
                b.created_at.as_deref().unwrap_or(""),
                b.id,
                b.reason.as_deref().unwrap_or("")
            );
        }
        out.write_all(s.as_bytes())
    }

    sorted_json!();
}

impl Render for crate::control::publish::SyncReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut s = format!(
            "staging repo {}{}\n",
            self.selection.staging_repo_dir,
            if self.created_staging_dir {
                " (created)"
            } else {
                ""
            }
        );
        for e in &self.entries {
            let _ = writeln!(s, "  {:<16} {} ({} file(s))", e.action, e.path, e.files);
        }
        out.write_all(s.as_bytes())
    }

    sorted_json!();
}

impl Render for crate::control::publish::Preflight {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut s = self.status.clone();
        if let Some(r) = &self.skip_reason {
            let _ = write!(s, " ({r})");
        }
        let _ = writeln!(
            s,
            "\nbranch {}; origin {}; {} changed path(s)",
            self.branch.as_deref().unwrap_or("(detached or none)"),
            if self.origin_configured {
                "configured"
            } else {
                "missing"
            },
            self.changed_paths.len()
        );
        out.write_all(s.as_bytes())
    }

    sorted_json!();
}

impl Render for crate::control::publish::CommitReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut s = format!("{}\n", self.marker);
        if let Some(sha) = &self.commit_sha {
            let _ = writeln!(s, "commit {sha}");
        }
        out.write_all(s.as_bytes())
    }

    sorted_json!();
}
