//! The TUI's state and its update: which panel and overlay is up, what is
//! selected, and what keys and palette actions do. Reads come from a
//! [`Snapshot`]; every change goes through `control` (the same
//! mailbox-or-direct commands as the CLI), never to a store directly.

use std::collections::VecDeque;
use std::sync::mpsc::Sender;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::control::{self, Workspace};
use crate::engine::commands::Command;

pub use super::snapshot::Snapshot;

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

/// What the operator can ask for: from a key or from the palette.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Show(Panel),
    StartOnce,
    StartDaemon,
    Pause,
    Resume,
    Stop,
    AddTask,
    AddIdea,
    Thaw,
    Stream,
    ToggleDebug,
    PublishPreflight,
    PublishSync,
    PublishCommit,
    PublishPush,
    Refresh,
    Help,
    Quit,
}

impl Action {
    /// Everything the palette offers, in its order.
    pub fn palette() -> Vec<Action> {
        let mut all = vec![
            Action::StartOnce,
            Action::StartDaemon,
            Action::Pause,
            Action::Resume,
            Action::Stop,
        ];
        all.extend(Panel::ALL.map(Action::Show));
        all.extend([
            Action::AddTask,
            Action::AddIdea,
            Action::Thaw,
            Action::Stream,
            Action::ToggleDebug,
            Action::PublishPreflight,
            Action::PublishSync,
            Action::PublishCommit,
            Action::PublishPush,
            Action::Refresh,
            Action::Help,
            Action::Quit,
        ]);
        all
    }

    pub fn label(&self) -> String {
        match self {
            Action::Show(p) => format!("show {}", p.title()),
            Action::StartOnce => "start once (one research and one execution pass)".into(),
            Action::StartDaemon => "start daemon (in the background)".into(),
            Action::Pause => "pause the daemon".into(),
            Action::Resume => "resume the daemon".into(),
            Action::Stop => "stop the daemon".into(),
            Action::AddTask => "add a task".into(),
            Action::AddIdea => "add an idea".into(),
            Action::Thaw => "thaw the frozen batch".into(),
            Action::Stream => "expanded event stream".into(),
            Action::ToggleDebug => "toggle operator/debug mode".into(),
            Action::PublishPreflight => "publish preflight".into(),
            Action::PublishSync => "publish sync".into(),
            Action::PublishCommit => "publish commit (no push)".into(),
            Action::PublishPush => "publish commit and push".into(),
            Action::Refresh => "refresh now".into(),
            Action::Help => "keys".into(),
            Action::Quit => "quit".into(),
        }
    }

    /// Actions that change something outside the TUI the operator might
    /// not undo: asked for with `y` first.
    fn needs_confirmation(&self) -> bool {
        matches!(
            self,
            Action::Stop | Action::PublishSync | Action::PublishCommit | Action::PublishPush
        )
    }
}

/// A one-line input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    AddTask,
    AddIdea,
    ConfigValue(String),
    LogFilter,
}

impl Form {
    pub fn prompt(&self) -> String {
        match self {
            Form::AddTask => "New task title".into(),
            Form::AddIdea => "New idea (one line; it becomes the idea file)".into(),
            Form::ConfigValue(k) => format!("Set {k} (validated like `config set`)"),
            Form::LogFilter => "Show only events containing".into(),
        }
    }
}

/// What is drawn over (or instead of) the panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    Palette {
        query: String,
        selected: usize,
    },
    Form {
        form: Form,
        input: String,
    },
    Confirm(Action),
    /// The expanded event stream, full screen.
    Stream,
    RunDetail {
        run_id: String,
        scroll: u16,
    },
}

/// Messages into the event loop: keys, file changes, timer ticks, and
/// results of work started in the background.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Changed,
    Tick,
    Notice(String),
    Quit,
}

/// The expanded stream's position.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scroll {
    /// Lines up from the newest; 0 follows.
    pub offset: usize,
}

impl Scroll {
    pub fn following(&self) -> bool {
        self.offset == 0
    }
}

