//! The command line: clap definitions, dispatch to [`crate::control`], and
//! rendering. Handlers parse, call `control`, render; they decide nothing.

mod render;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::control::{self, ControlError, Workspace};
use crate::engine::commands::Command as Op;

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

/// Options of commands a running daemon applies through its mailbox.
#[derive(Debug, Args)]
struct Send {
    /// With a daemon running: queue the command and return at once
    #[arg(long)]
    no_wait: bool,
    #[arg(long)]
    json: bool,
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
        #[command(flatten)]
        send: Send,
    },
    /// Queue an idea file for research (copied into agents/ideas/raw/)
    AddIdea {
        file: PathBuf,
        #[command(flatten)]
        send: Send,
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
        /// Keep draining the backlog until stopped
        #[arg(long, conflicts_with = "once")]
        daemon: bool,
        /// With --daemon: print a line per stage start/end and idle heartbeats
        #[arg(long, requires = "daemon")]
        monitor: bool,
        #[arg(long)]
        json: bool,
    },
    /// Ask the daemon to stop (the running stage gets a grace period)
    Stop(Send),
    /// Ask the daemon to start nothing new after the current stage
    Pause(Send),
    /// Let a paused daemon continue
    Resume(Send),
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
        /// Keep printing new events as they are appended
        #[arg(long)]
        follow: bool,
        /// With --follow: stop after this many new events
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        limit: Option<u64>,
        /// With --follow: stop after this many seconds without an event
        #[arg(long)]
        idle_timeout: Option<f64>,
        #[arg(long)]
        json: bool,
    },
    /// Show or change millrace.toml
    #[command(subcommand)]
    Config(ConfigCommand),
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
    /// The bundled demo agent, run by the `demo` runner
    #[command(hide = true)]
    DemoAgent,
}

#[derive(Debug, Subcommand)]
enum QueueCommand {
    /// List every backlog card in order
    Inspect,
    /// Rewrite the backlog in the given order (every id exactly once)
    Reorder {
        #[arg(required = true)]
        task_ids: Vec<String>,
        /// With a daemon running: queue the command and return at once
        #[arg(long)]
        no_wait: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective config and its hash
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Set a dotted key (validated before it is written)
    Set {
        key: String,
        value: String,
        #[command(flatten)]
        send: Send,
    },
    /// Make a running daemon re-read millrace.toml
    Reload(Send),
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
            | Command::Queue { json, .. }
            | Command::Start { json, .. }
            | Command::Status { json, .. }
            | Command::RunProvenance { json, .. }
            | Command::Logs { json, .. }
            | Command::Health { json }
            | Command::Doctor { json }
            | Command::Config(ConfigCommand::Show { json }) => *json,
            Command::AddTask { send, .. }
            | Command::AddIdea { send, .. }
            | Command::Stop(send)
            | Command::Pause(send)
            | Command::Resume(send)
            | Command::Config(ConfigCommand::Set { send, .. })
            | Command::Config(ConfigCommand::Reload(send)) => send.json,
            Command::DemoAgent | Command::Schema(_) => false,
            Command::Plan(PlanCommand::Validate { json, .. })
            | Command::Plan(PlanCommand::Diff { json, .. }) => *json,
            Command::Plan(PlanCommand::Show { format, .. }) => matches!(format, Format::Json),
            Command::Modes(c) | Command::Loops(c) => match c {
                RegistryCommand::List { json } | RegistryCommand::Show { json, .. } => *json,
            },
        }
    }
}

