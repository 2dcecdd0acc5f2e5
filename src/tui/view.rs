//! Rendering: a pure function of the [`App`]. No colors (it reads the same
//! with `NO_COLOR`): emphasis is bold and reverse video only; it fits 80×24.
//! The frame is tabs, the panel (or the expanded stream, or a run's
//! details), the notices rail and the status strip; help, the palette,
//! forms and confirmations are drawn over it.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{palette_matches, App, Overlay, Panel};
use super::narrate::Weight;
use super::panels;

/// Every key, for `?`.
pub const KEYS: &[(&str, &str)] = &[
    ("1-7 Tab", "switch panel"),
    (": ^P", "command palette"),
    ("e", "expanded event stream (Esc closes)"),
    ("d", "operator / debug mode"),
    ("↑↓ j k", "select; scroll the stream"),
    ("l", "stream: back to following"),
    ("p u s", "pause, resume, stop the daemon"),
    ("a t K J", "queue: add task, thaw, move card"),
    ("Enter", "runs: details; config: edit key"),
    ("i", "research: add idea"),
    ("/", "logs: filter"),
    ("f S C P", "publish: preflight sync commit push"),
    ("r", "refresh now"),
    ("?", "this help (Esc closes)"),
    ("q ^C", "quit"),
];

const BOLD: Style = Style::new().add_modifier(Modifier::BOLD);
const REVERSED: Style = Style::new().add_modifier(Modifier::REVERSED);

pub fn render(f: &mut Frame, app: &App) {
    if let Some(report) = &app.gate {
        gate(f, report);
    } else {
        panels(f, app);
    }
    // The data on screen (titles, idea names, payloads, agent output) never
    // drives the terminal: a control character becomes a visible picture.
    for cell in f.buffer_mut().content.iter_mut() {
        if let Some(safe) = crate::defs::text::cell_safe(cell.symbol()) {
            cell.set_symbol(&safe);
        }
    }
}

fn panels(f: &mut Frame, app: &App) {
    let [tabs, body, rail, strip] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(4),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let spans: Vec<Span> = Panel::ALL
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            let style = if *p == app.panel {
                REVERSED.add_modifier(Modifier::BOLD)
            } else {
                Style::default()
            };
            [
                Span::styled(format!("{} {}", i + 1, p.title()), style),
                Span::raw(" "),
            ]
        })
        .collect();
    f.render_widget(Paragraph::new(Line::from(spans)), tabs);
    match &app.overlay {
        Overlay::Stream => stream(f, app, body),
        Overlay::RunDetail { run_id, scroll } => {
            let lines = super::detail::detail(&app.snapshot.detail);
            f.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .scroll((*scroll, 0))
                    .block(boxed(format!("Run {run_id} — ↑↓ scroll, Esc back"))),
                body,
            );
        }
        _ => panel(f, app, body),
    }
    notices(f, app, rail);
    f.render_widget(Paragraph::new(status_strip(app)).style(REVERSED), strip);
    match &app.overlay {
        Overlay::Help => help(f, body),
        Overlay::Palette { query, selected } => palette(f, body, query, *selected),
        Overlay::Form { form, input } => {
            let r = Rect::new(body.x, body.bottom().saturating_sub(3), body.width, 3)
                .intersection(body);
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(format!("{input}▏")).block(boxed(format!(
                    "{} — Enter saves, Esc cancels",
                    form.prompt()
                ))),
                r,
            );
        }
        Overlay::Confirm(action) => {
            let text = format!("{}: y to go on, any other key cancels", action.label());
            let w = (text.chars().count() as u16 + 4).min(body.width);
            let r = centered(body, w, 3);
            f.render_widget(Clear, r);
            f.render_widget(Paragraph::new(text).block(boxed("Confirm".into())), r);
        }
        _ => {}
    }
}