pub struct App {
    /// The startup health gate: `health`'s report until Enter (or `c`).
    pub gate: Option<control::health::HealthReport>,
    pub panel: Panel,
    pub overlay: Overlay,
    /// Debug mode shows raw event lines; operator mode narrates.
    pub debug: bool,
    pub quit: bool,
    /// Set when something asked for fresh data.
    pub reload: bool,
    /// Results of the operator's actions, newest last, with their time.
    pub notices: VecDeque<(String, String)>,
    pub snapshot: Snapshot,
    pub selected: [usize; 7],
    pub stream: Scroll,
    pub log_filter: String,
    /// "Now" for elapsed times; fixed in tests.
    pub now: jiff::Timestamp,
    /// Where background work (start once, publish) reports back.
    pub tx: Option<Sender<Msg>>,
}

const MAX_NOTICES: usize = 50;

impl App {
    pub fn new(snapshot: Snapshot) -> App {
        App {
            gate: None,
            panel: Panel::Overview,
            overlay: Overlay::None,
            debug: false,
            quit: false,
            reload: false,
            notices: VecDeque::new(),
            snapshot,
            selected: [0; 7],
            stream: Scroll::default(),
            log_filter: String::new(),
            now: crate::defs::clock::now(),
            tx: None,
        }
    }

    fn sel(&self) -> usize {
        self.selected[self.panel as usize]
    }

    /// How many rows `panel` can select.
    fn rows(&self, panel: Panel) -> usize {
        let s = &self.snapshot;
        match panel {
            Panel::Queue => s.queue.as_ref().map_or(0, |q| q.backlog.len()),
            Panel::Runs => s.runs.len(),
            Panel::Config => s.config.len(),
            _ => 0,
        }
    }

    fn move_selection(&mut self, down: bool) {
        let rows = self.rows(self.panel);
        let cur = &mut self.selected[self.panel as usize];
        *cur = if down {
            (*cur + 1).min(rows.saturating_sub(1))
        } else {
            cur.saturating_sub(1)
        };
    }

    pub fn notify(&mut self, text: impl Into<String>) {
        let time = crate::defs::clock::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        self.notices.push_back((time, text.into()));
        while self.notices.len() > MAX_NOTICES {
            self.notices.pop_front();
        }
    }

    /// Takes fresh data, keeping the stream where the operator scrolled
    /// it and the selections in range.
    pub fn replace_snapshot(&mut self, fresh: Snapshot) {
        if !self.stream.following() {
            self.stream.offset += fresh.events_after(&self.snapshot, self.debug);
        }
        self.snapshot = fresh;
        for p in Panel::ALL {
            let last = self.rows(p).saturating_sub(1);
            self.selected[p as usize] = self.selected[p as usize].min(last);
        }
    }

