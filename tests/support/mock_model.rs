//! A mock model server for the real-CLI suite: loopback only, one thread,
//! stopped when dropped. It speaks just enough of the OpenAI Responses API
//! (Codex) and the Anthropic Messages API (Claude Code, and Pi through a
//! custom provider) for a one-turn reply, streamed as server-sent events.
//!
//! Each reply ends with the first outcome the prompt's marker contract
//! offers (`- \`### BUILDER_COMPLETE\``), so a whole loop runs; or the
//! server answers with an HTTP error, or never answers (a hung API).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the server answers model requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// A one-turn reply ending with the stage's first outcome marker.
    Reply,
    /// This HTTP status with a JSON error body.
    Status(u16),
    /// Read the request, then never answer.
    Hang,
}

pub struct MockModel {
    pub port: u16,
    behaviour: Arc<Mutex<Behaviour>>,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl MockModel {
    pub fn start(behaviour: Behaviour) -> MockModel {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let behaviour = Arc::new(Mutex::new(behaviour));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, r, s) = (behaviour.clone(), requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (b, r, s) = (b.clone(), r.clone(), s.clone());
                std::thread::spawn(move || serve(conn, &b, &r, &s));
            }
        });
        MockModel {
            port,
            behaviour,
            requests,
            stop,
        }
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    /// `METHOD path` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for MockModel {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that the thread ends.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    conn: TcpStream,
    behaviour: &Mutex<Behaviour>,
    requests: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(conn.try_clone().expect("clone stream"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    let body = if chunked {
        read_chunked(&mut reader)
    } else {
        let mut b = vec![0; length];
        let _ = reader.read_exact(&mut b);
        b
    };
    let body = String::from_utf8_lossy(&body).into_owned();
    requests.lock().unwrap().push(format!("{method} {path}"));
    let mut out = conn;
    let is_model_call = path.contains("/responses") || path.contains("/messages");
    if !is_model_call {
        let _ = respond(
            &mut out,
            404,
            "application/json",
            r#"{"error":{"message":"not here"}}"#,
        );
        return;
    }
    let now = behaviour.lock().unwrap().clone();
    match now {
        Behaviour::Status(code) => {
            let body = format!(
                r#"{{"type":"error","error":{{"type":"api_error","message":"mock status {code}"}}}}"#
            );
            let _ = respond(&mut out, code, "application/json", &body);
        }
        Behaviour::Hang => {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Behaviour::Reply => {
            let marker = first_outcome(&body).unwrap_or_else(|| "DONE".to_string());
            let text = format!("Done by the mock model.\n### {marker}");
            let streaming = body.contains("\"stream\":true");
            let _ = if path.contains("/responses") {
                respond(&mut out, 200, "text/event-stream", &responses_stream(&text))
            } else if streaming {
                respond(&mut out, 200, "text/event-stream", &messages_stream(&text))
            } else {
                respond(&mut out, 200, "application/json", &message_json(&text))
            };
        }
    }
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        if reader.read_line(&mut size).unwrap_or(0) == 0 {
            break;
        }
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            let _ = reader.read_line(&mut size);
            break;
        }
        let mut chunk = vec![0; n + 2];
        if reader.read_exact(&mut chunk).is_err() {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body
}

fn respond(out: &mut TcpStream, code: u16, ty: &str, body: &str) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Error",
    };
    write!(
        out,
        "HTTP/1.1 {code} {reason}\r\ncontent-type: {ty}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}

/// The first outcome the prompt's marker contract offers, read from the
/// JSON request body (where the prompt's newlines are `\n`).
fn first_outcome(body: &str) -> Option<String> {
    let contract = body.rfind("naming the outcome, one of:")?;
    let rest = &body[contract..];
    let at = rest.find("### ")? + 4;
    let marker: String = rest[at..]
        .chars()
        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
        .collect();
    (!marker.is_empty()).then_some(marker)
}

fn sse(events: &[(&str, serde_json::Value)]) -> String {
    events
        .iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect()
}

fn responses_stream(text: &str) -> String {
    use serde_json::json;
    let item = json!({"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}]});
    sse(&[
        (
            "response.created",
            json!({"type": "response.created", "response": {"id": "resp_1", "object": "response", "status": "in_progress", "output": []}}),
        ),
        (
            "response.output_item.added",
            json!({"type": "response.output_item.added", "output_index": 0,
            "item": {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress", "content": []}}),
        ),
        (
            "response.output_text.delta",
            json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": text}),
        ),
        (
            "response.output_item.done",
            json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        ),
        (
            "response.completed",
            json!({"type": "response.completed", "response": {"id": "resp_1", "object": "response", "status": "completed", "output": [item],
            "usage": {"input_tokens": 120, "input_tokens_details": {"cached_tokens": 20}, "output_tokens": 12,
                "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 132}}}),
        ),
    ])
}

fn messages_stream(text: &str) -> String {
    use serde_json::json;
    sse(&[
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 100, "output_tokens": 1, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 10}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ])
}

fn message_json(text: &str) -> String {
    serde_json::json!({"id": "msg_2", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 5, "output_tokens": 2}})
    .to_string()
}
