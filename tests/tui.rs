//! `millrace tui`: every panel rendered at 80×24 from a real workspace
//! (insta snapshots, with times and ids masked), and the binary end to end
//! under tmux: every panel, adding a task, the expanded stream, the
//! palette, help, pausing and resuming a live daemon, quitting. The tmux
//! test is skipped (and says so) where tmux is not installed.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{OutputWithin, Ws};

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts `cmd` in a detached 80×24 tmux session, killed on drop.
fn session(name: &str, cmd: &str) -> KillOnDrop {
    tmux(&["new-session", "-d", "-s", name, "-x", "80", "-y", "24", cmd]);
    KillOnDrop(name.to_string())
}

/// Waits (bounded) until the pane shows `text`; returns the pane.
fn until_shown(session: &str, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let pane = tmux(&["capture-pane", "-t", session, "-p"]);
        if pane.contains(text) {
            return pane;
        }
        assert!(Instant::now() < deadline, "`{text}` never shown:\n{pane}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_tui_switches_panels_and_pauses_and_resumes_a_daemon() {
    if support::skip_without("tmux", "the TUI end-to-end test") {
        return;
    }
    let ws = Ws::with_init(&["--demo"]);
    ws.add("Queued for the view");
    let name = format!("millrace-tui-{}", std::process::id());
    let bin = env!("CARGO_BIN_EXE_millrace");
    let cmd = format!(
        "env MILLRACE_NOW={} {bin} --config {} tui",
        support::pinned_now(),
        ws.config().display()
    );
    let _kill = session(&name, &cmd);
    // The startup health gate first.
    until_shown(&name, "Enter: continue");
    tmux(&["send-keys", "-t", &name, "Enter"]);
    until_shown(&name, "1 Overview");
    until_shown(&name, "Backlog: 2");
    tmux(&["send-keys", "-t", &name, "2"]);
    until_shown(&name, "Queued for the view");
    // Add a task through the form: it lands in the backlog store.
    tmux(&["send-keys", "-t", &name, "a"]);
    until_shown(&name, "New task title");
    tmux(&["send-keys", "-t", &name, "-l", "Added from the TUI"]);
    tmux(&["send-keys", "-t", &name, "Enter"]);
    until_shown(&name, "Added from the TUI");
    assert!(
        ws.backlog_titles()
            .iter()
            .any(|t| t == "Added from the TUI"),
        "{:?}",
        ws.backlog_titles()
    );
    tmux(&["send-keys", "-t", &name, "3"]);
    until_shown(&name, "Runs —");
    tmux(&["send-keys", "-t", &name, "4"]);
    until_shown(&name, "Mode: auto");
    tmux(&["send-keys", "-t", &name, "5"]);
    until_shown(&name, "task added: Added from the TUI");
    tmux(&["send-keys", "-t", &name, "6"]);
    until_shown(&name, "config hash");
    tmux(&["send-keys", "-t", &name, "7"]);
    until_shown(&name, "Status: skip_publish");
    // The expanded stream, the palette and help open and close.
    tmux(&["send-keys", "-t", &name, "e"]);
    until_shown(&name, "Events — operator, following");
    tmux(&["send-keys", "-t", &name, "Escape"]);
    tmux(&["send-keys", "-t", &name, ":"]);
    until_shown(&name, "Command palette");
    tmux(&["send-keys", "-t", &name, "-l", "show over"]);
    until_shown(&name, "show Overview");
    tmux(&["send-keys", "-t", &name, "Enter"]);
    until_shown(&name, "Daemon: not running");
    // `start once` from the palette runs in the background and reports.
    tmux(&["send-keys", "-t", &name, ":"]);
    tmux(&["send-keys", "-t", &name, "-l", "start once"]);
    tmux(&["send-keys", "-t", &name, "Enter"]);
    until_shown(&name, "start --once: exited with 0");
    until_shown(&name, "Last run: archived");
    tmux(&["send-keys", "-t", &name, "?"]);
    until_shown(&name, "command palette");
    tmux(&["send-keys", "-t", &name, "Escape"]);
    // A live daemon, paused and resumed from the TUI through its mailbox.
    ws.write("fake/builder", "WAITGO\n");
    ws.run(&["config", "set", "plan.mode", "standard"]).code(0);
    let mut daemon = ws
        .command(&["start", "--daemon"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ws.path("fake/builder.started").exists() {
        assert!(
            Instant::now() < deadline,
            "the daemon's builder never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    until_shown(&name, "Daemon: running");
    until_shown(&name, "Stage: `builder` attempt 1");
    tmux(&["send-keys", "-t", &name, "p"]);
    until_shown(&name, "engine paused");
    until_shown(&name, "Daemon: paused");
    tmux(&["send-keys", "-t", &name, "u"]);
    until_shown(&name, "engine resumed");
    until_shown(&name, "Daemon: running");
    tmux(&["send-keys", "-t", &name, "q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux(&["has-session", "-t", &name]).is_empty()
        && Command::new("tmux")
            .args(["has-session", "-t", &name])
            .status()
            .is_ok_and(|s| s.success())
    {
        assert!(Instant::now() < deadline, "the TUI did not quit");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::write(ws.path("fake/go"), "").unwrap();
    ws.run(&["stop"]).code(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while daemon.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the daemon did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct KillOnDrop(String);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

/// Renders `app` on an 80×24 test terminal, as text.
fn screen(app: &millrace::tui::app::App) -> String {
    millrace::tui::view::text(app, 80, 24)
}

#[test]
fn every_panel_renders_at_80x24_from_a_real_workspace() {
    use millrace::tui::app::{App, Overlay, Panel, Snapshot};
    let ws = Ws::with_init(&["--demo"]);
    ws.run(&["start", "--once"]).code(0);
    ws.add("Queued for the view");
    let open = millrace::control::Workspace::open(&ws.config()).unwrap();
    let mut app = App::new(Snapshot::load(&open));
    // A fixed clock: elapsed times are measured from here.
    app.now = "2030-01-01T00:00:00Z".parse().unwrap();
    let mut settings = insta::Settings::clone_current();
    // Times, run ids, hashes, durations and the temp dir differ per run;
    // their widths do not, so the layout does not move.
    settings.add_filter(r"\d{8}T\d+Z__\d{4}-\d\d-\d\d", "[RUN]");
    settings.add_filter(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "[TIME]");
    settings.add_filter(r"\b\d\d:\d\d:\d\d\b", "[HMS]");
    settings.add_filter(r"\b\d\d-\d\d \d\d:\d\d\b", "[MM-DD HH:MM]");
    settings.add_filter(r"\b[0-9a-f]{12,64}\b", "[HASH]");
    settings.add_filter(r"\b20\d\d-\d\d-\d\d__", "[DATE]__");
    settings.add_filter(r"\d+\.\ds\b", "[DUR]");
    settings.add_filter(r"/[^ │]*/\.tmp[^ │/]*", "[TMP]");
    settings.add_filter(r"(\d+h)?\d+m\d\ds|\b\d+s\b", "[AGO]");
    let _guard = settings.bind_to_scope();
    for (n, panel) in Panel::ALL.into_iter().enumerate() {
        app.panel = panel;
        if panel == Panel::Publish {
            app.snapshot.load_preflight(&open);
        }
        let text = screen(&app);
        assert!(
            text.contains(&format!("{} {}", n + 1, panel.title())),
            "{text}"
        );
        insta::assert_snapshot!(format!("tui_panel_{}", panel.title().to_lowercase()), text);
    }
    // The run-detail view of the run `start --once` made.
    app.panel = Panel::Runs;
    let run_id = app.snapshot.runs[0].meta.run_id.clone();
    app.snapshot.load_detail(&open, &run_id);
    app.overlay = Overlay::RunDetail { run_id, scroll: 0 };
    let detail = screen(&app);
    assert!(detail.contains("plan "), "{detail}");
    assert!(detail.contains("verified"), "{detail}");
    insta::assert_snapshot!("tui_run_detail", detail);
    app.overlay = Overlay::Stream;
    let stream = screen(&app);
    assert!(
        stream.contains("task done and archived") || stream.contains("done and archived"),
        "{stream}"
    );
    insta::assert_snapshot!("tui_stream_operator", stream);
}

/// SIGTERM ends the TUI with the terminal restored: it leaves the
/// alternate screen and exits 0 (a shell around it prints the status).
#[test]
fn sigterm_restores_the_terminal() {
    if support::skip_without("tmux", "the TUI signal test") {
        return;
    }
    let ws = Ws::with_init(&["--demo"]);
    let name = format!("millrace-tui-term-{}", std::process::id());
    let bin = env!("CARGO_BIN_EXE_millrace");
    let cmd = format!(
        "sh -c 'MILLRACE_NOW={} {bin} --config {} tui; echo tui-exit=$?; sleep 30'",
        support::pinned_now(),
        ws.config().display()
    );
    let _kill = session(&name, &cmd);
    until_shown(&name, "Enter: continue");
    tmux(&["send-keys", "-t", &name, "Enter"]);
    until_shown(&name, "1 Overview");
    let alt = tmux(&["display", "-p", "-t", &name, "#{alternate_on}"]);
    assert_eq!(alt.trim(), "1", "the TUI draws on the alternate screen");
    let shell = tmux(&["display", "-p", "-t", &name, "#{pane_pid}"]);
    let out = Command::new("pgrep")
        .args(["-P", shell.trim(), "millrace"])
        .output_within();
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!pid.is_empty(), "no millrace under the pane's shell");
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let pane = until_shown(&name, "tui-exit=");
    assert!(pane.contains("tui-exit=0"), "{pane}");
    let alt = tmux(&["display", "-p", "-t", &name, "#{alternate_on}"]);
    assert_eq!(alt.trim(), "0", "the alternate screen was left");
}

/// A hostile workspace (fifos for the event log and the backlog) does not
/// block the view: each panel says what it cannot read, naming the file.
#[test]
fn fifos_in_the_workspace_do_not_block_the_view() {
    use millrace::tui::app::{App, Panel, Snapshot};
    let ws = Ws::with_init(&["--demo"]);
    for f in ["agents/engine_events.log", "agents/tasksbacklog.md"] {
        let p = ws.path(f);
        let _ = std::fs::remove_file(&p);
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    }
    let open = millrace::control::Workspace::open(&ws.config()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut app = App::new(Snapshot::load(&open));
        let mut screens = Vec::new();
        for p in [Panel::Queue, Panel::Logs] {
            app.panel = p;
            screens.push(screen(&app));
        }
        let _ = tx.send(screens);
    });
    let screens = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the view blocked on a fifo");
    assert!(screens[0].contains("queue unavailable"), "{}", screens[0]);
    assert!(screens[0].contains("tasksbacklog.md"), "{}", screens[0]);
    assert!(screens[1].contains("events unavailable"), "{}", screens[1]);
    assert!(screens[1].contains("engine_events.log"), "{}", screens[1]);
}

/// Without a terminal the TUI refuses with a usage error that says what to
/// use instead (rather than a raw I/O error from the terminal setup).
#[test]
fn without_a_terminal_the_tui_says_what_to_use_instead() {
    let ws = Ws::with_init(&["--demo"]);
    let out = ws
        .command(&["tui"])
        .stdin(std::process::Stdio::null())
        .output_within();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a terminal"), "{err}");
    assert!(err.contains("logs --follow"), "{err}");
}

/// Escape sequences in stored data (a hand-edited card title) never reach
/// the terminal: the TUI shows control pictures, the CLI's text shows
/// `\x1b`, and `--json` keeps the exact data.
#[test]
fn escape_sequences_in_data_never_reach_the_terminal() {
    use millrace::tui::app::{App, Panel, Snapshot};
    let ws = Ws::new();
    let title = "Evil \u{1b}]0;pwned\u{7} \u{1b}[5mblink\u{9b}2J";
    let mut tasks = ws.read("agents/tasks.md");
    tasks.push_str(&format!("\n## {} - {title}\n\nbody\n", support::TODAY));
    ws.write("agents/tasks.md", &tasks);
    let open = millrace::control::Workspace::open(&ws.config()).unwrap();
    let mut app = App::new(Snapshot::load(&open));
    for panel in Panel::ALL {
        app.panel = panel;
        let text = screen(&app);
        assert!(
            !text.chars().any(millrace::defs::text::is_unsafe),
            "{panel:?}: {text:?}"
        );
    }
    app.panel = Panel::Queue;
    assert!(screen(&app).contains("Evil ␛]0;pwned␇"), "{}", screen(&app));
    let text = ws.run(&["queue"]).code(0).stdout;
    assert!(
        text.contains(r"Evil \x1b]0;pwned\x07 \x1b[5mblink\u{9b}2J"),
        "{text}"
    );
    let json = ws.run(&["queue", "--json"]).code(0).json();
    assert!(json.to_string().contains(r"\u001b]0;pwned"), "{json}");
}
