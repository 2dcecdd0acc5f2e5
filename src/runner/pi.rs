//! Pi coding agent in RPC mode: `pi --mode rpc --no-session …`, JSON lines
//! both ways (runner-clis.md). We turn auto-retry off so the first
//! `agent_end` is final, send the prompt, then ask for the last assistant
//! text and the session's token stats, and close stdin to end the process.
//! On timeout we send `abort`, then the process group is terminated.

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::defs::records::Usage;

use super::{
    command, executable, failed_to_start, fault, note_timeout, process, Adapter, StageRequest,
    StageResult,
};

pub struct Pi;

impl Pi {
    pub fn args(req: &StageRequest) -> Vec<String> {
        let mut a: Vec<String> = ["--mode", "rpc", "--no-session"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if let Some(p) = &req.config.provider {
            a.extend(["--provider".into(), p.clone()]);
        }
        if let Some(m) = &req.model {
            a.extend(["--model".into(), m.clone()]);
        }
        if let Some(e) = req.effort {
            a.extend(["--thinking".into(), e.as_str().to_string()]);
        }
        a.extend(["--no-context-files".into(), "--no-skills".into()]);
        a.extend(req.config.args.iter().cloned());
        a
    }
}

impl Adapter for Pi {
    fn run(&self, req: &StageRequest) -> StageResult {
        let program = executable(req.kind, &req.config).expect("pi has a default executable");
        let mut cmd = command(req, &program, &Pi::args(req), "rpc");
        let (stdout_log, stderr) = match super::output_files(req) {
            Ok(f) => f,
            Err(e) => return failed_to_start(req, format!("cannot create stage logs: {e}")),
        };
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        let started = Instant::now();
        let mut child = match process::spawn_in_group(&mut cmd, &req.group) {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::write(
                    &req.paths.stderr,
                    format!("cannot start `{program}`: {e}\n"),
                );
                return StageResult {
                    exit: process::Exit::spawn_failed(&e),
                    ..StageResult::default()
                };
            }
        };
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let rx = read_records(stdout, stdout_log);
        let deadline = started + req.timeout;
        let mut session = Session {
            stdin: Some(stdin),
            rx,
            deadline,
            stall: req.stall,
            stalled: false,
        };
        let mut outcome = session.converse(&req.prompt);
        if session.stalled {
            outcome.timed_out = false;
        }
        if outcome.timed_out || session.stalled {
            session.send(&json!({"type": "abort"}));
        }
        drop(session.stdin.take());
        let mut exit = process::wait(
            child,
            started,
            if outcome.timed_out || session.stalled {
                Duration::ZERO
            } else {
                req.timeout
            },
            &req.group,
            None,
        );
        exit.timed_out = outcome.timed_out;
        exit.stalled = session.stalled;
        if exit.timed_out {
            exit.code = Some(124);
        }
        note_timeout(req, &exit);
        StageResult {
            exit,
            final_text: outcome.text,
            usage: outcome.usage,
            session_id: outcome.session_id,
            fault: outcome.error.as_deref().and_then(fault::fault),
            agent_error: outcome.error,
            invocation: None,
            outcome_in_final_text: false,
        }
    }
}

/// Adds one assistant message's `usage` (Pi's `input` excludes the cache
/// reads and writes, which it reports apart).
fn add_call(u: &mut Usage, call: &Value) {
    let n = |k: &str| super::count(&call[k]);
    u.input = u
        .input
        .saturating_add(super::sum(&[n("input"), n("cacheRead"), n("cacheWrite")]));
    u.cached_input = u.cached_input.saturating_add(n("cacheRead"));
    u.cache_write = u.cache_write.saturating_add(n("cacheWrite"));
    u.output = u.output.saturating_add(n("output"));
    u.total = u.total.saturating_add(super::sum(&[
        n("input"),
        n("cacheRead"),
        n("cacheWrite"),
        n("output"),
    ]));
    if let Some(cost) = call["cost"]["total"].as_f64() {
        u.cost_usd = Some(u.cost_usd.unwrap_or(0.0) + cost);
    }
}

/// Reads Pi's JSON records from `stdout` on a thread, logging each (but the
/// bulky streaming snapshots) to `log`. Records are split on LF only: JSON
/// strings may contain U+2028.
fn read_records(stdout: std::process::ChildStdout, log: std::fs::File) -> Receiver<Value> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut log = log;
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            if let Ok(v) = serde_json::from_slice::<Value>(&line) {
                // Streaming snapshots are bulky and add nothing to the log.
                if v["type"] != "message_update" {
                    let _ = log.write_all(&line);
                }
                if tx.send(v).is_err() {
                    break;
                }
            } else {
                let _ = log.write_all(&line);
            }
            line.clear();
        }
    });
    rx
}

