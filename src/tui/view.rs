//! Rendering: a pure function of the [`App`]. No colors (it reads the same
//! with `NO_COLOR`): emphasis is bold and reverse video only; it fits 80×24.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{App, Panel};

/// Every key, for the status strip and `?`.
pub const KEYS: &[(&str, &str)] = &[
    ("1-7", "switch panel"),
    ("r", "refresh now"),
    ("p", "pause the daemon"),
    ("u", "resume the daemon"),
    ("s", "stop the daemon"),
    ("?", "this help"),
    ("Esc", "close help"),
    ("q", "quit"),
];

pub fn render(f: &mut Frame, app: &App) {
    if let Some(report) = &app.gate {
        return gate(f, report);
    }
    let [tabs, body, strip] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let spans: Vec<Span> = Panel::ALL
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            let style = if *p == app.panel {
                Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
            } else {
                Style::default()
            };
            [
                Span::styled(format!(" {} {} ", i + 1, p.title()), style),
                Span::raw(" "),
            ]
        })
        .collect();
    f.render_widget(Paragraph::new(Line::from(spans)), tabs);
    let lines = panel_lines(app);
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(app.panel.title()),
        ),
        body,
    );
    let strip_text = match &app.notice {
        Some(n) => format!(" {n}  ·  ? help  q quit"),
        None => " 1-7 panels  r refresh  p pause  u resume  ? help  q quit".to_string(),
    };
    f.render_widget(
        Paragraph::new(strip_text).style(Style::default().add_modifier(Modifier::REVERSED)),
        strip,
    );
    if app.help {
        help(f, body);
    }
}

/// The startup health gate: every check that did not pass, with its
/// details (the hints), then continue or quit.
fn gate(f: &mut Frame, report: &crate::control::health::HealthReport) {
    let status = crate::defs::serde_name(&report.status);
    let mut lines = vec![Line::from(Span::styled(
        format!("Health: {status} ({} check(s))", report.checks.len()),
        Style::default().add_modifier(Modifier::BOLD),
    ))];
    for c in report
        .checks
        .iter()
        .filter(|c| crate::defs::serde_name(&c.status) != "pass")
    {
        lines.push(Line::from(format!(
            "{} {}: {}",
            crate::defs::serde_name(&c.status).to_uppercase(),
            c.check_id,
            c.message
        )));
        for d in c.details.iter().take(3) {
            lines.push(Line::from(format!("    {d}")));
        }
    }
    if lines.len() == 1 {
        lines.push(Line::from("every check passed"));
    }
    lines.push(Line::from(""));
    lines.push(Line::from("Enter: continue    q: quit"));
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title("millrace health"),
        ),
        f.area(),
    );
}

fn help(f: &mut Frame, area: Rect) {
    let w = 40.min(area.width);
    let h = (KEYS.len() as u16 + 2).min(area.height);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(
                    format!(" {k:<5}"),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title("Keys")),
        r,
    );
}

