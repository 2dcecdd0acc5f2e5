//! The parts of v0.2.0's `research --json` that name v0.2.0 machinery:
//! `governance` (drift control, the governance canary, the progress
//! watchdog, the queue governor) and the research `runtime` snapshot.
//! Millrace has none of the four governors — a research loop's specs,
//! cards and revisions are bounded by its compiled bounds instead — so each
//! reports `not_applicable` with the reason and the file v0.2.0 kept it in
//! (millrace reads none of them). The runtime snapshot is mapped from
//! millrace's own research state; counters millrace does not keep are
//! null, never zero.

use serde::Serialize;
use serde_json::Value;

use crate::defs::research::ResearchFamily;
use crate::engine::research::FamilyScan;

const NOT_APPLICABLE: &str = "not_applicable";

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Governance {
    pub drift: Drift,
    pub governance_canary: Canary,
    pub progress_watchdog: Watchdog,
    pub queue_governor: QueueGovernor,
}

/// v0.2.0's spec-family drift control.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Drift {
    pub schema_version: String,
    /// Always `not_applicable`.
    pub status: String,
    pub reason: String,
    pub policy_path: String,
    pub family_policy_path: String,
    pub spec_family_state_path: String,
    pub report_path: String,
    pub drift_fields: Vec<String>,
    /// The fields v0.2.0's drift control watched (none is read here).
    pub watched_fields: Vec<String>,
    pub hard_latch_active: bool,
    pub warning_active: bool,
}

/// v0.2.0's governance canary (policy file changes).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Canary {
    pub schema_version: String,
    pub status: String,
    pub reason: String,
    pub baseline_policy_path: String,
    pub current_policy_path: String,
    pub report_path: String,
    pub changed_fields: Vec<String>,
}

/// v0.2.0's research progress watchdog.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Watchdog {
    pub schema_version: String,
    pub status: String,
    pub reason: String,
    pub batch_id: String,
    pub escalation_action: String,
    pub expected_backlog_card_count: u64,
    pub expected_pending_card_count: u64,
    pub latch_path: String,
    pub recovery_decision_type: String,
    pub recovery_regeneration: Option<Value>,
    pub remediation_spec_id: String,
    pub report_path: String,
    pub state_path: String,
    pub updated_at: Option<String>,
    pub visible_recovery_task_count: u64,
}

/// v0.2.0's queue governor (initial spec-family pinning).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct QueueGovernor {
    pub schema_version: String,
    pub status: String,
    pub reason: String,
    pub goal_id: String,
    pub initial_family_policy_pin: Option<Value>,
    pub report_path: String,
    pub updated_at: Option<String>,
}

pub fn governance() -> Governance {
    let v = || "1.0".to_string();
    let na = || NOT_APPLICABLE.to_string();
    Governance {
        drift: Drift {
            schema_version: v(),
            status: na(),
            reason: "millrace-has-no-spec-family-policy: the research loops' compiled bounds cap specs and cards".into(),
            policy_path: "agents/policies/drift_control_policy.json".into(),
            family_policy_path: "agents/objective/family_policy.json".into(),
            spec_family_state_path: "agents/.research_runtime/spec_family_state.json".into(),
            report_path: "agents/reports/drift_status.json".into(),
            drift_fields: Vec::new(),
            watched_fields: vec!["family_cap_mode".into(), "initial_family_max_specs".into()],
            hard_latch_active: false,
            warning_active: false,
        },
        governance_canary: Canary {
            schema_version: v(),
            status: na(),
            reason: "millrace-has-no-drift-control-policy".into(),
            baseline_policy_path: "agents/policies/drift_control_policy.baseline.json".into(),
            current_policy_path: "agents/policies/drift_control_policy.json".into(),
            report_path: "agents/reports/governance_canary.json".into(),
            changed_fields: Vec::new(),
        },
        progress_watchdog: Watchdog {
            schema_version: v(),
            status: na(),
            reason: "millrace-bounds-research-by-plan: a research run that cannot progress ends at its loop's bound".into(),
            batch_id: String::new(),
            escalation_action: "none".into(),
            expected_backlog_card_count: 0,
            expected_pending_card_count: 0,
            latch_path: "agents/.runtime/research_recovery_latch.json".into(),
            recovery_decision_type: String::new(),
            recovery_regeneration: None,
            remediation_spec_id: String::new(),
            report_path: "agents/.tmp/progress_watchdog_report.json".into(),
            state_path: "agents/.research_runtime/progress_watchdog_state.json".into(),
            updated_at: None,
            visible_recovery_task_count: 0,
        },
        queue_governor: QueueGovernor {
            schema_version: v(),
            status: na(),
            reason: "millrace-has-no-queue-governor: taskmaster cards join the backlog as the spec's run writes them".into(),
            goal_id: String::new(),
            initial_family_policy_pin: None,
            report_path: "agents/reports/queue_governor.json".into(),
            updated_at: None,
        },
    }
}

/// v0.2.0's research `runtime` snapshot.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Runtime {
    pub schema_version: String,
    /// `[research] mode`, upper-case (`STUB`, `AUTO`, `GOALSPEC`…).
    pub current_mode: String,
    pub last_mode: String,
    pub mode_reason: String,
    /// Null: millrace does not count research cycles.
    pub cycle_count: Option<u64>,
    /// Null: millrace does not count research transitions here (each
    /// run's history has them).
    pub transition_count: Option<u64>,
    pub deferred_requests: Vec<String>,
    /// The research run in progress, when one is.
    pub checkpoint: Option<String>,
    /// Null: the research plane's lock is the workspace lock.
    pub lock_state: Option<String>,
    pub next_poll_at: Option<String>,
    pub retry_state: Option<Value>,
    pub queue_snapshot: QueueSnapshot,
    pub updated_at: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct QueueSnapshot {
    pub audit_ready: bool,
    /// Whether `tasksblocker.md` holds a task.
    pub blocker_ready: bool,
    pub goalspec_ready: bool,
    pub incident_ready: bool,
    /// Null: the snapshot is scanned now, for this report.
    pub last_scanned_at: Option<String>,
    pub ownerships: Vec<String>,
    /// The family the next research run would take.
    pub selected_family: Option<ResearchFamily>,
}

/// The runtime snapshot from the report's own facts.
pub fn runtime(
    mode: &str,
    reason: &str,
    families: &[FamilyScan],
    deferred: &[String],
    checkpoint: Option<String>,
    blocker_ready: bool,
) -> Runtime {
    let ready = |f: ResearchFamily| families.iter().any(|s| s.family == f && s.ready);
    Runtime {
        schema_version: "1.0".into(),
        current_mode: mode.to_ascii_uppercase(),
        last_mode: mode.to_ascii_uppercase(),
        mode_reason: reason.into(),
        cycle_count: None,
        transition_count: None,
        deferred_requests: deferred.to_vec(),
        checkpoint,
        lock_state: None,
        next_poll_at: None,
        retry_state: None,
        queue_snapshot: QueueSnapshot {
            audit_ready: ready(ResearchFamily::Audit),
            blocker_ready,
            goalspec_ready: ready(ResearchFamily::Goalspec),
            incident_ready: ready(ResearchFamily::Incident),
            last_scanned_at: None,
            ownerships: Vec::new(),
            selected_family: families
                .iter()
                .find(|s| s.enabled && s.ready)
                .map(|s| s.family),
        },
        updated_at: None,
    }
}
