//! Claude Code: `claude -p --output-format stream-json --verbose …` with the
//! prompt on stdin (runner-clis.md). The final text, usage and cost come
//! from the `result` event; success means `is_error == false`.

use serde_json::Value;

use crate::defs::records::{AttemptClass, Fault, Usage};

use super::{executable, fault, run_with_prompt, Adapter, StageRequest, StageResult};

pub struct Claude;

impl Claude {
    pub fn args(req: &StageRequest) -> Vec<String> {
        let mut a: Vec<String> = ["-p", "--output-format", "stream-json", "--verbose"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if let Some(m) = &req.model {
            a.extend(["--model".into(), m.clone()]);
        }
        if let Some(e) = req.effort {
            // Claude has no `minimal`; the closest is `low`.
            let e = if e.as_str() == "minimal" {
                "low"
            } else {
                e.as_str()
            };
            a.extend(["--effort".into(), e.to_string()]);
        }
        let mode = req
            .config
            .permission_mode
            .as_deref()
            .unwrap_or("acceptEdits");
        a.extend([
            "--permission-mode".into(),
            mode.to_string(),
            "--no-session-persistence".into(),
        ]);
        if let Some(usd) = req.config.max_usd_per_stage {
            a.extend(["--max-budget-usd".into(), format!("{usd}")]);
        }
        if let Some(turns) = req.config.max_turns {
            a.extend(["--max-turns".into(), turns.to_string()]);
        }
        a.extend(req.config.args.iter().cloned());
        a
    }
}

impl Adapter for Claude {
    fn run(&self, req: &StageRequest) -> StageResult {
        let program = executable(req.kind, &req.config).expect("claude has a default executable");
        let exit = match run_with_prompt(req, &program, &Claude::args(req)) {
            Ok(exit) => exit,
            Err(failed) => return *failed,
        };
        let parsed = parse_events(&std::fs::read_to_string(&req.paths.stdout).unwrap_or_default());
        // A refusal to start (root + bypassPermissions) only says why on stderr.
        let fault = parsed.fault.clone().or_else(|| {
            (parsed.result.is_none() && exit.code.is_some_and(|c| c != 0))
                .then(|| std::fs::read_to_string(&req.paths.stderr).unwrap_or_default())
                .and_then(|e| fault::fault(&e))
        });
        StageResult {
            exit,
            final_text: parsed.result,
            usage: parsed.usage,
            session_id: parsed.session_id,
            agent_error: parsed.error,
            fault,
            invocation: None,
            outcome_in_final_text: false,
        }
    }
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub session_id: Option<String>,
    pub result: Option<String>,
    pub usage: Option<Usage>,
    pub error: Option<String>,
    pub fault: Option<Fault>,
    /// Tool calls Claude Code refused under the permission mode.
    pub permission_denials: Vec<String>,
}

pub fn parse_events(text: &str) -> Parsed {
    let mut p = Parsed::default();
    // Per model call (message id), its latest usage snapshot: the floor of
    // what a call cut off before its `result` spent.
    let mut calls: Vec<(String, Value)> = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["type"] == "system" && v["subtype"] == "init" {
            p.session_id = v["session_id"].as_str().map(str::to_string);
        }
        if v["type"] == "assistant" && v["message"]["usage"].is_object() {
            let id = v["message"]["id"].as_str().unwrap_or("").to_string();
            match calls.iter_mut().find(|(i, _)| !id.is_empty() && *i == id) {
                Some(call) => call.1 = v["message"]["usage"].clone(),
                None => calls.push((id, v["message"]["usage"].clone())),
            }
        }
        if v["type"] != "result" {
            continue;
        }
        p.result = v["result"].as_str().map(str::to_string);
        p.session_id = v["session_id"]
            .as_str()
            .map(str::to_string)
            .or(p.session_id);
        p.usage = Some(usage_of(&v));
        p.permission_denials = v["permission_denials"]
            .as_array()
            .map(|ds| ds.iter().map(denial).collect())
            .unwrap_or_default();
        if v["is_error"].as_bool().unwrap_or(false) {
            let said = v["result"].as_str().unwrap_or("");
            p.error = Some(format!(
                "claude reported an error ({}): {said}",
                v["subtype"].as_str().unwrap_or("?"),
            ));
            p.fault = fault_of(&v, said);
        } else if !p.permission_denials.is_empty() {
            // The agent could not do what it needed: the task failed.
            p.error = Some(format!(
                "permission_denied: {} refused under the permission mode",
                p.permission_denials.join("; ")
            ));
        }
    }
    if p.usage.is_none() && !calls.is_empty() {
        p.usage = Some(floor(&calls));
    }
    p
}