fn panel_lines(app: &App) -> Vec<Line<'static>> {
    let s = &app.snapshot;
    let mut out: Vec<String> = Vec::new();
    match app.panel {
        Panel::Overview => match &s.status {
            Ok(st) => {
                let rt = &st.runtime;
                out.push(format!(
                    "Process: {}",
                    if rt.process_running {
                        "running"
                    } else {
                        "stopped"
                    }
                ));
                out.push(format!(
                    "Execution: {}   Research: {} (mode {})",
                    rt.execution_status,
                    rt.research_status,
                    crate::defs::serde_name(&rt.research_mode)
                ));
                out.push(format!(
                    "Active task: {}",
                    rt.active_task_id.as_deref().unwrap_or("none")
                ));
                out.push(format!(
                    "Backlog: {}   Frozen batches: {}",
                    rt.backlog_depth,
                    rt.frozen_batches.len()
                ));
                if let Some(d) = &st.daemon {
                    out.push(format!(
                        "Daemon: {}",
                        if d.paused {
                            format!("paused ({})", d.pause_reason.as_deref().unwrap_or("manual"))
                        } else {
                            "running".into()
                        }
                    ));
                }
                if let Some(a) = &rt.active_run {
                    out.push(format!("Active run: {}", a.run_id));
                }
                if let Some(w) = &st.remaining_worst_case {
                    let usd = w
                        .usd
                        .map_or_else(|| "unbounded USD".to_string(), |u| format!("${u:.2}"));
                    out.push(format!("Worst case left: {} stages, {usd}", w.stage_runs));
                }
                if let Some(b) = &st.budget_pause {
                    out.push(format!("Budget pause at `{}`: {}", b.node, b.message));
                }
                if let Some(w) = &st.waiting {
                    out.push(format!(
                        "Waiting on the environment: {} at `{}`",
                        w.class, w.node
                    ));
                }
                out.push(format!(
                    "Plan: {}",
                    st.plan.plan_id.as_deref().unwrap_or("none")
                ));
                if let Some(l) = &st.last_run {
                    out.push(format!("Last run: {} → {}", l.run_id, l.state));
                }
            }
            Err(e) => out.push(format!("status unavailable: {e}")),
        },
        Panel::Queue => match &s.queue {
            Ok(q) => {
                out.push(format!(
                    "Active: {}",
                    q.active_task
                        .as_ref()
                        .map_or("none".into(), |t| format!("{} — {}", t.task_id, t.title))
                ));
                out.push(format!("Backlog: {}", q.backlog_depth));
                for (i, t) in q.backlog.iter().enumerate().take(100) {
                    out.push(format!("{:>4}. {} — {}", i + 1, t.task_id, t.title));
                }
                for b in &q.frozen_batches {
                    out.push(format!(
                        "frozen {}: {} card(s)",
                        b.batch_id,
                        b.task_ids.len()
                    ));
                }
            }
            Err(e) => out.push(format!("queue unavailable: {e}")),
        },
        Panel::Runs => {
            if s.runs.is_empty() {
                out.push("no runs yet".into());
            }
            out.extend(s.runs.iter().cloned());
        }
        Panel::Research => match &s.research {
            Ok(r) => {
                out.push(format!(
                    "Mode: {} ({})",
                    crate::defs::serde_name(&r.configured_mode),
                    r.enabled_reason
                ));
                out.push(format!("Status: {}", r.status));
                for f in &r.queue_families {
                    out.push(format!(
                        "  {:<9} {} item(s){}",
                        f.family.as_str(),
                        f.item_count,
                        if f.ready { " [ready]" } else { "" }
                    ));
                }
                let c = &r.completion_state;
                out.push(format!(
                    "Completion: {} (marker {})",
                    c.latest_decision.as_deref().unwrap_or("no decision"),
                    if c.marker_present {
                        "present"
                    } else {
                        "absent"
                    }
                ));
            }
            Err(e) => out.push(format!("research unavailable: {e}")),
        },
        Panel::Logs => {
            if s.events.is_empty() {
                out.push("no events yet".into());
            }
            out.extend(s.events.iter().rev().cloned());
        }
        Panel::Config => out.extend(s.config.lines().map(str::to_string)),
        Panel::Publish => {
            out.push(
                "`millrace publish preflight` / `sync` / `commit` (the staging repo flow);".into(),
            );
            out.push("run them from a shell: publishing is not started from this view yet.".into());
        }
    }
    out.into_iter().map(Line::from).collect()
}

#[cfg(test)]
mod tests {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    use super::super::app::{App, Panel, Snapshot};
    use super::render;

    fn screen(app: &App) -> String {
        let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
        t.draw(|f| render(f, app)).unwrap();
        let buf = t.backend().buffer().clone();
        let mut s = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                s.push_str(buf[(x, y)].symbol());
            }
            s.push('\n');
        }
        s
    }

    fn app() -> (tempfile::TempDir, App) {
        let dir = tempfile::tempdir().unwrap();
        crate::control::init::init(&dir.path().join("w"), false, false).unwrap();
        let ws = crate::control::Workspace::open(&dir.path().join("w/millrace.toml")).unwrap();
        crate::control::queue::add_task(&ws, "Render me", None, None, false).unwrap();
        let app = App::new(Snapshot::load(&ws));
        (dir, app)
    }

    #[test]
    fn the_health_gate_shows_what_failed_and_waits() {
        let (dir, mut app) = app();
        app.gate = Some(crate::control::health::report(
            &dir.path().join("w/millrace.toml"),
            false,
        ));
        let gate = screen(&app);
        assert!(gate.contains("Health:"), "{gate}");
        assert!(gate.contains("Enter: continue"), "{gate}");
        // The fake-free test machine has no codex: the gate names it.
        assert!(
            gate.contains("execution.runners") || gate.contains("every check passed"),
            "{gate}"
        );
    }

    #[test]
    fn the_overview_queue_and_help_render_at_80x24() {
        let (_d, mut app) = app();
        let overview = screen(&app);
        assert!(overview.contains(" 1 Overview "), "{overview}");
        assert!(overview.contains("Execution: IDLE"), "{overview}");
        assert!(overview.contains("Backlog: 1"), "{overview}");
        insta::assert_snapshot!("tui_overview", overview);
        app.panel = Panel::Queue;
        let queue = screen(&app);
        assert!(queue.contains("1. "), "{queue}");
        assert!(queue.contains("Render me"), "{queue}");
        app.help = true;
        let help = screen(&app);
        for (k, what) in super::KEYS {
            assert!(help.contains(what), "help lacks {k}: {help}");
        }
        insta::assert_snapshot!("tui_help", help);
    }
}
