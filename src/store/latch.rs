//! The research recovery latch (`agents/.runtime/research_recovery_latch.json`,
//! spec §3.4): written by a quarantine when it freezes a batch, marked
//! thawed when the batch returns to the backlog (by `queue thaw` or an
//! incident's remediation), and read to make a replayed quarantine a no-op.
//! One typed record instead of JSON built, edited and parsed by hand.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::defs::layout::Layout;

/// Where a frozen batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LatchState {
    Frozen,
    Thawed,
}

/// The research run whose remediation thawed the batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Remediation {
    pub run_id: String,
    pub spec_id: String,
}

/// The latch, with v0.2.0's field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RecoveryLatch {
    pub state: LatchState,
    pub batch_id: String,
    pub frozen_at: String,
    /// The quarantined run's directory, relative to the workspace.
    pub run_dir: String,
    /// sha256 of the active store when it was frozen.
    pub fingerprint: String,
    pub failure_signature: String,
    pub incident_path: String,
    pub stage: String,
    pub reason: String,
    pub frozen_backlog_cards: usize,
    pub retained_backlog_cards: usize,
    pub quarantine_mode_requested: String,
    pub quarantine_mode_applied: String,
    pub quarantine_reason: String,
    pub handoff_id: String,
    pub handoff: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thawed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation_decision: Option<Remediation>,
    /// Fields another version wrote, kept as they were.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

impl RecoveryLatch {
    /// The latch of the workspace whose agents directory is `agents`, if
    /// one is there and readable.
    pub fn read(agents: &Path) -> Option<RecoveryLatch> {
        let text = super::safe::read_text(
            &Layout::of(agents).recovery_latch(),
            super::safe::RECORD_LIMIT,
        )
        .ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The latch as written: pretty JSON with sorted keys, and a newline.
    pub fn text(&self) -> String {
        let value = serde_json::to_value(self).expect("latch serialises");
        serde_json::to_string_pretty(&value).expect("latch serialises") + "\n"
    }

    /// The latch of batch `batch_id` marked thawed now (by `remediation`,
    /// when a research run did it); `None` when it holds another batch.
    pub fn thawed(mut self, batch_id: &str, remediation: Option<Remediation>) -> Option<Self> {
        if self.batch_id != batch_id {
            return None;
        }
        self.state = LatchState::Thawed;
        self.thawed_at = Some(crate::defs::clock::now_iso());
        self.remediation_decision = remediation.or(self.remediation_decision);
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latch_round_trips_keeps_unknown_fields_and_thaws_its_own_batch() {
        let text = r#"{"state":"frozen","batch_id":"B1","frozen_at":"t","run_dir":"r","fingerprint":"f","failure_signature":"needs_research","incident_path":"i","stage":"consult","reason":"why","frozen_backlog_cards":2,"retained_backlog_cards":0,"quarantine_mode_requested":"full","quarantine_mode_applied":"full","quarantine_reason":"consult_handoff","handoff_id":"h","handoff":{},"extra":1}"#;
        let latch: RecoveryLatch = serde_json::from_str(text).unwrap();
        assert_eq!(latch.other["extra"], 1);
        assert!(latch.clone().thawed("B2", None).is_none());
        let thawed = latch
            .thawed(
                "B1",
                Some(Remediation {
                    run_id: "run".into(),
                    spec_id: "S".into(),
                }),
            )
            .unwrap();
        let back: Value = serde_json::from_str(&thawed.text()).unwrap();
        assert_eq!(back["state"], "thawed");
        assert_eq!(back["remediation_decision"]["run_id"], "run");
        assert_eq!(back["extra"], 1);
    }
}
