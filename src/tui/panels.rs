//! The body of each panel, and of the run-detail view, as lines: pure
//! functions of the [`App`]. A panel with a selection says which line is
//! selected so the view can keep it on screen.

use ratatui::style::{Modifier, Style};
use ratatui::text::Line;

use super::app::{App, Panel};
use super::detail::plain;
use super::narrate::Weight;
use crate::defs::serde_name;

/// A panel's lines, its key hint, and the selected line (if any).
pub struct Body {
    pub hint: &'static str,
    pub lines: Vec<Line<'static>>,
    pub selected: Option<usize>,
}

/// Seconds as `1h02m`, `3m05s` or `12s`.
pub fn elapsed(secs: i64) -> String {
    let s = secs.max(0);
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

fn since(app: &App, ts: &str) -> String {
    ts.parse::<jiff::Timestamp>()
        .map(|t| elapsed(app.now.duration_since(t).as_secs()))
        .unwrap_or_else(|_| "?".into())
}

pub fn body(app: &App) -> Body {
    let (hint, lines, selected) = match app.panel {
        Panel::Overview => ("", plain(overview(app)), None),
        Panel::Queue => {
            let (l, s) = queue(app);
            ("↑↓ select  K/J move  a add task  t thaw", l, s)
        }
        Panel::Runs => {
            let (l, s) = runs(app);
            ("↑↓ select  Enter details", l, s)
        }
        Panel::Research => ("i add idea", plain(research(app)), None),
        Panel::Logs => (
            "/ filter  d operator/debug  e expanded stream",
            plain(logs(app)),
            None,
        ),
        Panel::Config => {
            let (l, s) = config(app);
            ("↑↓ select  Enter edit (through `config set`)", l, s)
        }
        Panel::Publish => (
            "f preflight  S sync  C commit  P commit+push",
            plain(publish(app)),
            None,
        ),
    };
    Body {
        hint,
        lines,
        selected,
    }
}

/// Marks row `i` when it is the selected one.
fn row(text: String, selected: bool) -> Line<'static> {
    if selected {
        Line::styled(
            format!("› {text}"),
            Style::default().add_modifier(Modifier::REVERSED),
        )
    } else {
        Line::from(format!("  {text}"))
    }
}

fn overview(app: &App) -> Vec<String> {
    let s = &app.snapshot;
    let mut out = Vec::new();
    let st = match &s.status {
        Ok(st) => st,
        Err(e) => return vec![format!("status unavailable: {e}")],
    };
    let rt = &st.runtime;
    let daemon = match &st.daemon {
        Some(d) if d.paused => format!(
            "paused ({})",
            d.pause_reason.as_deref().unwrap_or("by the operator")
        ),
        Some(_) => "running".into(),
        None if rt.process_running => "a `start --once` owns the workspace".into(),
        None => "not running".into(),
    };
    out.push(format!("Daemon: {daemon}"));
    out.push(format!(
        "Execution: {}   Research: {} (mode {})",
        rt.execution_status,
        rt.research_status,
        serde_name(&rt.research_mode)
    ));
    // The cards come from the queue view: `status` is loaded without its
    // detail, so the backlog is walked once per reload.
    let q = s.queue.as_ref().ok();
    match (q.and_then(|q| q.active_task.as_ref()), &rt.active_task_id) {
        (Some(t), _) => out.push(format!("Active task: {}", t.title)),
        (None, Some(id)) => out.push(format!("Active task: {id}")),
        (None, None) => out.push("Active task: none".into()),
    }
    out.extend(active_lines(app, st));
    if let Some(r) = &rt.active_research_run {
        out.push(format!("Research run: {}", r.run_id));
    }
    out.push(format!(
        "Backlog: {}   Next: {}",
        rt.backlog_depth,
        q.and_then(|q| q.next_task.as_ref())
            .map_or("none".to_string(), |t| t.title.clone())
    ));
    out.extend(state_lines(st));
    out
}

