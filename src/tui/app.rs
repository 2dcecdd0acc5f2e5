//! The TUI's state and its update: what is shown (a [`Snapshot`] read
//! through `control`), which panel, and what keys do.

use ratatui::crossterm::event::KeyCode;

use crate::control::{self, Workspace};
use crate::engine::commands::Command;

/// The panels, on keys 1–7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    Overview,
    Queue,
    Runs,
    Research,
    Logs,
    Config,
    Publish,
}

impl Panel {
    pub const ALL: [Panel; 7] = [
        Panel::Overview,
        Panel::Queue,
        Panel::Runs,
        Panel::Research,
        Panel::Logs,
        Panel::Config,
        Panel::Publish,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Panel::Overview => "Overview",
            Panel::Queue => "Queue",
            Panel::Runs => "Runs",
            Panel::Research => "Research",
            Panel::Logs => "Logs",
            Panel::Config => "Config",
            Panel::Publish => "Publish",
        }
    }
}

/// What the panels show, read through `control` (errors kept as text).
pub struct Snapshot {
    pub status: Result<control::status::StatusReport, String>,
    pub queue: Result<crate::store::queue::QueueView, String>,
    pub research: Result<control::research::ResearchReport, String>,
    pub runs: Vec<String>,
    pub events: Vec<String>,
    pub config: String,
}

impl Snapshot {
    pub fn load(ws: &Workspace) -> Snapshot {
        let text = |e: control::ControlError| e.to_string();
        let mut events = Vec::new();
        if let Ok(tail) = control::logs::tail(ws, 200) {
            let _ = tail.each(|e| {
                events.push(format!(
                    "{} {} {}",
                    e.timestamp.get(11..19).unwrap_or(""),
                    e.kind,
                    compact(&e.payload)
                ));
                Ok(())
            });
        }
        Snapshot {
            status: control::status::status(ws, true).map_err(text),
            queue: control::queue::view(ws, true).map_err(text),
            research: control::research::report(ws).map_err(text),
            runs: crate::store::runs::list(&ws.agents)
                .unwrap_or_default()
                .into_iter()
                .take(50)
                .collect(),
            events,
            config: serde_json::to_string_pretty(&control::config::show(ws)).unwrap_or_default(),
        }
    }
}

/// A payload on one line, shortened.
fn compact(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.len() > 120 {
        format!("{}…", s.chars().take(119).collect::<String>())
    } else {
        s
    }
}

pub struct App {
    /// The startup health gate: `health`'s report until Enter (or `c`).
    pub gate: Option<control::health::HealthReport>,
    pub panel: Panel,
    pub help: bool,
    pub quit: bool,
    /// Set when a key asked for fresh data.
    pub reload: bool,
    /// The last action's result, shown in the status strip.
    pub notice: Option<String>,
    pub snapshot: Snapshot,
}

impl App {
    pub fn new(snapshot: Snapshot) -> App {
        App {
            gate: None,
            panel: Panel::Overview,
            help: false,
            quit: false,
            reload: false,
            notice: None,
            snapshot,
        }
    }

    /// Applies a key. Lifecycle keys go through the same mailbox-or-direct
    /// path as `millrace pause` / `resume` / `stop`.
    pub fn key(&mut self, ws: &Workspace, code: KeyCode) {
        if self.gate.is_some() {
            match code {
                KeyCode::Enter | KeyCode::Char('c') => self.gate = None,
                KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
                _ => {}
            }
            return;
        }
        match code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Char('?') => self.help = !self.help,
            KeyCode::Esc => self.help = false,
            KeyCode::Char('r') => self.reload = true,
            KeyCode::Char(c @ '1'..='7') => {
                self.panel = Panel::ALL[(c as u8 - b'1') as usize];
                self.help = false;
            }
            KeyCode::Char(c @ ('p' | 'u' | 's')) => {
                let cmd = match c {
                    'p' => Command::Pause,
                    'u' => Command::Resume,
                    _ => Command::Stop,
                };
                self.notice = Some(match control::mailbox::dispatch(ws, cmd, true) {
                    Ok(op) => op.message,
                    Err(e) => e.to_string(),
                });
                self.reload = true;
            }
            _ => {}
        }
    }
}
