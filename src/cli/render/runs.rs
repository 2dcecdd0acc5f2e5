//! Runs and the engine: `start`, `status`, `run-provenance`, `logs` (and `--follow`, `--monitor` lines), the daemon's report and `config show`.

use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize;

use super::*;

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
        let paused = match &rt.state.pause_reason {
            Some(why) if rt.state.paused => format!("yes ({why})"),
            _ if rt.state.paused => "yes".to_string(),
            _ => "no".to_string(),
        };
        let mut s = format!(
            "Process: {process}\nPaused: {paused}\nExecution status: {}\nResearch status: {} (mode {}{}{})\n",
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
        daemon_lines(&mut s, r.daemon.as_ref());
        let _ = writeln!(
            s,
            "Active task: {}",
            rt.active_task_id.as_deref().unwrap_or("none")
        );
        let _ = writeln!(s, "Backlog depth: {}", rt.backlog_depth);
        frozen_lines(&mut s, &rt.frozen_batches);
        active_run_lines(&mut s, r);
        if let Some(a) = &rt.active_run {
            let _ = writeln!(
                s,
                "Active run: {} (started {}; the next `start` finishes it)",
                a.run_id, a.started_at
            );
        }
        if let Some(u) = &r.unfinished_v020_run {
            let _ = writeln!(
                s,
                "Unfinished v0.2.0 run: {} (task {}{}): the next `start` closes it as `{}` and restarts the task at its loop's entry",
                u.run_id,
                u.task_id,
                u.last_node.as_deref().map(|n| format!(", stopped in {n}")).unwrap_or_default(),
                crate::store::v020::ABANDONED
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
            if let Some(g) = &run.git {
                git_lines(&mut s, g);
            }
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

/// The daemon's state in `status`.
fn daemon_lines(s: &mut String, daemon: Option<&crate::engine::state::RuntimeState>) {
    if let Some(d) = daemon {
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
}

/// What holds the active run: a wait on the environment, the worst case
/// left, a budget pause.
fn active_run_lines(s: &mut String, r: &crate::control::status::StatusReport) {
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
            .map_or_else(|| "unbounded USD".to_string(), crate::defs::records::usd);
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
            match (f.verified, f.source.as_str()) {
                (true, "v0.2.0") => ", a v0.2.0 run",
                (true, _) => "",
                (false, _) => ", EDITED",
            }
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
            if let Some(g) = &m.git {
                git_lines(&mut s, g);
            }
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
                let _ = write!(line, " → {o}");
                if let Some(source) = t.outcome_source {
                    let _ = write!(line, " ({source})");
                }
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
    let _ = writeln!(out, "{}", crate::defs::text::terminal_safe(&line));
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
        let line = format!(
            "{} {} source={} payload={}",
            e.timestamp, e.kind, e.source, e.payload
        );
        writeln!(out, "{}", crate::defs::text::terminal_safe(&line))?;
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
        let body = toml::to_string(&c.loaded).unwrap_or_default();
        writeln!(
            out,
            "# {}\n# config_hash {}\n\n{body}",
            c.config_path, c.config_hash
        )?;
        Ok(())
    }

    sorted_json!();
}

/// A run's commits, one line each.
fn git_lines(s: &mut String, g: &crate::store::runs::RunGit) {
    for line in g.lines() {
        let _ = writeln!(s, "{line}");
    }
}

/// `run-provenance --json`: keys in sorted order, transitions streamed.
struct ProvenanceJson<'a>(&'a crate::control::runs::Provenance);

impl Serialize for ProvenanceJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use crate::cli::output::Sorted;
        use serde::ser::SerializeMap;
        let p = self.0;
        let c = &p.compat;
        let mut map = s.serialize_map(Some(18))?;
        map.serialize_entry("compile_snapshot", &Sorted(&c.compile_snapshot))?;
        map.serialize_entry("current_preview", &Sorted(&c.current_preview))?;
        map.serialize_entry("current_preview_error", &c.current_preview_error)?;
        map.serialize_entry(
            "current_preview_explanation",
            &Sorted(&c.current_preview_explanation),
        )?;
        map.serialize_entry("frozen_plan", &Sorted(&p.frozen_plan))?;
        map.serialize_entry("integration_policy", &Sorted(&c.integration_policy))?;
        map.serialize_entry("latest_policy_evidence", &Sorted(&c.latest_policy_evidence))?;
        map.serialize_entry("policy_hooks", &Sorted(&c.policy_hooks))?;
        map.serialize_entry("routing_modes", &c.routing_modes)?;
        map.serialize_entry("run", &Sorted(&p.run))?;
        map.serialize_entry("run_dir", &p.run_dir)?;
        map.serialize_entry("run_id", &p.run_id)?;
        match &c.runtime_history {
            Some(h) => map.serialize_entry("runtime_history", &SortedSeq(h))?,
            None => map.serialize_entry("runtime_history", &None::<()>)?,
        }
        map.serialize_entry("selection", &Sorted(&c.selection))?;
        map.serialize_entry("selection_explanation", &Sorted(&c.selection_explanation))?;
        map.serialize_entry("snapshot_path", &c.snapshot_path)?;
        map.serialize_entry("transition_history_path", &p.transition_history_path)?;
        map.serialize_entry("transitions", &SortedSeq(&p.transitions))?;
        map.end()
    }
}
