//! Codex CLI: `codex exec --json … -o <last> -` with the prompt on stdin
//! (runner-clis.md). The final message is the `-o` file; token usage is the
//! sum of `turn.completed` usages; `turn.failed` marks a failed agent call.

use serde_json::Value;

use crate::defs::records::{Fault, Usage};

use super::{
    executable, fault, network_allowed, run_with_prompt, Adapter, StageRequest, StageResult,
};

pub struct Codex;

impl Codex {
    pub fn args(req: &StageRequest) -> Vec<String> {
        let mut a: Vec<String> = ["exec", "--json", "--skip-git-repo-check"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if let Some(m) = &req.model {
            a.extend(["-m".into(), m.clone()]);
        }
        if let Some(e) = req.effort {
            a.extend([
                "-c".into(),
                format!("model_reasoning_effort=\"{}\"", e.as_str()),
            ]);
        }
        // No session file per stage; millrace keeps its own records.
        a.push("--ephemeral".into());
        match req.config.sandbox.as_deref().unwrap_or("workspace-write") {
            "bypass" => a.push("--dangerously-bypass-approvals-and-sandbox".into()),
            mode => {
                a.extend(["--sandbox".into(), mode.to_string()]);
                if mode == "workspace-write" && network_allowed(req) {
                    // workspace-write has no network unless asked for, and
                    // MILLRACE_ALLOW_NETWORK tells the agent it has it.
                    a.extend([
                        "-c".into(),
                        "sandbox_workspace_write.network_access=true".into(),
                    ]);
                }
            }
        }
        // Codex 0.169 takes retry caps only per custom provider
        // (`model_providers.<id>.request_max_retries`); top-level keys are
        // ignored with a warning and the built-in `openai` provider cannot
        // be overridden. A custom provider's caps go in `args`.
        a.extend(["-C".into(), req.workspace.display().to_string()]);
        a.extend(["-o".into(), req.paths.last.display().to_string()]);
        a.extend(req.config.args.iter().cloned());
        a.push("-".into());
        a
    }
}

impl Adapter for Codex {
    fn run(&self, req: &StageRequest) -> StageResult {
        let program = executable(req.kind, &req.config).expect("codex has a default executable");
        let exit = match run_with_prompt(req, &program, &Codex::args(req)) {
            Ok(exit) => exit,
            Err(failed) => return *failed,
        };
        let events = std::fs::read_to_string(&req.paths.stdout).unwrap_or_default();
        let parsed = parse_events(&events);
        let final_text = std::fs::read_to_string(&req.paths.last)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .or(parsed.last_agent_message.clone());
        let fault = parsed.fault(exit.timed_out || exit.stalled);
        StageResult {
            exit,
            final_text,
            usage: parsed.usage,
            session_id: parsed.thread_id,
            agent_error: parsed.failure,
            fault,
            invocation: None,
            outcome_in_final_text: false,
        }
    }
}

#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    pub thread_id: Option<String>,
    pub usage: Option<Usage>,
    pub failure: Option<String>,
    pub last_agent_message: Option<String>,
    /// The last `error` event (Codex's retry notices: `Reconnecting… 3/5`).
    pub last_error_event: Option<String>,
}

impl Parsed {
    /// The environment fault the stream shows: a `turn.failed` naming one,
    /// or (when the stage was cut off) reconnect notices with no answer.
    pub fn fault(&self, cut_off: bool) -> Option<Fault> {
        if let Some(f) = self.failure.as_deref().and_then(fault::fault) {
            return Some(f);
        }
        if cut_off && self.last_agent_message.is_none() {
            return self.last_error_event.as_deref().and_then(fault::fault);
        }
        None
    }
}

