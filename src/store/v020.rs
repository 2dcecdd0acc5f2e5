//! Run directories that Python Millrace v0.2.0 left under `agents/runs/`:
//! recognised by `frozen_run_plan.json` (ours freeze `plan.json`), read and
//! mapped onto our records ([`RunMeta`], [`Transition`]) so provenance,
//! history, usage, the TUI and `status` show them. v0.2.0's files are never
//! rewritten or removed; a run it left unfinished is closed by adding
//! [`CLOSED`] beside them.
//!
//! What maps: the run's identity (plan hash, mode, loop, task), each stage
//! attempt (`policy.hook.pre_stage` → `stage.started` with its bound
//! runner/model/effort/timeout; `*.stage.transition` → `stage.finished` with
//! the status marker, the edge taken, queue mutations and the token usage
//! from `runner_notes.md`) and the terminal state. What does not: v0.2.0's
//! policy-hook evidence (cycle boundaries, preflight), which has no
//! counterpart in our records, and its frozen plan, which is not a millrace
//! plan (`plan show --run` says so).

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::run_records::{Bound, RunMeta, Transition, TransitionEvent, HISTORY, PLAN};
use crate::compile::plan::Target;
use crate::defs::marker::Marker;
use crate::defs::records::{AttemptClass, Usage};
use crate::defs::stage_kind::Plane;

/// The frozen plan v0.2.0 writes into each run directory.
pub const V020_PLAN: &str = "frozen_run_plan.json";
/// What millrace adds to a v0.2.0 run it closed.
pub const CLOSED: &str = "millrace_closed.json";
/// The state a closed v0.2.0 run ends in.
pub const ABANDONED: &str = "abandoned (v0.2.0 run)";

/// `millrace_closed.json`: why and when millrace closed a run v0.2.0 left
/// unfinished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Closure {
    pub state: String,
    pub closed_at: String,
    pub reason: String,
    pub task_id: Option<String>,
    /// The node the run was in when v0.2.0 stopped.
    pub last_node: Option<String>,
}

/// Whether `dir` is a run directory v0.2.0 wrote (and not one of ours).
pub fn is_v020_run(dir: &Path) -> bool {
    dir.join(V020_PLAN).is_file() && !dir.join(PLAN).exists()
}

/// v0.2.0's records of one run, every line that parses (a torn last line
/// is skipped, as in ours).
pub fn records(dir: &Path) -> io::Result<Vec<Value>> {
    let path = dir.join(HISTORY);
    let text = match super::safe::read_text_nofollow(&path, super::safe::RECORD_LIMIT) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object)
        .collect())
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

/// The terminal record (a transition that selected a terminal state).
fn terminal(records: &[Value]) -> Option<&Value> {
    records.iter().rev().find(|r| {
        r.get("selected_terminal_state_id")
            .is_some_and(|s| !s.is_null())
    })
}

/// The closure millrace added, if any.
pub fn closure(dir: &Path) -> Option<Closure> {
    let text = super::safe::read_text_nofollow(&dir.join(CLOSED), 64 * 1024).ok()?;
    serde_json::from_str(&text).ok()
}

/// The run as a [`RunMeta`]; `facts.source` is `"v0.2.0"`.
pub fn meta(dir: &Path, run_id: &str) -> io::Result<RunMeta> {
    meta_of(dir, run_id, &records(dir)?)
}