/// The environment fault of an `is_error` result: the API status decides;
/// else Claude's own words; else an API-side failure by Claude's own signal
/// (`terminal_reason: api_error` from 2.1.332, an `API Error:` result
/// before it). `None`: the agent's own failure.
fn fault_of(result: &Value, said: &str) -> Option<Fault> {
    let api_side =
        result["terminal_reason"] == "api_error" || said.trim_start().starts_with("API Error:");
    let class = result["api_error_status"]
        .as_u64()
        .and_then(fault::of_status)
        .or_else(|| fault::of_message(said))
        .or(api_side.then_some(AttemptClass::Unavailable));
    class.filter(|c| c.is_environment()).map(|class| Fault {
        class,
        message: fault::one_line(if said.is_empty() {
            "claude failed"
        } else {
            said
        }),
    })
}

/// A call cut off before its result: what each model call's last usage
/// snapshot showed, summed and marked partial.
fn floor(calls: &[(String, Value)]) -> Usage {
    let mut floor = Usage {
        partial: true,
        ..Usage::default()
    };
    for (_, u) in calls {
        let call = usage_of(&serde_json::json!({ "usage": u }));
        floor.input = floor.input.saturating_add(call.input);
        floor.cached_input = floor.cached_input.saturating_add(call.cached_input);
        floor.cache_write = floor.cache_write.saturating_add(call.cache_write);
        floor.output = floor.output.saturating_add(call.output);
        floor.total = floor.total.saturating_add(call.total);
    }
    floor
}

/// Usage of the whole call: `modelUsage` covers every model Claude Code
/// used (side requests such as the session title included); `usage` covers
/// only the main model and is the fallback.
fn usage_of(result: &Value) -> Usage {
    let cost = result["total_cost_usd"].as_f64();
    if let Some(models) = result["modelUsage"].as_object().filter(|m| !m.is_empty()) {
        let mut u = Usage {
            cost_usd: cost,
            ..Usage::default()
        };
        for m in models.values() {
            let n = |k: &str| super::count(&m[k]);
            let (fresh, read, write) = (
                n("inputTokens"),
                n("cacheReadInputTokens"),
                n("cacheCreationInputTokens"),
            );
            u.input = u.input.saturating_add(super::sum(&[fresh, read, write]));
            u.cached_input = u.cached_input.saturating_add(read);
            u.cache_write = u.cache_write.saturating_add(write);
            u.output = u.output.saturating_add(n("outputTokens"));
        }
        u.total = u.input.saturating_add(u.output);
        return u;
    }
    let usage = &result["usage"];
    let n = |k: &str| super::count(&usage[k]);
    // Anthropic's input_tokens exclude cache reads and writes.
    let (fresh, read, write, output) = (
        n("input_tokens"),
        n("cache_read_input_tokens"),
        n("cache_creation_input_tokens"),
        n("output_tokens"),
    );
    Usage {
        input: super::sum(&[fresh, read, write]),
        cached_input: read,
        cache_write: write,
        output,
        reasoning_output: 0,
        total: super::sum(&[fresh, read, write, output]),
        cost_usd: cost,
        ..Usage::default()
    }
}

