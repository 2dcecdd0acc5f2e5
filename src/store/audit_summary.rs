//! `audit_summary.json`: every audit's outcome counted, in v0.2.0's shape
//! so that either runtime reads the other's file, and the next summary
//! when an audit decides.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::defs::layout::{self, Layout, TaskStore};
use crate::defs::research::AuditVerdict;

/// `audit_summary.json`: every audit's outcome, counted, in v0.2.0's
/// shape (ours adds `blocked`, `consecutive_failures` and the outcome's
/// `run_id` and `archive_bytes`), so that either reads the other's file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditSummary {
    /// `"1.0"` (v0.2.0's); an older millrace file's number reads as it.
    #[serde(default = "schema_version", deserialize_with = "version_text")]
    pub schema_version: String,
    #[serde(default)]
    pub counts: AuditCounts,
    /// The latest audit; `status: none` before the first.
    #[serde(default, deserialize_with = "outcome_or_none")]
    pub last_outcome: AuditOutcome,
    /// FAIL decisions since the last PASS.
    #[serde(default)]
    pub consecutive_failures: u32,
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl Default for AuditSummary {
    fn default() -> Self {
        Self {
            schema_version: schema_version(),
            counts: AuditCounts::default(),
            last_outcome: AuditOutcome::default(),
            consecutive_failures: 0,
            updated_at: None,
        }
    }
}

fn schema_version() -> String {
    "1.0".into()
}

fn version_text<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Number(n) => format!("{n}.0"),
        _ => schema_version(),
    })
}

fn outcome_or_none<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<AuditOutcome, D::Error> {
    Ok(Option::<AuditOutcome>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditCounts {
    #[serde(default)]
    pub total: u32,
    #[serde(default)]
    pub pass: u32,
    #[serde(default)]
    pub fail: u32,
    #[serde(default)]
    pub blocked: u32,
}

/// The latest audit, as v0.2.0's `last_outcome` names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct AuditOutcome {
    /// `AUDIT_PASS`, `AUDIT_FAIL`, `AUDIT_BLOCKED` (ours), or `none`.
    pub status: String,
    /// One line saying what was decided, or `none`.
    pub details: String,
    pub at: Option<String>,
    /// The audit request's id (its file's stem), or the run's.
    pub audit_id: Option<String>,
    pub title: Option<String>,
    /// Always null here (v0.2.0's audit scope).
    pub scope: Option<String>,
    /// `manual` (an audit request in `ideas/audit/`) or `automatic`.
    pub trigger: Option<String>,
    /// `PASS`, `FAIL` or `BLOCKED`.
    pub decision: Option<String>,
    pub reason_count: u32,
    /// The audit request the run took.
    pub source_path: Option<String>,
    /// Always null (v0.2.0 moved the request to a terminal directory).
    pub terminal_path: Option<String>,
    /// Always null (the gate decision is part of the completion decision).
    pub gate_decision_path: Option<String>,
    pub completion_decision_path: Option<String>,
    /// Always null: a FAIL's remediation is the incident it files.
    pub remediation_spec_id: Option<String>,
    pub remediation_task_id: Option<String>,
    pub remediation_record_path: Option<String>,
    pub run_id: Option<String>,
    /// The size of `tasksarchive.md` when the audit started: an automatic
    /// audit runs again only after more work was archived.
    pub archive_bytes: u64,
}

impl Default for AuditOutcome {
    fn default() -> Self {
        Self {
            status: "none".into(),
            details: "none".into(),
            at: None,
            audit_id: None,
            title: None,
            scope: None,
            trigger: None,
            decision: None,
            reason_count: 0,
            source_path: None,
            terminal_path: None,
            gate_decision_path: None,
            completion_decision_path: None,
            remediation_spec_id: None,
            remediation_task_id: None,
            remediation_record_path: None,
            run_id: None,
            archive_bytes: 0,
        }
    }
}

impl AuditOutcome {
    /// Whether an audit was decided (v0.2.0's `status` is not `none`).
    pub fn decided(&self) -> bool {
        self.status != "none"
    }
}

pub fn audit_summary(agents: &Path) -> AuditSummary {
    super::safe::read_confined(
        &[agents],
        &Layout::of(agents).rel(layout::AUDIT_SUMMARY),
        super::safe::RECORD_LIMIT,
    )
    .ok()
    .and_then(|t| serde_json::from_str(&t).ok())
    .unwrap_or_default()
}

/// One audit decision, as the summary records it.
pub(super) struct Audited<'a> {
    pub(super) run_id: &'a str,
    /// The audit request's path under `agents/` (none: automatic).
    pub(super) item_path: Option<&'a str>,
    pub(super) verdict: AuditVerdict,
    pub(super) reason_count: usize,
    pub(super) now: &'a str,
}