fn run(cli: Cli) -> Result<u8, ControlError> {
    // Not locked for the whole command: `--monitor` prints from the run thread.
    let out = &mut std::io::stdout();
    let open = || Workspace::open(&cli.config);
    match cli.command {
        Command::Init {
            destination,
            force,
            demo,
            json,
        } => {
            render::init(out, &control::init::init(&destination, force, demo)?, json);
        }
        Command::AddTask {
            title,
            body,
            spec_id,
            send,
        } => {
            let op = control::queue::add_task(
                &open()?,
                &title,
                body.as_deref(),
                spec_id.as_deref(),
                !send.no_wait,
            )?;
            render::operation(out, &op, send.json);
        }
        Command::AddIdea { file, send } => {
            if !file.is_file() {
                return Err(ControlError::Usage(format!(
                    "{} is not a file",
                    file.display()
                )));
            }
            let file = std::fs::canonicalize(&file).map_err(ControlError::io(&file))?;
            let op = control::mailbox::dispatch(
                &open()?,
                crate::engine::commands::Command::AddIdea { file },
                !send.no_wait,
            )?;
            render::operation(out, &op, send.json);
        }
        Command::Queue { json, command } => {
            let ws = open()?;
            match command {
                None => render::queue(out, &control::queue::view(&ws, false)?, false, json),
                Some(QueueCommand::Inspect) => {
                    render::queue(out, &control::queue::view(&ws, true)?, true, json)
                }
                Some(QueueCommand::Reorder { task_ids, no_wait }) => render::operation(
                    out,
                    &control::queue::reorder(&ws, &task_ids, !no_wait)?,
                    json,
                ),
            }
        }
        Command::Start {
            daemon,
            monitor,
            json,
            ..
        } => {
            let ws = open()?;
            if daemon {
                let listener: Option<crate::interp::EventListener> = monitor.then(|| {
                    let printer: crate::interp::EventListener = Arc::new(render::monitor_line);
                    printer
                });
                let report = control::start::daemon(&ws, listener)?;
                render::daemon_report(out, &report, json);
            } else {
                render::start(out, &control::start::once(&ws)?, json);
            }
        }
        Command::Stop(send) => send_simple(out, &open()?, Op::Stop, send)?,
        Command::Pause(send) => send_simple(out, &open()?, Op::Pause, send)?,
        Command::Resume(send) => send_simple(out, &open()?, Op::Resume, send)?,
        Command::Status { detail, json } => {
            render::status(out, &control::status::status(&open()?, detail)?, json)
        }
        Command::RunProvenance { run_id, json } => {
            render::provenance(out, &control::runs::provenance(&open()?, &run_id)?, json)
        }
        Command::Logs {
            tail,
            follow,
            limit,
            idle_timeout,
            json,
        } => {
            let ws = open()?;
            if follow {
                let idle = idle_timeout
                    .filter(|t| *t > 0.0)
                    .map(Duration::from_secs_f64);
                control::logs::follow(&ws, tail, limit.map(|l| l as usize), idle, |e| {
                    render::follow_line(e, json)
                })?;
            } else {
                render::logs(out, &control::logs::tail(&ws, tail)?, json);
            }
        }
        Command::Config(ConfigCommand::Show { json }) => {
            render::config(out, &control::config::show(&open()?), json)
        }
        Command::Config(ConfigCommand::Set { key, value, send }) => render::operation(
            out,
            &control::config::set(&open()?, &key, &value, !send.no_wait)?,
            send.json,
        ),
        Command::Config(ConfigCommand::Reload(send)) => render::operation(
            out,
            &control::config::reload(&open()?, !send.no_wait)?,
            send.json,
        ),
        Command::Health { json } => {
            let report = control::health::report(&cli.config, false);
            render::health(out, &report, false, json);
            return Ok(if report.ok { 0 } else { 1 });
        }
        Command::Doctor { json } => {
            let report = control::health::report(&cli.config, true);
            render::health(out, &report, true, json);
            return Ok(if report.bootstrap_ready && report.execution_ready {
                0
            } else {
                1
            });
        }
        Command::DemoAgent => return Ok(crate::runner::demo_agent::main().clamp(0, 255) as u8),
        Command::Plan(PlanCommand::Validate { mode, json }) => {
            let report = control::plan::validate(&open()?, mode.as_deref())?;
            render::validate(out, &report, json);
            return Ok(if report.ok { 0 } else { 1 });
        }
        Command::Plan(PlanCommand::Show { mode, run, format }) => {
            let ws = open()?;
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
        }
        Command::Plan(PlanCommand::Diff { run_a, run_b, json }) => {
            render::plan_diff(out, &control::runs::diff(&open()?, &run_a, &run_b)?, json)
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
        }
        Command::Schema(SchemaCommand::Export { dir }) => {
            for path in control::schema::export(&dir)? {
                let _ = writeln!(out, "wrote {}", path.display());
            }
        }
    }
    Ok(0)
}

fn send_simple(
    out: &mut impl Write,
    ws: &Workspace,
    command: Op,
    send: Send,
) -> Result<(), ControlError> {
    let op = control::mailbox::dispatch(ws, command, !send.no_wait)?;
    render::operation(out, &op, send.json);
    Ok(())
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
