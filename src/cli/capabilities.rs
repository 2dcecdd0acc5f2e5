//! `millrace capabilities`: the machine contract, read from the clap
//! definitions themselves — every command with its flags, the JSON Schema
//! of its `--json` output, and the exit codes — so that a script or an
//! agent operating millrace can discover it instead of scraping `--help`.

use std::io::{self, Write};

use clap::CommandFactory;

use crate::control::capabilities::{
    ArgInfo, Capabilities, CommandInfo, ExitCodeInfo, OUTPUT_SCHEMAS,
};
use crate::control::ExitStatus;

use super::output::{write_json, Render};
use super::Cli;

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