/// Where the active run is: its stage, the worst case left, a wait on the
/// environment, a budget pause.
fn active_lines(app: &App, st: &crate::control::status::StatusReport) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(a) = &st.active_stage {
        let stage = match (&a.node, a.attempt) {
            (Some(n), Some(at)) => format!("`{n}` attempt {at}"),
            _ => "between stages".into(),
        };
        let in_stage = a
            .stage_started_at
            .as_deref()
            .map(|t| format!(", {} in the stage", since(app, t)))
            .unwrap_or_default();
        out.push(format!(
            "  Stage: {stage} — run {} old{in_stage}, {} stage(s) done",
            since(app, &a.run_started_at),
            a.stages_finished
        ));
    }
    if let Some(w) = &st.remaining_worst_case {
        let usd = w
            .usd
            .map_or_else(|| "unbounded USD".to_string(), crate::defs::records::usd);
        out.push(format!(
            "  Worst case left: {} stage(s), {usd}, {}",
            w.stage_runs,
            elapsed(w.wall_seconds as i64)
        ));
    }
    if let Some(w) = &st.waiting {
        out.push(format!(
            "  Waiting on the environment: {} at `{}` since {}",
            w.class,
            w.node,
            since(app, &w.since)
        ));
        out.push(format!("    {}", w.hint));
    }
    if let Some(b) = &st.budget_pause {
        out.push(format!("  Budget pause at `{}`: {}", b.node, b.message));
    }
    out
}

/// Frozen batches, the plan, the completion decision and the last run.
fn state_lines(st: &crate::control::status::StatusReport) -> Vec<String> {
    let rt = &st.runtime;
    let mut out = Vec::new();
    if rt.frozen_batches.is_empty() {
        out.push("Frozen batches: none".into());
    } else {
        for b in &rt.frozen_batches {
            out.push(format!(
                "Frozen batch {}: {} card(s){}",
                b.batch_id,
                b.task_ids.len(),
                b.incident_path
                    .as_deref()
                    .map(|p| format!(" — {p}"))
                    .unwrap_or_default()
            ));
        }
    }
    let plan = match &st.plan.plan_id {
        Some(id) if st.plan.current => format!("{} ({}, current)", id, st.plan.mode),
        Some(id) => format!("{} ({}, not yet persisted)", id, st.plan.mode),
        None => format!("does not compile: {} error(s)", st.plan.error_count),
    };
    out.push(format!("Plan: {plan}"));
    if let Some(d) = &rt.completion_decision {
        out.push(format!("Completion decision: {d}"));
    }
    if let Some(l) = st.last_run.as_ref().filter(|l| l.finished_at.is_some()) {
        out.push(format!(
            "Last run: {} — {} (loop {})",
            l.state,
            l.task_title.as_deref().unwrap_or("no task"),
            l.loop_id
        ));
    }
    out
}

fn queue(app: &App) -> (Vec<Line<'static>>, Option<usize>) {
    let q = match &app.snapshot.queue {
        Ok(q) => q,
        Err(e) => return (plain(vec![format!("queue unavailable: {e}")]), None),
    };
    let mut out = vec![Line::from(format!(
        "Active: {}",
        q.active_task
            .as_ref()
            .map_or("none".into(), |t| format!("{} — {}", t.task_id, t.title))
    ))];
    out.push(Line::from(format!("Backlog ({}):", q.backlog_depth)));
    let first = out.len();
    let sel = app.selected[Panel::Queue as usize];
    for (i, t) in q.backlog.iter().enumerate() {
        out.push(row(
            format!("{:>3}. {} — {}", i + 1, t.task_id, t.title),
            i == sel,
        ));
    }
    if q.backlog.len() < q.backlog_depth {
        out.push(Line::from(format!(
            "  … and {} more (`millrace queue inspect`)",
            q.backlog_depth - q.backlog.len()
        )));
    }
    for b in &q.frozen_batches {
        out.push(Line::from(format!(
            "Frozen {}: {} card(s) (t thaws)",
            b.batch_id,
            b.task_ids.len()
        )));
    }
    for w in &q.warnings {
        out.push(Line::from(format!("warning: {w}")));
    }
    let selected = (!q.backlog.is_empty()).then_some(first + sel);
    (out, selected)
}

fn runs(app: &App) -> (Vec<Line<'static>>, Option<usize>) {
    let runs = &app.snapshot.runs;
    if runs.is_empty() {
        return (plain(vec!["no runs yet".into()]), None);
    }
    let sel = app.selected[Panel::Runs as usize];
    let lines = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let took = r
                .duration_seconds
                .map_or_else(|| "running".to_string(), |d| format!("{d:.1}s"));
            let what = r.meta.task_title.as_deref().unwrap_or(&r.meta.loop_id);
            row(
                format!(
                    "{} {:<12} {:>8} ${:<6.2} {:>7}tok {}",
                    r.meta
                        .started_at
                        .get(5..16)
                        .unwrap_or(&r.meta.started_at)
                        .replace('T', " "),
                    r.meta.state,
                    took,
                    r.spend.usd,
                    r.spend.tokens,
                    what
                ),
                i == sel,
            )
        })
        .collect();
    (lines, Some(sel))
}

