//! The machine contract of the CLI, as data: what `millrace capabilities`
//! prints (the CLI fills it from its own argument definitions) and which
//! checked-in schema describes each command's `--json` output.

use serde::Serialize;

use super::ExitStatus;

/// The contract.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Capabilities {
    pub version: String,
    /// Every command, by its full name (`queue inspect`).
    pub commands: Vec<CommandInfo>,
    pub exit_codes: Vec<ExitCodeInfo>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CommandInfo {
    pub name: String,
    pub about: String,
    pub args: Vec<ArgInfo>,
    /// The schema (file under `schemas/`) of its `--json` output, when it
    /// has one.
    pub output_schema: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ArgInfo {
    /// `--flag` or the positional's name.
    pub name: String,
    pub help: String,
    pub required: bool,
    /// Whether it takes a value.
    pub takes_value: bool,
    /// The values it accepts, when they are a fixed set.
    pub values: Vec<String>,
    /// Accepted by every command.
    pub global: bool,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ExitCodeInfo {
    pub code: u8,
    pub status: ExitStatus,
    pub meaning: String,
}

/// The `--json` output schema of each command, by full command name.
pub const OUTPUT_SCHEMAS: &[(&str, &str)] = &[
    ("init", "output/operation.schema.json"),
    ("add-task", "output/operation.schema.json"),
    ("add-idea", "output/operation.schema.json"),
    ("queue", "output/queue.schema.json"),
    ("queue inspect", "output/queue.schema.json"),
    ("queue reorder", "output/operation.schema.json"),
    ("queue thaw", "output/operation.schema.json"),
    ("start", "output/start.schema.json"),
    ("stop", "output/operation.schema.json"),
    ("pause", "output/operation.schema.json"),
    ("resume", "output/operation.schema.json"),
    ("status", "output/status.schema.json"),
    ("usage", "output/usage.schema.json"),
    ("publish sync", "output/publish-sync.schema.json"),
    ("publish preflight", "output/publish-preflight.schema.json"),
    ("publish commit", "output/publish-commit.schema.json"),
    ("diagnostics list", "output/diagnostics.schema.json"),
    ("diagnostics show", "output/diagnostics-bundle.schema.json"),
    (
        "diagnostics create",
        "output/diagnostics-bundle.schema.json",
    ),
    ("research", "output/research.schema.json"),
    ("research history", "output/research-history.schema.json"),
    ("run-provenance", "output/provenance.schema.json"),
    ("logs", "output/logs.schema.json"),
    ("config show", "output/config.schema.json"),
    ("config set", "output/operation.schema.json"),
    ("config reload", "output/operation.schema.json"),
    ("health", "output/health.schema.json"),
    ("doctor", "output/health.schema.json"),
    ("plan validate", "output/validate.schema.json"),
    ("plan show", "frozen-plan.schema.json"),
    ("plan diff", "output/plan-diff.schema.json"),
    ("plan simulate", "output/simulate.schema.json"),
    ("modes list", "output/modes.schema.json"),
    ("modes show", "mode.schema.json"),
    ("loops list", "output/loops.schema.json"),
    ("loops show", "loop.schema.json"),
    ("capabilities", "output/capabilities.schema.json"),
];