/// One refused tool call, named for the operator (`Bash: npm test`).
fn denial(d: &Value) -> String {
    let tool = d["tool_name"].as_str().unwrap_or("tool");
    let input = &d["tool_input"];
    let what = input["command"]
        .as_str()
        .or_else(|| input["file_path"].as_str())
        .map(|s| s.chars().take(120).collect::<String>());
    match what {
        Some(w) => format!("{tool}: {w}"),
        None => tool.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defs::records::AttemptClass;

    #[test]
    fn result_event_gives_text_usage_cost_and_error_flag() {
        let ok = r#"{"type":"system","subtype":"init","session_id":"s1"}
{"type":"assistant","message":{"content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":999}}}
{"type":"result","subtype":"success","is_error":false,"result":"done\n### UPDATE_COMPLETE","session_id":"s1","total_cost_usd":0.25,"usage":{"input_tokens":10,"cache_read_input_tokens":5,"cache_creation_input_tokens":2,"output_tokens":4}}
"#;
        let p = parse_events(ok);
        assert_eq!(p.session_id.as_deref(), Some("s1"));
        assert!(p.error.is_none());
        let u = p.usage.unwrap();
        assert_eq!(
            (u.input, u.cached_input, u.cache_write, u.output, u.total),
            (17, 5, 2, 4, 21)
        );
        assert_eq!(u.cost_usd, Some(0.25));
        let bad =
            r#"{"type":"result","subtype":"success","is_error":true,"result":"Not logged in"}"#;
        let p = parse_events(bad);
        assert!(p.error.unwrap().contains("Not logged in"));
        assert_eq!(p.fault.unwrap().class, AttemptClass::Auth);
    }

    #[test]
    fn a_call_cut_off_before_its_result_records_what_its_calls_showed() {
        let text = r#"{"type":"system","subtype":"init","session_id":"s1"}
{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"a"}],"usage":{"input_tokens":5,"cache_read_input_tokens":1000,"output_tokens":2}}}
{"type":"assistant","message":{"id":"m1","content":[{"type":"tool_use"}],"usage":{"input_tokens":5,"cache_read_input_tokens":1000,"output_tokens":40}}}
{"type":"assistant","message":{"id":"m2","content":[{"type":"text","text":"b"}],"usage":{"input_tokens":7,"output_tokens":3}}}
"#;
        let u = parse_events(text).usage.unwrap();
        assert!(u.partial);
        assert_eq!((u.input, u.cached_input, u.output), (1012, 1000, 43));
        assert_eq!(u.cost_usd, None);
    }

    #[test]
    fn model_usage_covers_every_model_and_statuses_class_faults() {
        let text = r#"{"type":"result","subtype":"success","is_error":false,"result":"ok","usage":{"input_tokens":10,"output_tokens":4},"modelUsage":{"claude-sonnet-4-5":{"inputTokens":10,"outputTokens":4,"cacheReadInputTokens":5,"cacheCreationInputTokens":1,"costUSD":0.2},"claude-haiku-4-5":{"inputTokens":300,"outputTokens":20,"costUSD":0.01}},"total_cost_usd":0.21}"#;
        let u = parse_events(text).usage.unwrap();
        assert_eq!(
            (u.input, u.cached_input, u.output, u.total),
            (316, 5, 24, 340)
        );
        for (status, class) in [
            (401, AttemptClass::Auth),
            (429, AttemptClass::RateLimit),
            (529, AttemptClass::Unavailable),
        ] {
            let t = format!(
                r#"{{"type":"result","subtype":"success","is_error":true,"api_error_status":{status},"result":"API Error"}}"#
            );
            assert_eq!(parse_events(&t).fault.unwrap().class, class, "{status}");
        }
        for (result, class) in [
            // 2.1.197: HTTP 400 for an account without credit.
            (
                r#""api_error_status":400,"result":"Credit balance is too low""#,
                AttemptClass::RateLimit,
            ),
            (
                r#""api_error_status":null,"result":"API Error: Unable to connect to API (ConnectionRefused)""#,
                AttemptClass::Unavailable,
            ),
            // 2.1.332's clean signal, with words we do not know.
            (
                r#""terminal_reason":"api_error","result":"API Error: something new""#,
                AttemptClass::Unavailable,
            ),
        ] {
            let t = format!(r#"{{"type":"result","subtype":"success","is_error":true,{result}}}"#);
            assert_eq!(parse_events(&t).fault.unwrap().class, class, "{result}");
        }
        // The agent's own failure stays the task's.
        let own = r#"{"type":"result","subtype":"error_max_turns","is_error":true,"terminal_reason":"completed","result":"ran out of turns"}"#;
        assert!(parse_events(own).fault.is_none());
        let denied = r#"{"type":"result","subtype":"success","is_error":false,"result":"done","permission_denials":[{"tool_name":"Bash","tool_input":{"command":"cargo test"}}]}"#;
        let p = parse_events(denied);
        assert!(p.fault.is_none());
        assert!(p.error.unwrap().contains("Bash: cargo test"));
    }
}
