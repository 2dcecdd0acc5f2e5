//! `millrace tui` end to end under tmux: panels switch on keys, help opens,
//! a live daemon is paused and resumed from the TUI, and `q` quits with the
//! terminal restored. Skipped (and says so) where tmux is not installed.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::Ws;

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
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
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux is not installed: the TUI end-to-end test is skipped");
        return;
    }
    let ws = Ws::with_init(&["--demo"]);
    ws.add("Queued for the view");
    let session = format!("millrace-tui-{}", std::process::id());
    let bin = env!("CARGO_BIN_EXE_millrace");
    let cmd = format!("{bin} --config {} tui", ws.config().display());
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "80",
        "-y",
        "24",
        &cmd,
    ]);
    let _kill = KillOnDrop(session.clone());
    // The startup health gate first.
    until_shown(&session, "Enter: continue");
    tmux(&["send-keys", "-t", &session, "Enter"]);
    until_shown(&session, "1 Overview");
    until_shown(&session, "Backlog: 2");
    tmux(&["send-keys", "-t", &session, "2"]);
    until_shown(&session, "Queued for the view");
    tmux(&["send-keys", "-t", &session, "?"]);
    until_shown(&session, "close help");
    tmux(&["send-keys", "-t", &session, "Escape"]);
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
    tmux(&["send-keys", "-t", &session, "p"]);
    until_shown(&session, "engine paused");
    tmux(&["send-keys", "-t", &session, "1"]);
    until_shown(&session, "paused");
    tmux(&["send-keys", "-t", &session, "u"]);
    until_shown(&session, "engine resumed");
    tmux(&["send-keys", "-t", &session, "q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux(&["has-session", "-t", &session]).is_empty()
        && Command::new("tmux")
            .args(["has-session", "-t", &session])
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
