//! The policy-hook evidence a v0.2.0 run recorded (`policy_evaluation` in
//! its `transition_history.jsonl`), summarised the way v0.2.0's
//! `run-provenance` did: counts per hook, evaluator and decision, and the
//! latest evaluation with sensitive detail keys (`command`, `env`,
//! `headers`, `*token*`, `*secret*`…) replaced by `<redacted>`. Millrace's
//! own runs record no policy hooks (budgets, integration and pacing are
//! events of their own), so both are null for them, as v0.2.0 reported a
//! run without policy records.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// v0.2.0's `policy_hooks`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PolicyHooks {
    pub record_count: u64,
    pub hook_counts: BTreeMap<String, u64>,
    pub evaluator_counts: BTreeMap<String, u64>,
    pub decision_counts: BTreeMap<String, u64>,
    pub latest_hook: Option<String>,
    pub latest_evaluator: Option<String>,
    pub latest_decision: Option<String>,
    pub latest_notes: Vec<String>,
    pub latest_evidence_summaries: Vec<String>,
}

/// v0.2.0's `latest_policy_evidence`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PolicyEvidence {
    pub schema_version: String,
    /// Always `runtime_transition_history`.
    pub source: String,
    pub run_id: String,
    pub event_id: String,
    pub event_name: String,
    pub timestamp: String,
    pub node_id: String,
    pub routing_mode: Option<String>,
    pub hook: String,
    pub evaluator: String,
    pub decision: String,
    pub notes: Vec<String>,
    pub evidence: Vec<EvidenceItem>,
    pub redaction: Redaction,
    pub classification: Classification,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EvidenceItem {
    pub kind: String,
    pub summary: String,
    /// The evaluator's details, sensitive keys redacted.
    pub details: Value,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Redaction {
    pub redacted: bool,
    pub redacted_paths: Vec<String>,
    pub summary: String,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Classification {
    /// `<hook>:<evaluator>:<decision>`.
    pub label: String,
    pub summary: String,
    pub details: ClassificationDetails,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ClassificationDetails {
    pub decision: String,
    pub evidence_kinds: Vec<String>,
    pub redacted: bool,
}

const REDACTED: &str = "<redacted>";
const SENSITIVE_KEYS: &[&str] = &[
    "authorization",
    "command",
    "cookie",
    "env",
    "environment",
    "headers",
    "probe_command",
];
const SENSITIVE_FRAGMENTS: &[&str] = &["api_key", "password", "secret", "token"];

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(Into::into))
                .collect()
        })
        .unwrap_or_default()
}

/// The evaluations in `records`, in order, with the record of each.
fn evaluations(records: &[Value]) -> impl Iterator<Item = (&Value, &Value)> {
    records.iter().filter_map(|r| {
        r.get("policy_evaluation")
            .filter(|e| e.is_object())
            .map(|e| (r, e))
    })
}

/// The summary of `records`' policy evaluations; none when there are none.
pub fn hooks(records: &[Value]) -> Option<PolicyHooks> {
    let mut hooks = PolicyHooks {
        record_count: 0,
        hook_counts: BTreeMap::new(),
        evaluator_counts: BTreeMap::new(),
        decision_counts: BTreeMap::new(),
        latest_hook: None,
        latest_evaluator: None,
        latest_decision: None,
        latest_notes: Vec::new(),
        latest_evidence_summaries: Vec::new(),
    };
    for (_, e) in evaluations(records) {
        hooks.record_count += 1;
        for (key, counts) in [
            ("hook", &mut hooks.hook_counts),
            ("evaluator", &mut hooks.evaluator_counts),
            ("decision", &mut hooks.decision_counts),
        ] {
            if let Some(k) = str_of(e, key) {
                *counts.entry(k).or_default() += 1;
            }
        }
        hooks.latest_hook = str_of(e, "hook");
        hooks.latest_evaluator = str_of(e, "evaluator");
        hooks.latest_decision = str_of(e, "decision");
        hooks.latest_notes = strings(e, "notes");
        hooks.latest_evidence_summaries = e
            .get("evidence")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|i| str_of(i, "summary")).collect())
            .unwrap_or_default();
    }
    (hooks.record_count > 0).then_some(hooks)
}

fn sensitive(key: &str) -> bool {
    let k = key.trim().to_ascii_lowercase();
    SENSITIVE_KEYS.contains(&k.as_str()) || SENSITIVE_FRAGMENTS.iter().any(|f| k.contains(f))
}

