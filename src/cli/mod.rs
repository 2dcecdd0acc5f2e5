//! The command line: clap definitions, dispatch to [`crate::control`], and
//! rendering. Handlers parse, call `control`, render; they decide nothing.

mod render;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::control::{self, ControlError, Workspace};

#[derive(Debug, Parser)]
#[command(
    name = "millrace",
    version,
    about = "A runtime for long-running, governed coding-agent work"
)]
pub struct Cli {
    /// Path of the workspace config
    #[arg(
        long,
        global = true,
        default_value = "millrace.toml",
        value_name = "PATH"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a workspace (millrace.toml and agents/) in DESTINATION
    Init {
        destination: PathBuf,
        /// Allow a non-empty destination; existing files are kept
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Compile and inspect plans
    #[command(subcommand)]
    Plan(PlanCommand),
    /// List and show modes
    #[command(subcommand)]
    Modes(RegistryCommand),
    /// List and show loops
    #[command(subcommand)]
    Loops(RegistryCommand),
    /// JSON Schemas of the authoring formats
    #[command(subcommand)]
    Schema(SchemaCommand),
}

#[derive(Debug, Subcommand)]
enum PlanCommand {
    /// Compile the workspace; exit 1 with located diagnostics on any error
    Validate {
        /// Mode id or alias (default: [plan] mode of the config)
        #[arg(long)]
        mode: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print the compiled plan
    Show {
        #[arg(long)]
        mode: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Dot,
    Mermaid,
}

#[derive(Debug, Subcommand)]
enum RegistryCommand {
    /// List every definition (packaged and workspace)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one definition after overlays are applied
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SchemaCommand {
    /// Write the JSON Schemas into DIR
    Export {
        #[arg(default_value = "schemas")]
        dir: PathBuf,
    },
}

/// Parses arguments, runs the command and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.wants_json();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            render::error(&err, json);
            ExitCode::from(err.exit_code() as u8)
        }
    }
}

impl Cli {
    fn wants_json(&self) -> bool {
        match &self.command {
            Command::Init { json, .. } => *json,
            Command::Plan(PlanCommand::Validate { json, .. }) => *json,
            Command::Plan(PlanCommand::Show { format, .. }) => matches!(format, Format::Json),
            Command::Modes(c) | Command::Loops(c) => match c {
                RegistryCommand::List { json } | RegistryCommand::Show { json, .. } => *json,
            },
            Command::Schema(_) => false,
        }
    }
}

fn run(cli: Cli) -> Result<u8, ControlError> {
    let out = &mut std::io::stdout().lock();
    match cli.command {
        Command::Init {
            destination,
            force,
            json,
        } => {
            let report = control::init::init(&destination, force)?;
            render::init(out, &report, json);
            Ok(0)
        }
        Command::Plan(PlanCommand::Validate { mode, json }) => {
            let ws = Workspace::open(&cli.config)?;
            let report = control::plan::validate(&ws, mode.as_deref())?;
            render::validate(out, &report, json);
            Ok(if report.ok { 0 } else { 1 })
        }
        Command::Plan(PlanCommand::Show { mode, format }) => {
            let ws = Workspace::open(&cli.config)?;
            let plan = control::plan::show(&ws, mode.as_deref())?;
            let text = match format {
                Format::Text => crate::compile::describe::plan_text(&plan),
                Format::Json => plan.to_canonical_json(),
                Format::Dot => render::plan_dot(&plan),
                Format::Mermaid => render::plan_mermaid(&plan),
            };
            let _ = out.write_all(text.as_bytes());
            Ok(0)
        }
        Command::Modes(cmd) => {
            let reg = registry(&cli.config)?;
            match cmd {
                RegistryCommand::List { json } => {
                    render::modes(out, &control::plan::modes(&reg), json)
                }
                RegistryCommand::Show { id, json } => {
                    render::yaml_or_json(out, &control::plan::mode(&reg, &id)?, json)
                }
            }
            Ok(0)
        }
        Command::Loops(cmd) => {
            let reg = registry(&cli.config)?;
            match cmd {
                RegistryCommand::List { json } => {
                    render::loops(out, &control::plan::loops(&reg), json)
                }
                RegistryCommand::Show { id, json } => {
                    render::yaml_or_json(out, &control::plan::loop_def(&reg, &id)?, json)
                }
            }
            Ok(0)
        }
        Command::Schema(SchemaCommand::Export { dir }) => {
            for path in control::schema::export(&dir)? {
                let _ = writeln!(out, "wrote {}", path.display());
            }
            Ok(0)
        }
    }
}

/// The registry for `modes`/`loops` commands; load problems are printed as
/// warnings so that listing still works in a half-broken workspace.
fn registry(config: &std::path::Path) -> Result<crate::compile::registry::Registry, ControlError> {
    let ws = optional_workspace(config)?;
    let (reg, diags) = control::plan::registry(ws.as_ref());
    render::warn_diagnostics(&diags);
    Ok(reg)
}

/// Read-only registry commands work without a workspace (packaged defaults
/// only) unless a config path was given explicitly and is missing.
fn optional_workspace(config: &std::path::Path) -> Result<Option<Workspace>, ControlError> {
    if config.exists() || config != std::path::Path::new("millrace.toml") {
        Workspace::open(config).map(Some)
    } else {
        Ok(None)
    }
}
