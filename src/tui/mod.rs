//! `millrace tui`: a terminal view over the same `control` API as the CLI.
//! State and update (`app`), the data read through `control` (`snapshot`)
//! and rendering (`view`, `panels`: pure functions) are kept apart; the TUI
//! never writes a store itself.
//!
//! The loop sleeps on one channel fed by a key-reader thread, a file
//! watcher on the workspace's state files (so an event shows within a
//! fraction of a second without polling), a one-second tick for elapsed
//! times, signal handlers and background work. The terminal is restored on
//! exit, on error, on SIGTERM/SIGHUP and on panic.

pub mod app;
pub mod detail;
pub mod narrate;
pub mod panels;
pub mod snapshot;
pub mod view;

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::crossterm::ExecutableCommand;

use crate::control::Workspace;
use app::Msg;

/// Redraw at least this often (elapsed times move).
const TICK: Duration = Duration::from_secs(1);
/// While a process owns the workspace, check this often that it still
/// does (a daemon killed with -9 writes no event); one lock probe, and a
/// reload only when the answer changed.
const RELOAD: Duration = Duration::from_secs(5);
/// With nothing running, every change is a file event; this only guards
/// against a missed one.
const RELOAD_IDLE: Duration = Duration::from_secs(30);
/// A file event's reload waits this long for the rest of its burst (one
/// command writes several files).
const QUIET: Duration = Duration::from_millis(15);
/// Reloads on file events are at least this far apart (a busy daemon
/// writes many events a second; they share a reload), and at least five
/// times the last reload's duration, up to `MAX_GAP`.
const SETTLE: Duration = Duration::from_millis(100);
/// The most a file event waits for its reload (the target is on screen
/// within 250 ms).
const MAX_GAP: Duration = Duration::from_millis(200);

fn restore() {
    let _ = disable_raw_mode();
    let _ = io::stdout().execute(LeaveAlternateScreen);
}

/// Runs the TUI until `q`, Ctrl-C or a terminating signal.
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

/// Reads keys on a thread of its own, so the loop can sleep on the channel.
fn read_keys(tx: Sender<Msg>) {
    std::thread::spawn(move || loop {
        match event::read() {
            Ok(Event::Key(k)) if k.kind == KeyEventKind::Press => {
                if tx.send(Msg::Key(k)).is_err() {
                    return;
                }
            }
            Ok(Event::Resize(..)) => {
                if tx.send(Msg::Tick).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(_) => {
                let _ = tx.send(Msg::Quit);
                return;
            }
        }
    });
}

/// SIGTERM and SIGHUP end the loop (which restores the terminal).
fn on_signals(tx: Sender<Msg>) {
    use tokio::signal::unix::SignalKind;
    let kinds = vec![SignalKind::terminate(), SignalKind::hangup()];
    crate::control::signals::on_signals(kinds, move |_| {
        let _ = tx.send(Msg::Quit);
        false
    });
}

/// The directories whose files the panels show: the stores, the event
/// log and status files, runtime state, and the research intake.
fn watched(ws: &Workspace) -> Vec<PathBuf> {
    let layout = crate::defs::layout::Layout::of(&ws.agents);
    let mut dirs = vec![
        ws.agents.clone(),
        layout.runtime_dir(),
        layout.rel(crate::defs::layout::IDEAS_RAW),
        layout.rel(crate::defs::layout::INCIDENTS_INCOMING),
    ];
    if let Some(parent) = ws.config_path.parent() {
        dirs.push(parent.to_path_buf());
    }
    dirs.into_iter().filter(|d| d.is_dir()).collect()
}

/// Watches the state files. `pending` coalesces: one `Changed` is sent
/// until the loop takes it (clears the flag and reloads), so a daemon
/// writing hundreds of files a second wakes the loop once per reload.
fn watch(
    ws: &Workspace,
    tx: Sender<Msg>,
    pending: Arc<AtomicBool>,
) -> Option<notify::RecommendedWatcher> {
    use notify::{EventKind, RecursiveMode, Watcher};
    let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(e) = res {
            if !matches!(e.kind, EventKind::Access(_)) && !pending.swap(true, Ordering::AcqRel) {
                let _ = tx.send(Msg::Changed);
            }
        }
    })
    .ok()?;
    for d in watched(ws) {
        let _ = w.watch(&d, RecursiveMode::NonRecursive);
    }
    Some(w)
}

