//! `millrace tui`: a terminal view over the same `control` API as the CLI.
//! State (`app`), update (keys → state changes or `control` calls) and view
//! (`view`, pure rendering) are kept apart; the TUI never writes a store
//! itself. The terminal is restored on exit, on error and on panic.

pub mod app;
pub mod view;

use std::io;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::crossterm::ExecutableCommand;

use crate::control::Workspace;

/// How often the view reloads what it shows.
const REFRESH: Duration = Duration::from_millis(1000);

fn restore() {
    let _ = disable_raw_mode();
    let _ = io::stdout().execute(LeaveAlternateScreen);
}

/// Runs the TUI until `q`.
pub fn run(ws: Workspace) -> io::Result<()> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        hook(info);
    }));
    enable_raw_mode()?;
    io::stdout().execute(EnterAlternateScreen)?;
    let result = main_loop(&ws);
    restore();
    result
}

fn main_loop(ws: &Workspace) -> io::Result<()> {
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(io::stdout()))?;
    let mut app = app::App::new(app::Snapshot::load(ws));
    app.gate = Some(crate::control::health::report(&ws.config_path, false));
    let mut loaded = Instant::now();
    while !app.quit {
        terminal.draw(|f| view::render(f, &app))?;
        let wait = REFRESH.saturating_sub(loaded.elapsed());
        if event::poll(wait)? {
            if let Event::Key(k) = event::read()? {
                if k.kind == KeyEventKind::Press {
                    app.key(ws, k.code);
                }
            }
        }
        if loaded.elapsed() >= REFRESH || app.reload {
            app.snapshot = app::Snapshot::load(ws);
            app.reload = false;
            loaded = Instant::now();
        }
    }
    Ok(())
}