/// The audit summary with one more decision counted.
pub(super) fn next_summary(agents: &Path, a: &Audited) -> AuditSummary {
    let mut summary = audit_summary(agents);
    summary.schema_version = schema_version();
    summary.counts.total += 1;
    match a.verdict {
        AuditVerdict::Pass => {
            summary.counts.pass += 1;
            summary.consecutive_failures = 0;
        }
        AuditVerdict::Fail => {
            summary.counts.fail += 1;
            summary.consecutive_failures += 1;
        }
        AuditVerdict::Blocked => summary.counts.blocked += 1,
    }
    let audit_id = a
        .item_path
        .and_then(|p| Path::new(p).file_stem())
        .map_or_else(
            || a.run_id.to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
    summary.last_outcome = AuditOutcome {
        status: format!("AUDIT_{}", a.verdict),
        details: format!(
            "{} with {} reason(s) by run {}",
            a.verdict, a.reason_count, a.run_id
        ),
        at: Some(a.now.to_string()),
        title: Some(audit_id.clone()),
        audit_id: Some(audit_id),
        trigger: Some(
            if a.item_path.is_some() {
                "manual"
            } else {
                "automatic"
            }
            .into(),
        ),
        decision: Some(a.verdict.to_string()),
        reason_count: u32::try_from(a.reason_count).unwrap_or(u32::MAX),
        source_path: a.item_path.map(|p| format!("agents/{p}")),
        completion_decision_path: (a.verdict != AuditVerdict::Blocked)
            .then(|| format!("agents/{}", layout::COMPLETION_DECISION)),
        run_id: Some(a.run_id.to_string()),
        archive_bytes: archive_bytes(agents),
        ..AuditOutcome::default()
    };
    summary.updated_at = Some(a.now.to_string());
    summary
}

/// The archive's size now (what an automatic audit is keyed on).
pub fn archive_bytes(agents: &Path) -> u64 {
    std::fs::metadata(Layout::of(agents).rel(TaskStore::Archive.file_name())).map_or(0, |m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v020s_summary_and_an_older_millrace_one_both_read() {
        let v020 = r#"{"schema_version": "1.0", "updated_at": null,
            "counts": {"total": 2, "pass": 1, "fail": 1},
            "last_outcome": {"status": "AUDIT_FAIL", "details": "gaps", "decision": "FAIL",
                "reason_count": 3, "audit_id": "audit-1", "at": "2026-12-07T20:13:25Z"}}"#;
        let s: AuditSummary = serde_json::from_str(v020).unwrap();
        assert_eq!(s.counts.fail, 1);
        assert!(s.last_outcome.decided());
        assert_eq!(s.last_outcome.reason_count, 3);
        let ours = r#"{"schema_version": 1, "counts": {"total": 0, "pass": 0, "fail": 0, "blocked": 0},
            "last_outcome": null, "consecutive_failures": 0, "updated_at": null}"#;
        let s: AuditSummary = serde_json::from_str(ours).unwrap();
        assert_eq!(s.schema_version, "1.0");
        assert!(!s.last_outcome.decided());
        assert_eq!(s.last_outcome.status, "none");
    }
}