fn main_loop(ws: &Workspace) -> io::Result<()> {
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(io::stdout()))?;
    let (tx, rx) = mpsc::channel();
    read_keys(tx.clone());
    on_signals(tx.clone());
    let pending = Arc::new(AtomicBool::new(false));
    let _watcher = watch(ws, tx.clone(), pending.clone());
    let mut app = app::App::new(app::Snapshot::load(ws));
    app.tx = Some(tx);
    app.gate = Some(crate::control::health::report(&ws.config_path, false));
    let mut loaded = Instant::now();
    // While a process owns the workspace, when its lock was last probed.
    let mut probed = Instant::now();
    // Since when the data is stale (a file event came), if it is.
    let mut dirty: Option<Instant> = None;
    let mut gap = SETTLE;
    let mut draw = true;
    let mut drawn = Instant::now();
    while !app.quit {
        let running = app
            .snapshot
            .status
            .as_ref()
            .is_ok_and(|s| s.runtime.process_running);
        // An unreadable status is probed like a running process.
        let owned = running || app.snapshot.status.is_err();
        if draw || drawn.elapsed() >= TICK {
            app.now = crate::defs::clock::now();
            terminal.draw(|f| view::render(f, &app))?;
            drawn = Instant::now();
            draw = false;
        }
        let until_due = match dirty {
            // A burst of writes (an add-task is several) settles first;
            // under a steady stream the reload comes after `gap`.
            Some(since) => QUIET
                .saturating_sub(since.elapsed())
                .max(gap.saturating_sub(loaded.elapsed())),
            None if owned => RELOAD.saturating_sub(probed.elapsed()),
            None => RELOAD_IDLE.saturating_sub(loaded.elapsed()),
        };
        match rx.recv_timeout(until_due.min(TICK.saturating_sub(drawn.elapsed()))) {
            Ok(Msg::Key(k)) => {
                app.key(ws, k);
                draw = true;
            }
            // A file event only marks the data stale: a busy daemon writes
            // many a second, and they share one reload (and one draw).
            Ok(Msg::Changed) => {
                dirty.get_or_insert_with(Instant::now);
            }
            Ok(Msg::Tick) => draw = true,
            Err(RecvTimeoutError::Timeout) => {}
            Ok(Msg::Notice(n)) => {
                app.notify(n);
                app.reload = true;
            }
            Ok(Msg::Quit) | Err(RecvTimeoutError::Disconnected) => app.quit = true,
        }
        let mut due = match dirty {
            Some(since) => since.elapsed() >= QUIET && loaded.elapsed() >= gap,
            None => !owned && loaded.elapsed() >= RELOAD_IDLE,
        };
        if dirty.is_none() && owned && probed.elapsed() >= RELOAD {
            probed = Instant::now();
            due = crate::control::status::process_running(ws) != running;
        }
        if app.reload || due {
            // Writes from here on wake the loop again.
            pending.store(false, Ordering::Release);
            let started = Instant::now();
            let fresh = app::Snapshot::load_after(ws, Some(&mut app.snapshot));
            app.replace_snapshot(fresh);
            // Reloading takes at most a fifth of the time, within the
            // latency target.
            gap = (started.elapsed() * 5).clamp(SETTLE, MAX_GAP);
            app.reload = false;
            dirty = None;
            draw = true;
            loaded = Instant::now();
            probed = loaded;
        }
    }
    Ok(())
}