/// The screen `render` draws for `app` at `width`×`height`, as text (for
/// snapshots and captures).
pub fn text(app: &App, width: u16, height: u16) -> String {
    let backend = ratatui::backend::TestBackend::new(width, height);
    let mut t = ratatui::Terminal::new(backend).expect("a test backend cannot fail");
    t.draw(|f| render(f, app))
        .expect("a test backend cannot fail");
    let buf = t.backend().buffer();
    let mut s = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

fn boxed(title: String) -> Block<'static> {
    Block::default().borders(Borders::ALL).title(title)
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let (w, h) = (w.min(area.width), h.min(area.height));
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn panel(f: &mut Frame, app: &App, area: Rect) {
    let b = panels::body(app);
    let title = if b.hint.is_empty() {
        app.panel.title().to_string()
    } else {
        format!("{} — {}", app.panel.title(), b.hint)
    };
    // Keep the selected line on screen.
    let inner = area.height.saturating_sub(2) as usize;
    let scroll = b
        .selected
        .map_or(0, |s| s.saturating_sub(inner.saturating_sub(1)));
    let mut p = Paragraph::new(b.lines).scroll((scroll as u16, 0));
    if b.selected.is_none() {
        p = p.wrap(Wrap { trim: false });
    }
    f.render_widget(p.block(boxed(title)), area);
}

/// The expanded stream: the newest events at the bottom, following unless
/// scrolled up.
fn stream(f: &mut Frame, app: &App, area: Rect) {
    let lines = app.snapshot.stream_lines(app.debug);
    let inner = area.height.saturating_sub(2) as usize;
    let end = lines.len().saturating_sub(app.stream.offset);
    let start = end.saturating_sub(inner);
    let state = if app.stream.following() {
        "following".to_string()
    } else {
        format!("paused {} line(s) up — l follows", app.stream.offset)
    };
    let mode = if app.debug { "debug" } else { "operator" };
    let shown: Vec<Line> = lines[start..end]
        .iter()
        .map(|l| Line::from(l.clone()))
        .collect();
    f.render_widget(
        Paragraph::new(shown).block(boxed(format!("Events — {mode}, {state}; Esc closes"))),
        area,
    );
}

/// The last few notices: results of the operator's actions and events
/// that want attention, newest last.
fn notices(f: &mut Frame, app: &App, area: Rect) {
    let mut all: Vec<(&str, &str)> = app
        .snapshot
        .events
        .iter()
        .filter(|e| e.weight == Weight::Notice)
        .map(|e| (e.timestamp.as_str(), e.text.as_str()))
        .chain(app.notices.iter().map(|(t, n)| (t.as_str(), n.as_str())))
        .collect();
    all.sort_by(|a, b| a.0.cmp(b.0));
    // An action's result and the event it caused often say the same.
    all.dedup_by(|a, b| a.1 == b.1);
    let rows = area.height.saturating_sub(1) as usize;
    let lines: Vec<Line> = all[all.len().saturating_sub(rows)..]
        .iter()
        .map(|(t, n)| Line::from(format!("{} {n}", t.get(11..19).unwrap_or(t))))
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::TOP).title("Notices")),
        area,
    );
}

fn status_strip(app: &App) -> String {
    let mode = if app.debug { "DEBUG" } else { "OPERATOR" };
    let state = match &app.snapshot.status {
        Ok(st) => {
            let daemon = match &st.daemon {
                Some(d) if d.paused => "daemon paused",
                Some(_) => "daemon running",
                None if st.runtime.process_running => "start --once",
                None => "no daemon",
            };
            format!(
                "{daemon} · {} · backlog {}",
                st.runtime.execution_status, st.runtime.backlog_depth
            )
        }
        Err(_) => "status unavailable".into(),
    };
    format!(" {mode} · {state} │ : ? q")
}

/// The startup health gate: every check that did not pass, with its
/// details (the hints), then continue or quit.
fn gate(f: &mut Frame, report: &crate::control::health::HealthReport) {
    let status = crate::defs::serde_name(&report.status);
    let mut lines = vec![Line::from(Span::styled(
        format!("Health: {status} ({} check(s))", report.checks.len()),
        BOLD,
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
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(boxed("millrace health".into())),
        f.area(),
    );
}

fn help(f: &mut Frame, area: Rect) {
    let r = centered(area, 54, KEYS.len() as u16 + 2);
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!(" {k:<9}"), BOLD),
                Span::raw(*what),
            ])
        })
        .collect();
    f.render_widget(Clear, r);
    f.render_widget(Paragraph::new(lines).block(boxed("Keys".into())), r);
}

