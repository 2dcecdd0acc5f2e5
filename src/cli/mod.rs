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
        /// Use the bundled demo agent for every stage and queue a demo task
        #[arg(long)]
        demo: bool,
        #[arg(long)]
        json: bool,
    },
    /// Append a task card to the backlog
    AddTask {
        title: String,
        #[arg(long)]
        body: Option<String>,
        #[arg(long)]
        spec_id: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show the queue (active task, backlog depth, next task)
    Queue {
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: Option<QueueCommand>,
    },
    /// Run tasks through the compiled plan
    Start {
        /// Run one task to a terminal state, then exit (the default)
        #[arg(long)]
        once: bool,
        /// Keep draining the backlog (not available yet)
        #[arg(long, conflicts_with = "once")]
        daemon: bool,
        #[arg(long)]
        json: bool,
    },
    /// Runtime state, queue and plan currentness
    Status {
        /// Include the active and next task
        #[arg(long)]
        detail: bool,
        #[arg(long)]
        json: bool,
    },
    /// The frozen plan and every transition of one run
    RunProvenance {
        run_id: String,
        #[arg(long)]
        json: bool,
    },
    /// The last events of agents/engine_events.log
    Logs {
        #[arg(long, default_value_t = 50)]
        tail: usize,
        #[arg(long)]
        json: bool,
    },
    /// Check config, workspace, plan and runners (exit 1 on failure)
    Health {
        #[arg(long)]
        json: bool,
    },
    /// Health plus runner versions and lock state (exit 1 when not ready)
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// The bundled demo agent, run by the `demo` runner
    #[command(hide = true)]
    DemoAgent,
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
enum QueueCommand {
    /// List every backlog card in order
    Inspect,
    /// Rewrite the backlog in the given order (every id exactly once)
    Reorder {
        #[arg(required = true)]
        task_ids: Vec<String>,
    },
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
    /// Print the compiled plan, or the frozen plan of a run
    Show {
        #[arg(long, conflicts_with = "run")]
        mode: Option<String>,
        /// Show the plan frozen for this run
        #[arg(long)]
        run: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// What differs between the frozen plans of two runs
    Diff {
        run_a: String,
        run_b: String,
        #[arg(long)]
        json: bool,
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
            Command::Init { json, .. }
            | Command::AddTask { json, .. }
            | Command::Queue { json, .. }
            | Command::Start { json, .. }
            | Command::Status { json, .. }
            | Command::RunProvenance { json, .. }
            | Command::Logs { json, .. }
            | Command::Health { json }
            | Command::Doctor { json } => *json,
            Command::DemoAgent => false,
            Command::Plan(PlanCommand::Validate { json, .. })
            | Command::Plan(PlanCommand::Diff { json, .. }) => *json,
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
            demo,
            json,
        } => {
            let report = control::init::init(&destination, force, demo)?;
            render::init(out, &report, json);
            Ok(0)
        }
        Command::AddTask {
            title,
            body,
            spec_id,
            json,
        } => {
            let ws = Workspace::open(&cli.config)?;
            let op = control::queue::add_task(&ws, &title, body.as_deref(), spec_id.as_deref())?;
            render::operation(out, &op, json);
            Ok(0)
        }
        Command::Queue { json, command } => {
            let ws = Workspace::open(&cli.config)?;
            match command {
                None => render::queue(out, &control::queue::view(&ws, false)?, false, json),
                Some(QueueCommand::Inspect) => {
                    render::queue(out, &control::queue::view(&ws, true)?, true, json)
                }
                Some(QueueCommand::Reorder { task_ids }) => {
                    render::operation(out, &control::queue::reorder(&ws, &task_ids)?, json)
                }
            }
            Ok(0)
        }
        Command::Start { daemon, json, .. } => {
            if daemon {
                return Err(ControlError::Usage(
                    "`start --daemon` is not available yet; use `start --once`".into(),
                ));
            }
            let ws = Workspace::open(&cli.config)?;
            let report = control::start::once(&ws)?;
            render::start(out, &report, json);
            Ok(0)
        }
        Command::Status { detail, json } => {
            let ws = Workspace::open(&cli.config)?;
            render::status(out, &control::status::status(&ws, detail)?, json);
            Ok(0)
        }
        Command::RunProvenance { run_id, json } => {
            let ws = Workspace::open(&cli.config)?;
            render::provenance(out, &control::runs::provenance(&ws, &run_id)?, json);
            Ok(0)
        }
        Command::Logs { tail, json } => {
            let ws = Workspace::open(&cli.config)?;
            render::logs(out, &control::logs::tail(&ws, tail)?, json);
            Ok(0)
        }
        Command::Health { json } => {
            let report = control::health::report(&cli.config, false);
            render::health(out, &report, false, json);
            Ok(if report.ok { 0 } else { 1 })
        }
        Command::Doctor { json } => {
            let report = control::health::report(&cli.config, true);
            render::health(out, &report, true, json);
            Ok(if report.bootstrap_ready && report.execution_ready {
                0
            } else {
                1
            })
        }
        Command::DemoAgent => Ok(crate::runner::demo_agent::main().clamp(0, 255) as u8),
        Command::Plan(PlanCommand::Diff { run_a, run_b, json }) => {
            let ws = Workspace::open(&cli.config)?;
            render::plan_diff(out, &control::runs::diff(&ws, &run_a, &run_b)?, json);
            Ok(0)
        }
        Command::Plan(PlanCommand::Validate { mode, json }) => {
            let ws = Workspace::open(&cli.config)?;
            let report = control::plan::validate(&ws, mode.as_deref())?;
            render::validate(out, &report, json);
            Ok(if report.ok { 0 } else { 1 })
        }
        Command::Plan(PlanCommand::Show { mode, run, format }) => {
            let ws = Workspace::open(&cli.config)?;
            let plan = match run {
                Some(run_id) => control::runs::plan(&ws, &run_id)?,
                None => control::plan::show(&ws, mode.as_deref())?,
            };
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
        Ok(Some(Workspace::open(config)?))
    } else {
        Ok(None)
    }
}