    /// Applies a key.
    pub fn key(&mut self, ws: &Workspace, k: KeyEvent) {
        let code = k.code;
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        if self.gate.is_some() {
            match code {
                KeyCode::Enter | KeyCode::Char('c') => self.gate = None,
                KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
                _ => {}
            }
            return;
        }
        if self.overlay_key(ws, code, ctrl) {
            return;
        }
        if ctrl && code == KeyCode::Char('p') {
            self.open_palette();
            return;
        }
        match code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Char('?') => self.overlay = Overlay::Help,
            KeyCode::Char(':') => self.open_palette(),
            KeyCode::Char('e') => self.act(ws, Action::Stream),
            KeyCode::Char('d') => self.act(ws, Action::ToggleDebug),
            KeyCode::Char('r') => self.act(ws, Action::Refresh),
            KeyCode::Char(c @ '1'..='7') => {
                self.act(ws, Action::Show(Panel::ALL[(c as u8 - b'1') as usize]))
            }
            KeyCode::Tab => {
                let next = (self.panel as usize + 1) % Panel::ALL.len();
                self.act(ws, Action::Show(Panel::ALL[next]));
            }
            KeyCode::Char('p') => self.act(ws, Action::Pause),
            KeyCode::Char('u') => self.act(ws, Action::Resume),
            KeyCode::Char('s') => self.act(ws, Action::Stop),
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(false),
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(true),
            _ => self.panel_key(ws, code),
        }
    }

    /// Keys that mean something on one panel only.
    fn panel_key(&mut self, ws: &Workspace, code: KeyCode) {
        match (self.panel, code) {
            (Panel::Queue, KeyCode::Char('a')) => self.act(ws, Action::AddTask),
            (Panel::Queue, KeyCode::Char('t')) => self.act(ws, Action::Thaw),
            (Panel::Queue, KeyCode::Char(c @ ('K' | 'J'))) => self.move_card(ws, c == 'K'),
            (Panel::Runs, KeyCode::Enter) => {
                if let Some(r) = self.snapshot.runs.get(self.sel()) {
                    self.overlay = Overlay::RunDetail {
                        run_id: r.meta.run_id.clone(),
                        scroll: 0,
                    };
                    self.snapshot.load_detail(ws, &r.meta.run_id.clone());
                }
            }
            (Panel::Research, KeyCode::Char('i')) => self.act(ws, Action::AddIdea),
            (Panel::Logs, KeyCode::Char('/')) => {
                self.overlay = Overlay::Form {
                    form: Form::LogFilter,
                    input: self.log_filter.clone(),
                }
            }
            (Panel::Config, KeyCode::Enter) => {
                if let Some(entry) = self.snapshot.config.get(self.sel()) {
                    let input = serde_json::from_str::<String>(&entry.value)
                        .unwrap_or_else(|_| entry.value.clone());
                    self.overlay = Overlay::Form {
                        form: Form::ConfigValue(entry.key.clone()),
                        input,
                    };
                }
            }
            (Panel::Publish, KeyCode::Char('P')) => self.act(ws, Action::PublishPush),
            (Panel::Publish, KeyCode::Char('S')) => self.act(ws, Action::PublishSync),
            (Panel::Publish, KeyCode::Char('C')) => self.act(ws, Action::PublishCommit),
            (Panel::Publish, KeyCode::Char('f')) => self.act(ws, Action::PublishPreflight),
            _ => {}
        }
    }

    fn open_palette(&mut self) {
        self.overlay = Overlay::Palette {
            query: String::new(),
            selected: 0,
        };
    }

    /// Asks first when the action needs it, else runs it.
    pub fn act(&mut self, ws: &Workspace, action: Action) {
        if action.needs_confirmation() {
            self.overlay = Overlay::Confirm(action);
        } else {
            self.run(ws, action);
        }
    }

    fn run(&mut self, ws: &Workspace, action: Action) {
        match action {
            Action::Show(p) => {
                self.panel = p;
                if p == Panel::Publish && self.snapshot.preflight.is_none() {
                    self.snapshot.load_preflight(ws);
                }
            }
            Action::Pause | Action::Resume | Action::Stop => {
                let cmd = match action {
                    Action::Pause => Command::Pause,
                    Action::Resume => Command::Resume,
                    _ => Command::Stop,
                };
                let r = said(control::mailbox::dispatch(ws, cmd, true));
                self.notify(r);
                self.reload = true;
            }
            Action::StartOnce => self.spawn(ws, &["start", "--once"], "start --once"),
            Action::StartDaemon => {
                if control::mailbox::daemon_running(ws) {
                    self.notify("a daemon already owns this workspace");
                } else {
                    self.spawn(ws, &["start", "--daemon"], "start --daemon");
                }
            }
            Action::AddTask => {
                self.overlay = Overlay::Form {
                    form: Form::AddTask,
                    input: String::new(),
                }
            }
            Action::AddIdea => {
                self.overlay = Overlay::Form {
                    form: Form::AddIdea,
                    input: String::new(),
                }
            }
            Action::Thaw => {
                let r = said(control::queue::thaw(ws, None, true));
                self.notify(r);
                self.reload = true;
            }
            Action::Stream => {
                self.overlay = Overlay::Stream;
                self.stream.offset = 0;
            }
            Action::ToggleDebug => {
                self.debug = !self.debug;
                self.notify(if self.debug {
                    "debug mode: raw event lines"
                } else {
                    "operator mode: events in plain words"
                });
            }
            Action::PublishPreflight => {
                self.snapshot.load_preflight(ws);
                self.panel = Panel::Publish;
            }
            Action::PublishSync => {
                let r = match control::publish::sync(ws, None) {
                    Ok(rep) => format!(
                        "publish sync: {} path(s) into {}",
                        rep.entries.len(),
                        rep.selection.staging_repo_dir
                    ),
                    Err(e) => format!("publish sync failed: {e}"),
                };
                self.notify(r);
                self.snapshot.load_preflight(ws);
                self.panel = Panel::Publish;
            }
            Action::PublishCommit | Action::PublishPush => {
                let push = action == Action::PublishPush;
                let r = match control::publish::commit(ws, None, None, push) {
                    Ok(rep) => format!("publish commit: {}", rep.marker),
                    Err(e) => format!("publish commit failed: {e}"),
                };
                self.notify(r);
                self.snapshot.load_preflight(ws);
                self.panel = Panel::Publish;
            }
            Action::Refresh => {
                self.reload = true;
                if self.panel == Panel::Publish {
                    self.snapshot.load_preflight(ws);
                }
            }
            Action::Help => self.overlay = Overlay::Help,
            Action::Quit => self.quit = true,
        }
    }

    fn submit(&mut self, ws: &Workspace, form: Form, input: &str) {
        if input.is_empty() && form != Form::LogFilter {
            self.notify(format!("{}: nothing entered", form.prompt()));
            return;
        }
        let text = match &form {
            Form::AddTask => said(control::queue::add_task(ws, input, None, None, true)),
            Form::AddIdea => {
                let name = format!("{}.md", slug(input));
                let body = format!("# {input}\n");
                said(control::queue::add_idea_text(ws, &name, &body, true))
            }
            Form::ConfigValue(key) => {
                let r = control::config::set(ws, key, input, true);
                format!("config set {key}: {}", said(r))
            }
            Form::LogFilter => {
                self.log_filter = input.to_string();
                return;
            }
        };
        self.notify(text);
        self.reload = true;
    }

    /// Runs `millrace --config … <args>` in the background, in its own
    /// process group (it outlives the TUI), reporting its exit as a notice.
    fn spawn(&mut self, ws: &Workspace, args: &[&str], what: &str) {
        use std::os::unix::process::CommandExt;
        let exe = match std::env::current_exe() {
            Ok(e) => e,
            Err(e) => return self.notify(format!("{what}: cannot find millrace: {e}")),
        };
        let child = std::process::Command::new(exe)
            .arg("--config")
            .arg(&ws.config_path)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn();
        match child {
            Ok(mut child) => {
                self.notify(format!("{what}: started (pid {})", child.id()));
                let tx = self.tx.clone();
                let what = what.to_string();
                std::thread::spawn(move || {
                    let status = child.wait();
                    if let Some(tx) = tx {
                        let text = match status {
                            Ok(s) => format!("{what}: exited with {}", s.code().unwrap_or(-1)),
                            Err(e) => format!("{what}: {e}"),
                        };
                        let _ = tx.send(Msg::Notice(text));
                    }
                });
            }
            Err(e) => self.notify(format!("{what}: cannot start: {e}")),
        }
    }

    /// Moves the selected backlog card one place up or down, sending the
    /// whole new order (`queue reorder` refuses it if the backlog changed).
    fn move_card(&mut self, ws: &Workspace, up: bool) {
        let Ok(q) = &self.snapshot.queue else { return };
        if q.backlog.len() < q.backlog_depth {
            return self.notify(format!(
                "the TUI reorders backlogs of up to {} cards; use `millrace queue reorder`",
                super::snapshot::CARDS
            ));
        }
        let i = self.sel();
        let j = if up { i.checked_sub(1) } else { Some(i + 1) };
        let Some(j) = j.filter(|j| *j < q.backlog.len()) else {
            return;
        };
        let mut ids: Vec<String> = q.backlog.iter().map(|t| t.task_id.clone()).collect();
        ids.swap(i, j);
        let r = control::queue::reorder(ws, &ids, true);
        match r {
            Ok(op) => {
                self.notify(op.message);
                self.selected[Panel::Queue as usize] = j;
            }
            Err(e) => self.notify(e.to_string()),
        }
        self.reload = true;
    }
}

/// What a command's result says: its message, or the error.
fn said(r: control::Result<control::queue::Operation>) -> String {
    match r {
        Ok(op) => op.message,
        Err(e) => e.to_string(),
    }
}

/// The palette's actions where every word of `query` begins a word of the
/// label; labels that begin with the query come first.
pub fn palette_matches(query: &str) -> Vec<Action> {
    let q = query.to_lowercase();
    let mut found: Vec<(bool, Action)> = Action::palette()
        .into_iter()
        .filter_map(|a| {
            let label = a.label().to_lowercase();
            let words: Vec<&str> = label
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .collect();
            q.split_whitespace()
                .all(|qw| words.iter().any(|w| w.starts_with(qw)))
                .then(|| (!label.starts_with(q.trim()), a))
        })
        .collect();
    found.sort_by_key(|(later, _)| *later);
    found.into_iter().map(|(_, a)| a).collect()
}

/// A file-name-safe form of an idea's first line.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 48 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "idea".into()
    } else {
        out
    }
}

mod keys;
#[cfg(test)]
mod tests;