fn redact(value: &Value, path: &str, redacted: &mut Vec<String>) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let child = format!("{path}.{k}");
                    let v = if sensitive(k) {
                        redacted.push(child);
                        Value::String(REDACTED.into())
                    } else {
                        redact(v, &child, redacted)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| redact(v, &format!("{path}[{i}]"), redacted))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The latest policy evaluation in `records`, redacted and classified.
pub fn latest_evidence(records: &[Value]) -> Option<PolicyEvidence> {
    let (record, e) = evaluations(records).last()?;
    let mut redacted = Vec::new();
    let evidence: Vec<EvidenceItem> = e
        .get("evidence")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, item)| EvidenceItem {
            kind: str_of(item, "kind").unwrap_or_default(),
            summary: str_of(item, "summary").unwrap_or_default(),
            details: redact(
                item.get("details").unwrap_or(&Value::Null),
                &format!("evidence[{i}].details"),
                &mut redacted,
            ),
        })
        .collect();
    let (hook, evaluator, decision) = (
        str_of(e, "hook").unwrap_or_default(),
        str_of(e, "evaluator").unwrap_or_default(),
        str_of(e, "decision").unwrap_or_default(),
    );
    let redaction = Redaction {
        redacted: !redacted.is_empty(),
        summary: if redacted.is_empty() {
            "No sensitive policy-evidence fields required redaction.".into()
        } else {
            format!(
                "Redacted {} sensitive policy-evidence field(s).",
                redacted.len()
            )
        },
        redacted_paths: redacted,
    };
    Some(PolicyEvidence {
        schema_version: "1.0".into(),
        source: "runtime_transition_history".into(),
        run_id: str_of(record, "run_id").unwrap_or_default(),
        event_id: str_of(record, "event_id").unwrap_or_default(),
        event_name: str_of(record, "event_name").unwrap_or_default(),
        timestamp: str_of(record, "timestamp").unwrap_or_default(),
        node_id: str_of(record, "node_id").unwrap_or_default(),
        routing_mode: str_of(record, "routing_mode"),
        notes: strings(e, "notes"),
        classification: Classification {
            label: format!("{hook}:{evaluator}:{decision}"),
            summary: format!(
                "Latest policy evidence captured from {evaluator} at the {hook} hook."
            ),
            details: ClassificationDetails {
                decision: decision.clone(),
                evidence_kinds: evidence.iter().map(|i| i.kind.clone()).collect(),
                redacted: redaction.redacted,
            },
        },
        evidence,
        redaction,
        hook,
        evaluator,
        decision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(hook: &str, evaluator: &str, decision: &str, details: Value) -> Value {
        json!({"run_id": "r", "event_id": "e", "event_name": format!("policy.hook.{hook}"),
               "timestamp": "t", "node_id": "n",
               "policy_evaluation": {"hook": hook, "evaluator": evaluator, "decision": decision,
                   "notes": ["a note"],
                   "evidence": [{"kind": "k", "summary": "s", "details": details}]}})
    }

    #[test]
    fn counts_every_evaluation_and_keeps_the_latest() {
        let records = vec![
            eval("pre_stage", "preflight", "pass", json!({})),
            json!({"event_name": "stage.transition"}),
            eval("post_stage", "pacing", "not_evaluated", json!({})),
        ];
        let h = hooks(&records).unwrap();
        assert_eq!(h.record_count, 2);
        assert_eq!(h.hook_counts["pre_stage"], 1);
        assert_eq!(h.decision_counts["not_evaluated"], 1);
        assert_eq!(h.latest_evaluator.as_deref(), Some("pacing"));
        assert_eq!(h.latest_evidence_summaries, ["s"]);
        assert!(hooks(&records[1..2]).is_none());
        assert!(latest_evidence(&records[1..2]).is_none());
    }

    #[test]
    fn sensitive_details_are_redacted_and_named() {
        let details = json!({"probe_command": "curl -H x", "nested": {"API_TOKEN": "s3"}, "ok": 1});
        let e = latest_evidence(&[eval("pre_stage", "outage", "pass", details)]).unwrap();
        assert_eq!(e.evidence[0].details["probe_command"], REDACTED);
        assert_eq!(e.evidence[0].details["nested"]["API_TOKEN"], REDACTED);
        assert_eq!(e.evidence[0].details["ok"], 1);
        assert_eq!(
            e.redaction.redacted_paths,
            [
                "evidence[0].details.nested.API_TOKEN",
                "evidence[0].details.probe_command"
            ]
        );
        assert_eq!(e.classification.label, "pre_stage:outage:pass");
        assert!(e.classification.details.redacted);
    }
}
