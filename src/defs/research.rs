//! The research plane's vocabulary: the families of work it takes in
//! (ideas, incidents, audits), the loop intake key each family enters by,
//! and the packaged loop that serves it by default.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A family of research work (spec §1.9 `queue_families`). v0.2.0's
/// `blocker` family is folded into `incident`: a quarantined task opens an
/// incident file, and that is what the incident loop resolves.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ResearchFamily {
    /// A raw idea becomes a spec and task cards.
    Goalspec,
    /// A quarantined task's incident becomes remediation cards and a thaw.
    Incident,
    /// A drained backlog is audited for completion.
    Audit,
}

impl ResearchFamily {
    /// In `auto` mode's order of preference: incidents unblock the backlog,
    /// ideas add to it, audits need it empty.
    pub const ALL: [ResearchFamily; 3] = [
        ResearchFamily::Incident,
        ResearchFamily::Goalspec,
        ResearchFamily::Audit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResearchFamily::Goalspec => "goalspec",
            ResearchFamily::Incident => "incident",
            ResearchFamily::Audit => "audit",
        }
    }

    /// The loop entry key a work item of this family enters by.
    pub fn entry(self) -> &'static str {
        match self {
            ResearchFamily::Goalspec => "idea",
            ResearchFamily::Incident => "incident",
            ResearchFamily::Audit => "audit",
        }
    }

    /// The packaged loop serving this family unless the mode names another.
    pub fn default_loop(self) -> &'static str {
        self.as_str()
    }

    pub fn parse(s: &str) -> Option<ResearchFamily> {
        ResearchFamily::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

impl std::fmt::Display for ResearchFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A completion audit's verdict, as `completion_decision.json`, the audit
/// summary and the audit history spell it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum AuditVerdict {
    Pass,
    Fail,
    /// The audit itself could not decide (its run ended blocked).
    Blocked,
}

impl AuditVerdict {
    /// The verdict a decision artifact's `decision` names; anything but
    /// `PASS` fails, so a malformed decision never completes the work.
    pub fn of_decision(decision: &str) -> AuditVerdict {
        if decision == "PASS" {
            AuditVerdict::Pass
        } else {
            AuditVerdict::Fail
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuditVerdict::Pass => "PASS",
            AuditVerdict::Fail => "FAIL",
            AuditVerdict::Blocked => "BLOCKED",
        }
    }
}

impl std::fmt::Display for AuditVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