/// [`meta`] from records already read.
fn meta_of(dir: &Path, run_id: &str, records: &[Value]) -> io::Result<RunMeta> {
    let plan_text =
        super::safe::read_text_nofollow(&dir.join(V020_PLAN), super::safe::RECORD_LIMIT)?;
    let plan: Value = serde_json::from_str(&plan_text).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", dir.join(V020_PLAN).display()),
        )
    })?;
    let first = records.first();
    let hash = text(&plan, "content_hash").unwrap_or_default();
    let strip = |v: Option<&Value>, prefix: &str| {
        v.and_then(Value::as_str)
            .map(|s| s.strip_prefix(prefix).unwrap_or(s).to_string())
            .unwrap_or_default()
    };
    let plane = match first.and_then(|r| r.get("plane")).and_then(Value::as_str) {
        Some("research") => Plane::Research,
        _ => Plane::Execution,
    };
    let (state, class, finished_at) = match (terminal(records), closure(dir)) {
        (Some(t), _) => {
            let archived = t["queue_mutations_applied"]
                .as_array()
                .is_some_and(|m| m.iter().any(|x| x == "archive_task"));
            let state = if archived {
                "archived".to_string()
            } else {
                text(t, "selected_terminal_state_id").unwrap_or_default()
            };
            let class = if archived { "success" } else { "ended" };
            (state, Some(class.to_string()), text(t, "timestamp"))
        }
        (None, Some(c)) => (c.state, Some("abandoned".into()), Some(c.closed_at)),
        (None, None) => ("running".into(), None, None),
    };
    let mut facts = std::collections::BTreeMap::new();
    facts.insert("source".into(), Value::from("v0.2.0"));
    Ok(RunMeta {
        run_id: run_id.to_string(),
        plan_id: format!("frozen-plan:{hash}"),
        content_hash: hash,
        mode_id: strip(at(&plan, &["content", "selected_mode_ref", "id"]), "mode."),
        plane,
        loop_id: strip(
            at(&plan, &["content", "selected_execution_loop_ref", "id"]),
            "execution.",
        ),
        task_id: first.and_then(|r| text(r, "active_task_before")),
        task_title: first
            .and_then(|r| at(r, &["policy_evaluation", "facts", "task", "title"]))
            .and_then(Value::as_str)
            .map(str::to_string),
        started_at: first
            .and_then(|r| text(r, "timestamp"))
            .or_else(|| text(&plan, "compiled_at"))
            .unwrap_or_default(),
        finished_at,
        state,
        terminal_class: class,
        facts,
        item: None,
        git: None,
    })
}

/// Token usage per stage attempt, in order, from `runner_notes.md`'s
/// `Token usage: stage=Builder … input=N cached=N output=N` lines.
fn notes_usage(dir: &Path) -> Vec<(String, Usage)> {
    let Ok(text) = super::safe::read_text_nofollow(&dir.join("runner_notes.md"), 4 << 20) else {
        return Vec::new();
    };
    let field = |line: &str, key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .map(str::to_string)
    };
    text.lines()
        .filter(|l| l.starts_with("Token usage:"))
        .filter_map(|l| {
            let n = |k| field(l, k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            let (input, cached, output) = (n("input="), n("cached="), n("output="));
            let usage = Usage {
                input,
                cached_input: cached,
                output,
                total: input.saturating_add(output),
                ..Usage::default()
            };
            Some((field(l, "stage=")?.to_ascii_lowercase(), usage.checked()))
        })
        .collect()
}