struct Session {
    stdin: Option<ChildStdin>,
    rx: Receiver<Value>,
    deadline: Instant,
    /// End the conversation when Pi sends nothing for this long.
    stall: Option<Duration>,
    stalled: bool,
}

#[derive(Default)]
struct Conversation {
    text: Option<String>,
    usage: Option<Usage>,
    session_id: Option<String>,
    error: Option<String>,
    timed_out: bool,
}

impl Session {
    fn send(&mut self, v: &Value) -> bool {
        let Some(stdin) = self.stdin.as_mut() else {
            return false;
        };
        let mut line = v.to_string();
        line.push('\n');
        stdin
            .write_all(line.as_bytes())
            .and_then(|_| stdin.flush())
            .is_ok()
    }

    /// Next message, or `Err(true)` on timeout or stall, `Err(false)` when
    /// the agent closed its output.
    fn next(&mut self) -> Result<Value, bool> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        let wait = self.stall.map_or(left, |s| s.min(left));
        match self.rx.recv_timeout(wait) {
            Ok(v) => Ok(v),
            Err(RecvTimeoutError::Timeout) => {
                // Silent for the stall limit before the deadline: a stall.
                self.stalled = wait < left;
                Err(true)
            }
            Err(RecvTimeoutError::Disconnected) => Err(false),
        }
    }

    /// Waits for the response to request `id`.
    fn response(&mut self, id: &str) -> Result<Value, bool> {
        loop {
            let v = self.next()?;
            if v["type"] == "response" && v["id"] == id {
                return Ok(v);
            }
        }
    }

    /// `get_session_stats`: the session id and the whole conversation's
    /// usage and cost.
    fn session_stats(&mut self) -> Option<(Option<String>, Usage)> {
        self.send(&json!({"id": "s1", "type": "get_session_stats"}));
        let v = self.response("s1").ok()?;
        let session_id = v["data"]["sessionId"]
            .as_str()
            .or_else(|| v["data"]["sessionFile"].as_str())
            .map(str::to_string);
        let t = &v["data"]["tokens"];
        let n = |k: &str| super::count(&t[k]);
        let cost = v["data"]["cost"]
            .as_f64()
            .or_else(|| v["data"]["cost"]["total"].as_f64());
        let usage = Usage {
            input: super::sum(&[n("input"), n("cacheRead"), n("cacheWrite")]),
            cached_input: n("cacheRead"),
            cache_write: n("cacheWrite"),
            output: n("output"),
            reasoning_output: 0,
            total: n("total"),
            cost_usd: cost,
            ..Usage::default()
        };
        Some((session_id, usage))
    }

    fn converse(&mut self, prompt: &str) -> Conversation {
        let mut c = Conversation::default();
        // Each model call's usage as its `message_end` reports it: what a
        // conversation cut off before the session stats spent, at least.
        let mut seen: Option<Usage> = None;
        self.send(&json!({"id": "retry", "type": "set_auto_retry", "enabled": false}));
        if !self.send(&json!({"id": "p1", "type": "prompt", "message": prompt})) {
            c.error = Some("pi closed its input before the prompt was sent".into());
            return c;
        }
        loop {
            match self.next() {
                Ok(v) if v["type"] == "agent_end" => {
                    if let Some(last) = v["messages"].as_array().and_then(|m| m.last()) {
                        if last["stopReason"] == "error" {
                            c.error = Some(
                                last["errorMessage"]
                                    .as_str()
                                    .unwrap_or("agent error")
                                    .to_string(),
                            );
                        }
                    }
                    break;
                }
                Ok(v) if v["type"] == "response" && v["id"] == "p1" && v["success"] == false => {
                    c.error = Some(v["error"].as_str().unwrap_or("prompt rejected").to_string());
                    return c;
                }
                Ok(v) if v["type"] == "message_end" && v["message"]["role"] == "assistant" => {
                    add_call(
                        seen.get_or_insert_with(Usage::default),
                        &v["message"]["usage"],
                    );
                }
                Ok(_) => {}
                Err(timed_out) => {
                    c.timed_out = timed_out;
                    if !timed_out {
                        c.error = Some("pi exited before the agent finished".into());
                    }
                    c.usage = seen.map(|u| Usage { partial: true, ..u });
                    return c;
                }
            }
        }
        self.send(&json!({"id": "t1", "type": "get_last_assistant_text"}));
        match self.response("t1") {
            Ok(v) => c.text = v["data"]["text"].as_str().map(str::to_string),
            Err(t) => c.timed_out = t,
        }
        // Until the session stats answer, what the calls reported.
        c.usage = seen.clone().filter(|u| u.total > 0);
        if let Some((session_id, usage)) = self.session_stats() {
            c.session_id = session_id;
            // A failed call that used nothing records no usage, as the
            // other adapters do.
            c.usage = Some(usage).filter(|u| c.error.is_none() || u.total > 0);
        }
        c
    }
}