/// Reads Codex's JSONL event stream leniently (unknown events are ignored).
pub fn parse_events(text: &str) -> Parsed {
    let mut p = Parsed::default();
    // Turns started and not completed: a Codex turn reports its usage only
    // when it completes, so a turn cut off mid-way spent an unknown amount.
    let mut open_turns = 0u32;
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        match v["type"].as_str() {
            Some("thread.started") => p.thread_id = v["thread_id"].as_str().map(str::to_string),
            Some("turn.started") => open_turns += 1,
            Some("turn.failed") if open_turns > 0 => {
                open_turns -= 1;
                p.failure = Some(
                    v["error"]["message"]
                        .as_str()
                        .unwrap_or("turn failed")
                        .to_string(),
                );
            }
            Some("turn.completed") => {
                open_turns = open_turns.saturating_sub(1);
                let u = &v["usage"];
                let n = |k: &str| super::count(&u[k]);
                let usage = p.usage.get_or_insert_with(Usage::default);
                // Codex's input_tokens already include the cached ones.
                usage.input = usage.input.saturating_add(n("input_tokens"));
                usage.cached_input = usage.cached_input.saturating_add(n("cached_input_tokens"));
                usage.cache_write = usage
                    .cache_write
                    .saturating_add(n("cache_write_input_tokens"));
                usage.output = usage.output.saturating_add(n("output_tokens"));
                usage.reasoning_output = usage
                    .reasoning_output
                    .saturating_add(n("reasoning_output_tokens"));
                usage.total = super::sum(&[usage.input, usage.cache_write, usage.output]);
            }
            Some("turn.failed") => {
                p.failure = Some(
                    v["error"]["message"]
                        .as_str()
                        .unwrap_or("turn failed")
                        .to_string(),
                );
            }
            Some("error") => p.last_error_event = v["message"].as_str().map(str::to_string),
            Some("item.completed") if v["item"]["type"] == "agent_message" => {
                p.last_agent_message = v["item"]["text"].as_str().map(str::to_string);
            }
            _ => {}
        }
    }
    if open_turns > 0 {
        p.usage.get_or_insert_with(Usage::default).partial = true;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defs::records::AttemptClass;

    #[test]
    fn sums_usage_and_keeps_thread_and_message() {
        let text = r#"{"type":"thread.started","thread_id":"t-1"}
{"type":"error","message":"Reconnecting... 1/5"}
{"type":"item.completed","item":{"id":"i","type":"agent_message","text":"done\n### QA_COMPLETE"}}
{"type":"turn.completed","usage":{"input_tokens":100,"cached_input_tokens":40,"output_tokens":7}}
{"type":"turn.completed","usage":{"input_tokens":10,"cached_input_tokens":0,"output_tokens":3,"reasoning_output_tokens":2}}
not json
"#;
        let p = parse_events(text);
        assert_eq!(p.thread_id.as_deref(), Some("t-1"));
        let u = p.usage.unwrap();
        assert_eq!(
            (
                u.input,
                u.cached_input,
                u.output,
                u.reasoning_output,
                u.total
            ),
            (110, 40, 10, 2, 120)
        );
        assert!(
            p.failure.is_none(),
            "an `error` line is a retry notice, not a failure"
        );
        assert!(p.last_agent_message.unwrap().ends_with("### QA_COMPLETE"));
    }

    #[test]
    fn a_turn_cut_off_mid_way_leaves_usage_partial_not_zero() {
        let text = r#"{"type":"turn.started"}
{"type":"turn.completed","usage":{"input_tokens":100,"output_tokens":7}}
{"type":"turn.started"}
{"type":"item.completed","item":{"type":"command_execution"}}
"#;
        let u = parse_events(text).usage.unwrap();
        assert!(u.partial);
        assert_eq!((u.input, u.output), (100, 7));
        let u = parse_events("{\"type\":\"turn.started\"}\n").usage.unwrap();
        assert!(u.partial, "no completed turn: unknown, not zero");
        let whole = r#"{"type":"turn.started"}
{"type":"turn.completed","usage":{"input_tokens":1,"output_tokens":1}}
"#;
        assert!(!parse_events(whole).usage.unwrap().partial);
    }

    #[test]
    fn failures_are_classed_from_the_stream() {
        let auth =
            r#"{"type":"turn.failed","error":{"message":"unexpected status 401 Unauthorized"}}"#;
        assert_eq!(
            parse_events(auth).fault(false).unwrap().class,
            AttemptClass::Auth
        );
        let task = r#"{"type":"turn.failed","error":{"message":"the model refused"}}"#;
        assert!(parse_events(task).fault(false).is_none());
        // Cut off while reconnecting: the provider is unreachable.
        let hang = r#"{"type":"error","message":"Reconnecting... 3/5 (stream disconnected before completion)"}"#;
        assert!(parse_events(hang).fault(false).is_none());
        assert_eq!(
            parse_events(hang).fault(true).unwrap().class,
            AttemptClass::Unavailable
        );
    }
}