/// The run's records mapped onto ours (see the module doc for what maps).
pub fn history(dir: &Path, run_id: &str) -> io::Result<Vec<Transition>> {
    let records = records(dir)?;
    let meta = meta_of(dir, run_id, &records)?;
    let mut usage = notes_usage(dir);
    let mut out: Vec<Transition> = Vec::new();
    let mut attempts = std::collections::BTreeMap::<String, u32>::new();
    let mut started_at: Option<String> = None;
    for r in &records {
        let name = r["event_name"].as_str().unwrap_or_default();
        let node = text(r, "node_id");
        let event = if name == "policy.hook.pre_stage" {
            TransitionEvent::StageStarted
        } else if name.ends_with(".stage.transition") {
            TransitionEvent::StageFinished
        } else {
            continue;
        };
        let mut t = Transition::blank(run_id, event, &meta.plan_id, &meta.content_hash);
        t.event_id = text(r, "event_id").unwrap_or_default();
        t.timestamp = text(r, "timestamp").unwrap_or_default();
        t.stage_kind = text(r, "kind_id");
        t.status_before = r["status_before"].as_str().and_then(Marker::parse);
        let key = node.clone().unwrap_or_default();
        if event == TransitionEvent::StageStarted {
            *attempts.entry(key.clone()).or_default() += 1;
            started_at = Some(t.timestamp.clone());
            t.bound = bound(r);
        } else {
            t.status_after = r["status_after"].as_str().and_then(Marker::parse);
            t.outcome = t.status_after.clone();
            t.class = Some(AttemptClass::Outcome);
            t.selected_edge = text(r, "selected_edge_id");
            t.route_reason = text(r, "selected_edge_reason");
            t.next = text(r, "selected_terminal_state_id").map(Target::Terminal);
            t.queue_mutations = strings(&r["queue_mutations_applied"]);
            t.artifacts = strings(&r["artifacts_emitted"])
                .iter()
                .filter_map(|p| Path::new(p).file_name()?.to_str().map(str::to_string))
                .collect();
            t.duration_ms = started_at
                .take()
                .and_then(|s| millis_between(&s, &t.timestamp));
            if let Some(i) = usage.iter().position(|(s, _)| label_matches(s, &key)) {
                t.usage = Some(usage.remove(i).1);
            }
        }
        t.attempt = attempts.get(&key).copied();
        t.node = node;
        t.attempts = attempts.clone();
        out.push(t);
    }
    // Each finished stage goes where the next one started.
    for i in 0..out.len() {
        if out[i].event == TransitionEvent::StageFinished && out[i].next.is_none() {
            out[i].next = out[i + 1..]
                .iter()
                .find(|t| t.event == TransitionEvent::StageStarted)
                .and_then(|t| t.node.clone())
                .map(Target::Node);
        }
    }
    close_records(dir, run_id, &meta, &records, &mut out);
    for (i, t) in out.iter_mut().enumerate() {
        t.seq = i as u32 + 1;
    }
    Ok(out)
}

/// The `run.finished` (or `run.abandoned`) record that ends a mapped run.
fn close_records(
    dir: &Path,
    run_id: &str,
    meta: &RunMeta,
    records: &[Value],
    out: &mut Vec<Transition>,
) {
    let end = |event, at: Option<String>| {
        let mut t = Transition::blank(run_id, event, &meta.plan_id, &meta.content_hash);
        t.timestamp = at.unwrap_or_default();
        t.event_id = format!("{run_id}-millrace-{}", event);
        t.attempts = out.last().map(|l| l.attempts.clone()).unwrap_or_default();
        t
    };
    if let Some(term) = terminal(records) {
        let mut t = end(TransitionEvent::RunFinished, text(term, "timestamp"));
        t.next = text(term, "selected_terminal_state_id").map(Target::Terminal);
        out.push(t);
    } else if let Some(c) = closure(dir) {
        let mut t = end(TransitionEvent::RunAbandoned, Some(c.closed_at));
        t.failure = Some(c.reason);
        out.push(t);
    }
}

