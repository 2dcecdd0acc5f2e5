//! `schema export`: writes the JSON Schemas of every authored format, the
//! frozen plan, every command's `--json` output (`output/`) and the on-disk
//! records that scripts read (`records/`).

use std::path::{Path, PathBuf};

use crate::compile::plan::FrozenPlan;
use crate::defs::schema::DocKind;
use crate::store::atomic;

use super::{ControlError, Result};

pub const PLAN_SCHEMA_FILE: &str = "frozen-plan.schema.json";

/// `start --json`: one run (`--once`) or the daemon's report.
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)] // only its schema is used
enum StartOutput {
    Once(super::start::StartReport),
    Daemon(crate::engine::daemon::DaemonReport),
}

/// What a failed command prints on stderr with `--json`.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct ErrorOutput {
    pub error: String,
    /// What kind of failure it was.
    pub kind: super::ErrorKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Located problems, for invalid inputs and failed compiles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Vec<crate::defs::diag::Diagnostic>>,
}

fn text_of(schema: schemars::Schema) -> String {
    let value = serde_json::to_value(schema).expect("schema serialises");
    let mut text = serde_json::to_string_pretty(&value).expect("schema serialises");
    text.push('\n');
    text
}

/// `path => Type` pairs as (path, the type's schema as pretty JSON).
macro_rules! schemas {
    ($($path:literal => $t:ty),* $(,)?) => {
        vec![$(($path, text_of(schemars::schema_for!($t)))),*]
    };
}

/// Every schema as (path under `schemas/`, pretty JSON text).
pub fn all() -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = DocKind::ALL
        .iter()
        .map(|k| (k.schema_file(), k.schema_text()))
        .collect();
    out.push((PLAN_SCHEMA_FILE, text_of(schemars::schema_for!(FrozenPlan))));
    out.extend(output_schemas());
    out.extend(record_schemas());
    out
}

/// The `--json` output of every read command (`schemas/output/`).
fn output_schemas() -> Vec<(&'static str, String)> {
    schemas![
        "output/operation.schema.json" => super::queue::Operation,
        "output/queue.schema.json" => crate::store::queue::QueueView,
        "output/start.schema.json" => StartOutput,
        "output/status.schema.json" => super::status::StatusReport,
        "output/diagnostics.schema.json" => super::diagnostics::BundleList,
        "output/diagnostics-bundle.schema.json" => crate::store::diagnostics::Bundle,
        "output/publish-sync.schema.json" => super::publish::SyncReport,
        "output/publish-preflight.schema.json" => super::publish::Preflight,
        "output/publish-commit.schema.json" => super::publish::CommitReport,
        "output/simulate.schema.json" => super::simulate::Simulation,
        "output/usage.schema.json" => super::usage::UsageReport,
        "output/research.schema.json" => super::research::ResearchReport,
        "output/research-history.schema.json" => super::research::ResearchHistory,
        "output/provenance.schema.json" => super::runs::Provenance,
        "output/logs.schema.json" => Vec<crate::store::events::Event>,
        "output/config.schema.json" => super::config::ConfigView,
        "output/health.schema.json" => super::health::HealthReport,
        "output/validate.schema.json" => super::plan::ValidateReport,
        "output/plan-diff.schema.json" => super::runs::PlanDiff,
        "output/modes.schema.json" => Vec<super::plan::ModeSummary>,
        "output/loops.schema.json" => Vec<super::plan::LoopSummary>,
        "output/capabilities.schema.json" => super::capabilities::Capabilities,
        "output/error.schema.json" => ErrorOutput,
    ]
}

/// The on-disk records scripts read (`schemas/records/`).
fn record_schemas() -> Vec<(&'static str, String)> {
    schemas![
        "records/state.schema.json" => crate::engine::state::RuntimeState,
        "records/event.schema.json" => crate::store::events::Event,
        "records/transition.schema.json" => crate::store::runs::Transition,
        "records/run.schema.json" => crate::store::runs::RunMeta,
        "records/active-run.schema.json" => crate::store::runs::ActiveRun,
        "records/stage-result.schema.json" => crate::store::runs::StageResultRecord,
        "records/recovery-latch.schema.json" => crate::store::latch::RecoveryLatch,
        "records/mailbox-envelope.schema.json" => crate::engine::mailbox::Envelope,
    ]
}

/// Writes every schema into `dir`; returns the paths written.
pub fn export(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (name, text) in all() {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(ControlError::io(parent))?;
        }
        atomic::write(&path, text.as_bytes()).map_err(ControlError::io(&path))?;
        written.push(path);
    }
    Ok(written)
}