fn palette(f: &mut Frame, area: Rect, query: &str, selected: usize) {
    let matches = palette_matches(query);
    let h = (matches.len() as u16 + 3).min(area.height);
    let r = Rect::new(area.x + 2, area.y, area.width.saturating_sub(4), h).intersection(area);
    let mut lines = vec![Line::from(format!(": {query}▏"))];
    let rows = h.saturating_sub(3) as usize;
    let start = selected.saturating_sub(rows.saturating_sub(1));
    for (i, a) in matches.iter().enumerate().skip(start).take(rows) {
        let text = format!(" {}", a.label());
        lines.push(if i == selected {
            Line::styled(text, REVERSED)
        } else {
            Line::from(text)
        });
    }
    if matches.is_empty() {
        lines.push(Line::from(" no action matches"));
    }
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(boxed("Command palette — Enter runs, Esc closes".into())),
        r,
    );
}
#[cfg(test)]
mod tests {
    use super::super::app::{App, Panel, Snapshot};

    fn screen(app: &App) -> String {
        super::text(app, 80, 24)
    }

    fn app() -> (tempfile::TempDir, App) {
        // The card's id carries the day, which the snapshots show.
        let _pin = crate::defs::clock::pin("2026-11-24T12:00:00Z".parse().unwrap());
        let dir = tempfile::tempdir().unwrap();
        crate::control::init::init(&dir.path().join("w"), false, false, &[]).unwrap();
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
    fn help_palette_forms_and_confirmations_draw_over_the_panel() {
        use super::super::app::{Action, Form, Overlay};
        let (_d, mut app) = app();
        let overview = screen(&app);
        assert!(overview.contains("1 Overview"), "{overview}");
        assert!(overview.contains("Execution: IDLE"), "{overview}");
        assert!(overview.contains("Backlog: 1"), "{overview}");
        assert!(overview.contains("Notices"), "{overview}");
        app.panel = Panel::Queue;
        let queue = screen(&app);
        assert!(queue.contains("› "), "the first card is selected: {queue}");
        assert!(queue.contains("Render me"), "{queue}");
        app.overlay = Overlay::Help;
        let help = screen(&app);
        for (k, what) in super::KEYS {
            assert!(help.contains(what), "help lacks {k}: {help}");
        }
        insta::assert_snapshot!("tui_help", help);
        app.overlay = Overlay::Palette {
            query: "pa".into(),
            selected: 0,
        };
        let palette = screen(&app);
        assert!(palette.contains(": pa"), "{palette}");
        assert!(palette.contains("pause the daemon"), "{palette}");
        assert!(!palette.contains("resume the daemon"), "{palette}");
        insta::assert_snapshot!("tui_palette", palette);
        app.overlay = Overlay::Form {
            form: Form::AddTask,
            input: "Write the docs".into(),
        };
        let form = screen(&app);
        assert!(form.contains("New task title"), "{form}");
        assert!(form.contains("Write the docs"), "{form}");
        app.overlay = Overlay::Confirm(Action::Stop);
        let confirm = screen(&app);
        assert!(confirm.contains("stop the daemon: y to go on"), "{confirm}");
    }

    #[test]
    fn tiny_terminals_do_not_panic() {
        use super::super::app::{Action, Form, Overlay};
        let (d, mut app) = app();
        let overlays = [
            Overlay::None,
            Overlay::Help,
            Overlay::Palette {
                query: String::new(),
                selected: 3,
            },
            Overlay::Form {
                form: Form::AddTask,
                input: "x".repeat(200),
            },
            Overlay::Confirm(Action::PublishPush),
            Overlay::Stream,
            Overlay::RunDetail {
                run_id: "r".into(),
                scroll: 500,
            },
        ];
        for (w, h) in [(1, 1), (10, 3), (20, 5), (40, 10), (200, 60)] {
            app.gate = Some(crate::control::health::report(
                &d.path().join("w/millrace.toml"),
                false,
            ));
            let _ = super::text(&app, w, h);
            app.gate = None;
            for p in Panel::ALL {
                app.panel = p;
                for o in &overlays {
                    app.overlay = o.clone();
                    let _ = super::text(&app, w, h);
                }
            }
        }
    }
}
