//! `millrace capabilities`: the machine contract, read from the clap
//! definitions themselves — every command with its flags, the JSON Schema
//! of its `--json` output, and the exit codes — so that a script or an
//! agent operating millrace can discover it instead of scraping `--help`.

use std::io::{self, Write};

use clap::CommandFactory;
use serde::Serialize;

use crate::control::ExitStatus;

use super::output::{write_json, Render};
use super::Cli;

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
    ("start", "output/start.schema.json"),
    ("stop", "output/operation.schema.json"),
    ("pause", "output/operation.schema.json"),
    ("resume", "output/operation.schema.json"),
    ("status", "output/status.schema.json"),
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
    ("modes list", "output/modes.schema.json"),
    ("modes show", "mode.schema.json"),
    ("loops list", "output/loops.schema.json"),
    ("loops show", "loop.schema.json"),
    ("capabilities", "output/capabilities.schema.json"),
];

pub fn capabilities() -> Capabilities {
    let root = Cli::command();
    let mut commands = Vec::new();
    collect(&root, "", &mut commands);
    Capabilities {
        version: env!("CARGO_PKG_VERSION").to_string(),
        commands,
        exit_codes: ExitStatus::ALL
            .iter()
            .map(|s| ExitCodeInfo {
                code: s.code(),
                status: *s,
                meaning: s.meaning().to_string(),
            })
            .collect(),
    }
}

fn collect(cmd: &clap::Command, prefix: &str, out: &mut Vec<CommandInfo>) {
    for sub in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = if prefix.is_empty() {
            sub.get_name().to_string()
        } else {
            format!("{prefix} {}", sub.get_name())
        };
        let runnable = !sub.is_subcommand_required_set();
        if runnable {
            out.push(CommandInfo {
                about: sub.get_about().map(|a| a.to_string()).unwrap_or_default(),
                args: sub
                    .get_arguments()
                    .filter(|a| !a.is_hide_set() && a.get_id() != "help" && a.get_id() != "version")
                    .map(arg_info)
                    .collect(),
                output_schema: OUTPUT_SCHEMAS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, s)| s.to_string()),
                name: name.clone(),
            });
        }
        collect(sub, &name, out);
    }
}

fn arg_info(a: &clap::Arg) -> ArgInfo {
    ArgInfo {
        name: match a.get_long() {
            Some(l) => format!("--{l}"),
            None => a.get_id().to_string().to_uppercase(),
        },
        help: a.get_help().map(|h| h.to_string()).unwrap_or_default(),
        required: a.is_required_set(),
        takes_value: a.get_action().takes_values(),
        values: a
            .get_possible_values()
            .iter()
            .map(|v| v.get_name().to_string())
            .collect(),
        global: a.is_global_set(),
    }
}

impl Render for Capabilities {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "millrace {}", self.version)?;
        for c in &self.commands {
            let flags: Vec<&str> = c
                .args
                .iter()
                .filter(|a| !a.global)
                .map(|a| a.name.as_str())
                .collect();
            writeln!(out, "  {:<16} {}", c.name, flags.join(" "))?;
        }
        writeln!(out, "exit codes:")?;
        for e in &self.exit_codes {
            writeln!(out, "  {} {}", e.code, e.meaning)?;
        }
        Ok(())
    }

    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        write_json(out, self)
    }
}