/// `Builder` in `runner_notes.md` names node `builder`; `QA` names `qa`.
fn label_matches(label: &str, node: &str) -> bool {
    label.replace(['_', '-'], "") == node.to_ascii_lowercase().replace(['_', '-'], "")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn millis_between(a: &str, b: &str) -> Option<f64> {
    let (a, b) = (
        a.parse::<jiff::Timestamp>().ok()?,
        b.parse::<jiff::Timestamp>().ok()?,
    );
    Some(b.duration_since(a).as_secs_f64() * 1000.0)
}

fn bound(r: &Value) -> Option<Bound> {
    let b = r.get("bound_execution_parameters")?;
    Some(Bound {
        runner: b["runner"].as_str()?.to_string(),
        model: text(b, "model"),
        effort: text(b, "effort"),
        timeout_seconds: b["timeout_seconds"].as_u64().unwrap_or(0),
        prompt: at(
            r,
            &["policy_evaluation", "facts", "stage", "prompt_asset_ref"],
        )
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string(),
        prompt_sha256: String::new(),
    })
}

/// Whether `frozen_run_plan.json`'s content still hashes to its
/// `content_hash` as v0.2.0 computed it: SHA-256 of the content as JSON
/// with sorted keys, `(",", ":")` separators and non-ASCII escaped.
pub fn plan_verifies(dir: &Path) -> bool {
    let Ok(raw) = super::safe::read_text_nofollow(&dir.join(V020_PLAN), super::safe::RECORD_LIMIT)
    else {
        return false;
    };
    let Ok(plan) = serde_json::from_str::<Value>(&raw) else {
        return false;
    };
    let mut json = String::new();
    for c in serde_json::to_string(&plan["content"])
        .unwrap_or_default()
        .chars()
    {
        if c.is_ascii() {
            json.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                json.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    let digest = <sha2::Sha256 as sha2::Digest>::digest(json.as_bytes());
    Some(crate::defs::config::to_hex(&digest)) == text(&plan, "content_hash")
}

/// The node an unfinished run was in: the last stage started.
fn last_node(records: &[Value]) -> Option<String> {
    records
        .iter()
        .rev()
        .find(|r| r["event_name"] == "policy.hook.pre_stage")
        .and_then(|r| text(r, "node_id"))
}

/// The unfinished v0.2.0 run of task `task_id`, newest first: a v0.2.0
/// run directory whose records start with that task, with no terminal
/// record and no closure. Only directories whose name ends with v0.2.0's
/// slug of the task id are read, so the cost does not grow with the runs
/// kept.
/// Returns its id, its directory and its records.
pub fn unfinished_for(agents: &Path, task_id: &str) -> Option<(String, PathBuf, Vec<Value>)> {
    let suffix = format!("__{}", task_id.replace("__", "-"));
    let root = crate::defs::layout::Layout::of(agents).runs_dir();
    let mut ids: Vec<String> = std::fs::read_dir(&root)
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|id| id.ends_with(&suffix))
        .collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids.into_iter()
        .map(|id| {
            let path = root.join(&id);
            (id, path)
        })
        .filter(|(_, p)| is_v020_run(p))
        .map(|(id, p)| {
            let records = records(&p).unwrap_or_default();
            (id, p, records)
        })
        .find(|(_, p, records)| {
            records
                .first()
                .and_then(|r| r["active_task_before"].as_str())
                == Some(task_id)
                && terminal(records).is_none()
                && closure(p).is_none()
        })
}

/// An unfinished v0.2.0 run, as `status` and `health` report it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Unfinished {
    pub run_id: String,
    pub task_id: String,
    /// The stage v0.2.0 was in.
    pub last_node: Option<String>,
    pub started_at: Option<String>,
}

/// The unfinished v0.2.0 run of task `task_id`, if any.
pub fn unfinished(agents: &Path, task_id: &str) -> Option<Unfinished> {
    let (run_id, _, records) = unfinished_for(agents, task_id)?;
    Some(Unfinished {
        started_at: records.first().and_then(|f| text(f, "timestamp")),
        last_node: last_node(&records),
        task_id: task_id.to_string(),
        run_id,
    })
}

/// Closes an unfinished v0.2.0 run (`records`: its records): writes
/// [`CLOSED`] beside them (nothing of v0.2.0's is changed).
pub fn close(dir: &Path, records: &[Value], task_id: &str, reason: &str) -> io::Result<Closure> {
    let c = Closure {
        state: ABANDONED.into(),
        closed_at: crate::defs::clock::now_iso(),
        reason: reason.to_string(),
        task_id: Some(task_id.to_string()),
        last_node: last_node(records),
    };
    let text = serde_json::to_string_pretty(&c).expect("closure serialises") + "\n";
    super::atomic::write(&dir.join(CLOSED), text.as_bytes())?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, node: &str, extra: Value) -> String {
        let mut v = serde_json::json!({
            "event_id": format!("r-{name}-{node}"), "event_name": name, "node_id": node,
            "kind_id": format!("execution.{node}"), "timestamp": "2026-01-02T03:04:05Z",
            "plane": "execution", "active_task_before": "2026-01-02__t",
            "status_before": "IDLE", "status_after": null,
            "selected_terminal_state_id": null, "queue_mutations_applied": [],
            "artifacts_emitted": [],
            "bound_execution_parameters": {"runner": "codex", "model": "m", "effort": null, "timeout_seconds": 600},
            "policy_evaluation": {"facts": {"task": {"title": "T"}}}
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v.to_string() + "\n"
    }

    fn run(dir: &Path, lines: &[String]) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join(V020_PLAN),
            r#"{"content_hash":"abc","content":{"selected_mode_ref":{"id":"mode.standard"},"selected_execution_loop_ref":{"id":"execution.standard"}}}"#,
        )
        .unwrap();
        std::fs::write(dir.join(HISTORY), lines.concat()).unwrap();
    }

    #[test]
    fn a_finished_run_maps_its_stages_usage_and_end() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("runs/20260102T030405Z__2026-01-02-t");
        run(
            &dir,
            &[
                record(
                    "policy.hook.cycle_boundary",
                    "__cycle_boundary__",
                    serde_json::json!({}),
                ),
                record("policy.hook.pre_stage", "builder", serde_json::json!({})),
                record(
                    "execution.stage.transition",
                    "builder",
                    serde_json::json!({"status_after": "BUILDER_COMPLETE", "selected_edge_id": "e1"}),
                ),
                record("policy.hook.pre_stage", "update", serde_json::json!({})),
                record(
                    "execution.stage.transition",
                    "update",
                    serde_json::json!({"status_after": "UPDATE_COMPLETE", "selected_terminal_state_id": "idle", "queue_mutations_applied": ["archive_task"]}),
                ),
            ],
        );
        std::fs::write(
            dir.join("runner_notes.md"),
            "Token usage: stage=Builder runner=codex model=m input=10 cached=2 output=3 stdout=x\n",
        )
        .unwrap();
        let m = meta(&dir, "r").unwrap();
        assert_eq!(
            (m.mode_id.as_str(), m.loop_id.as_str()),
            ("standard", "standard")
        );
        assert_eq!(
            (m.state.as_str(), m.task_title.as_deref()),
            ("archived", Some("T"))
        );
        let h = history(&dir, "r").unwrap();
        let events: Vec<_> = h.iter().map(|t| t.event.to_string()).collect();
        assert_eq!(
            events,
            [
                "stage.started",
                "stage.finished",
                "stage.started",
                "stage.finished",
                "run.finished"
            ]
        );
        assert_eq!(h[1].next, Some(Target::Node("update".into())));
        assert_eq!(h[1].usage.as_ref().map(|u| u.input), Some(10));
        assert_eq!(h[3].usage, None);
        assert_eq!(h[4].next, Some(Target::Terminal("idle".into())));
    }

    #[test]
    fn an_unfinished_run_is_found_by_its_task_and_closed_once() {
        let t = tempfile::tempdir().unwrap();
        let agents = t.path();
        let dir = agents.join("runs/20260102T030405Z__2026-01-02-t");
        run(
            &dir,
            &[record(
                "policy.hook.pre_stage",
                "builder",
                serde_json::json!({}),
            )],
        );
        let before = std::fs::read(dir.join(HISTORY)).unwrap();
        let (id, path, records) = unfinished_for(agents, "2026-01-02__t").unwrap();
        assert_eq!(id, "20260102T030405Z__2026-01-02-t");
        assert_eq!(meta(&path, &id).unwrap().state, "running");
        assert!(unfinished_for(agents, "2026-01-02__other").is_none());
        let c = close(&path, &records, "2026-01-02__t", "why").unwrap();
        assert_eq!(c.last_node.as_deref(), Some("builder"));
        assert!(unfinished_for(agents, "2026-01-02__t").is_none());
        assert_eq!(meta(&path, &id).unwrap().state, ABANDONED);
        assert_eq!(
            std::fs::read(dir.join(HISTORY)).unwrap(),
            before,
            "v0.2.0's file is untouched"
        );
        let h = history(&path, &id).unwrap();
        assert_eq!(h.last().unwrap().event, TransitionEvent::RunAbandoned);
    }
}