fn research(app: &App) -> Vec<String> {
    let r = match &app.snapshot.research {
        Ok(r) => r,
        Err(e) => return vec![format!("research unavailable: {e}")],
    };
    let mut out = vec![
        format!(
            "Mode: {} ({})",
            serde_name(&r.configured_mode),
            r.enabled_reason
        ),
        format!("Status: {}", r.status),
    ];
    if let Some(a) = &r.active_run {
        out.push(format!("Active research run: {}", a.run_id));
    }
    for f in &r.queue_families {
        out.push(format!(
            "{:<9} {} item(s){}",
            f.family.as_str(),
            f.item_count,
            if !f.enabled {
                " [disabled]"
            } else if f.ready {
                " [ready]"
            } else {
                ""
            }
        ));
        for i in &f.items {
            let at = i.path.as_deref().map(|p| format!(" ({p})"));
            out.push(format!("  {}{}", i.title, at.unwrap_or_default()));
        }
        if f.item_count > f.items.len() {
            out.push(format!("  … and {} more", f.item_count - f.items.len()));
        }
        for x in &f.rejected {
            out.push(format!("  refused {}: {}", x.path, x.reason));
        }
    }
    if r.deferred_breadcrumb_count > 0 {
        out.push(format!(
            "Deferred requests (stub mode): {}",
            r.deferred_breadcrumb_count
        ));
    }
    let a = &r.audit_summary.counts;
    out.push(format!(
        "Audits: {} (pass {}, fail {}, blocked {})",
        a.total, a.pass, a.fail, a.blocked
    ));
    let c = &r.completion_state;
    out.push(format!(
        "Completion: {} (marker {})",
        c.latest_decision.as_deref().unwrap_or("no decision yet"),
        if c.marker_present {
            "present"
        } else {
            "absent"
        }
    ));
    if let Some(p) = &r.plan_problem {
        out.push(format!("Plan problem: {p}"));
    }
    out
}

fn logs(app: &App) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(e) = &app.snapshot.events_error {
        out.push(format!("events unavailable: {e}"));
    }
    if !app.log_filter.is_empty() {
        out.push(format!("filter: {}", app.log_filter));
    }
    let f = app.log_filter.to_lowercase();
    let shown: Vec<String> = app
        .snapshot
        .events
        .iter()
        .rev()
        .filter(|e| app.debug || e.weight != Weight::Quiet)
        .map(|e| {
            if app.debug {
                e.raw.clone()
            } else {
                format!("{} {}", e.time(), e.text)
            }
        })
        .filter(|l| f.is_empty() || l.to_lowercase().contains(&f))
        .collect();
    if shown.is_empty() {
        out.push("no events".into());
    }
    out.extend(shown);
    out
}

fn config(app: &App) -> (Vec<Line<'static>>, Option<usize>) {
    let s = &app.snapshot;
    let sel = app.selected[Panel::Config as usize];
    let mut out = vec![Line::from(format!("config hash {}", s.config_hash))];
    for (i, e) in s.config.iter().enumerate() {
        out.push(row(
            format!("{} = {}  [{}]", e.key, e.value, e.source),
            i == sel,
        ));
    }
    (out, Some(sel + 1))
}

fn publish(app: &App) -> Vec<String> {
    let p = match &app.snapshot.preflight {
        None => return vec!["preflight not loaded: press f".into()],
        Some(Err(e)) => return vec![format!("preflight failed: {e}")],
        Some(Ok(p)) => p,
    };
    let mut out = vec![
        format!(
            "Status: {}{}",
            p.status,
            p.skip_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        format!("Staging repo: {}", p.selection.staging_repo_dir),
        format!(
            "Manifest: {} ({} required, {} optional path(s))",
            p.selection.manifest_source_kind,
            p.selection.required_paths.len(),
            p.selection.optional_paths.len()
        ),
        format!(
            "Git: worktree {}, branch {}, origin {}",
            if p.git_worktree_valid {
                "valid"
            } else if p.git_worktree_present {
                "invalid"
            } else {
                "missing"
            },
            p.branch.as_deref().unwrap_or("detached"),
            if p.origin_configured {
                "configured"
            } else {
                "missing"
            }
        ),
        format!(
            "Commit allowed: {}   Push allowed: {}",
            p.commit_allowed, p.publish_allowed
        ),
        format!("Changed paths ({}):", p.changed_paths.len()),
    ];
    out.extend(p.changed_paths.iter().map(|c| format!("  {c}")));
    out
}
