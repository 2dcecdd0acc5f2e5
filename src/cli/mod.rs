//! The command line: clap definitions, dispatch to [`crate::control`], and
//! rendering. Handlers parse, call `control`, render; they decide nothing.

mod capabilities;
mod engine_cmds;
mod guides;
mod ops_cmds;
mod output;
mod plan_cmds;
mod queue_cmds;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use output::{Format, Output};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::control::{self, ControlError, ExitStatus, Workspace};
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
    /// Output format of read commands and results (`dot` and `mermaid`
    /// only for `plan show`)
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Same as `--format json`
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// Options of commands a running daemon applies through its mailbox.
#[derive(Debug, Args)]
struct Send {
    /// With a daemon running: queue the command and return at once
    #[arg(long)]
    no_wait: bool,
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
    },
    /// Append a task card to the backlog
    AddTask {
        title: String,
        /// Card body (values may begin with `-`: `--body "- **Goal:** …"`)
        #[arg(long, allow_hyphen_values = true)]
        body: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
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
    },
    /// What stage attempts spent (tokens, USD, invocations, wall time), from the run histories
    Usage {
        /// Group by
        #[arg(long, value_enum, default_value_t = UsageBy::Day)]
        by: UsageBy,
        /// First UTC day counted: YYYY-MM-DD, `today` or `<N>d`
        #[arg(long)]
        since: Option<String>,
    },
    /// A terminal view: overview, queue, runs, research, logs, config (keys 1-7, ? help)
    Tui,
    /// Copy the manifest's paths into a staging git repo, check it, commit and push it
    #[command(subcommand)]
    Publish(PublishCommand),
    /// Diagnostics bundles: copies of the stores and a run, redacted
    #[command(subcommand)]
    Diagnostics(DiagnosticsCommand),
    /// The research plane: mode, ready families, deferred requests, completion
    Research {
        #[command(subcommand)]
        command: Option<ResearchCommand>,
    },
    /// The frozen plan and every transition of one run
    RunProvenance { run_id: String },
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
        #[arg(long, value_parser = seconds)]
        idle_timeout: Option<f64>,
    },
    /// Show or change millrace.toml
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check config, workspace, plan and runners (exit 1 on failure)
    Health,
    /// Health plus runner versions and lock state (exit 1 when not ready)
    Doctor,
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
    /// The guides and reference pages `init` writes into a workspace
    #[command(subcommand)]
    Guides(GuidesCommand),
    /// Every command, its flags, output schema and exit codes
    Capabilities,
    /// The bundled demo agent, run by the `demo` runner
    #[command(hide = true)]
    DemoAgent,
}

#[derive(Debug, clap::Args)]
struct PublishTarget {
    /// The staging repository (default: <workspace>/staging)
    #[arg(long)]
    staging_repo_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct PublishCommit {
    #[command(flatten)]
    target: PublishTarget,
    /// Commit message (default: `Millrace staging sync`)
    #[arg(long, short = 'm')]
    message: Option<String>,
    /// Push to origin after committing
    #[arg(long, overrides_with = "no_push")]
    push: bool,
    /// Do not push (the default)
    #[arg(long)]
    no_push: bool,
}

#[derive(Debug, Subcommand)]
enum PublishCommand {
    /// Copy agents/staging_manifest.yml's paths into the staging repo
    Sync(PublishTarget),
    /// Whether the staging repo could be committed and pushed (read-only)
    Preflight(PublishCommit),
    /// `git add -A`, commit, and with --push push to origin
    Commit(PublishCommit),
}

#[derive(Debug, Subcommand)]
enum DiagnosticsCommand {
    /// Every bundle, newest first
    List,
    /// One bundle
    Show { id: String },
    /// Write a bundle now (of the active or last run, or `--run`)
    Create {
        #[arg(long)]
        run: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum UsageBy {
    Task,
    Run,
    Stage,
    Runner,
    Day,
}

#[derive(Debug, Subcommand)]
enum ResearchCommand {
    /// Research runs, newest first, with their items and effects
    History {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
enum QueueCommand {
    /// List every backlog card in order
    Inspect,
    /// Return a frozen batch (the only one when none is named) to the
    /// front of the backlog
    Thaw {
        batch_id: Option<String>,
        /// With a daemon running: queue the command and return at once
        #[arg(long)]
        no_wait: bool,
    },
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
    Show,
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
    },
    /// Print the compiled plan, or the frozen plan of a run
    Show {
        #[arg(long, conflicts_with = "run")]
        mode: Option<String>,
        /// Show the plan frozen for this run
        #[arg(long)]
        run: Option<String>,
    },
    /// What differs between the frozen plans of two runs
    Diff { run_a: String, run_b: String },
    /// Walk a loop with scripted outcomes instead of agents: path, counters, spend, terminal
    Simulate {
        /// Mode id or alias (default: [plan] mode of the config)
        #[arg(long)]
        mode: Option<String>,
        /// A loop id or research family (default: the execution loop)
        #[arg(long = "loop")]
        loop_id: Option<String>,
        /// `node=MARKER[*N],…`, consumed in order per node; a node with none
        /// left takes its first success outcome
        #[arg(long, conflicts_with_all = ["script", "worst_case"])]
        outcomes: Option<String>,
        /// A file of outcomes (the same items, one or more per line, `#` comments)
        #[arg(long, conflicts_with = "worst_case")]
        script: Option<PathBuf>,
        /// Follow the longest path the routing allows
        #[arg(long)]
        worst_case: bool,
        /// A routing fact, `name=value` (e.g. `integration=true`)
        #[arg(long)]
        fact: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum RegistryCommand {
    /// List every definition (packaged and workspace)
    List,
    /// Show one definition after overlays are applied
    Show { id: String },
}

#[derive(Debug, Subcommand)]
enum SchemaCommand {
    /// Write the JSON Schemas into DIR
    Export {
        #[arg(default_value = "schemas")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum GuidesCommand {
    /// Write the current guides and reference pages under DIR, replacing
    /// what is there (`init` never replaces an edited one)
    Export { dir: PathBuf },
}

/// Parses arguments, runs the command and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = if cli.json { Format::Json } else { cli.format };
    let mut out = Output::new(format);
    let result = run(cli, &mut out).and_then(|status| {
        out.flush()?;
        Ok(status)
    });
    match result {
        Ok(status) => ExitCode::from(status.code()),
        // `millrace logs | head`: the reader has all it wanted.
        Err(ControlError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::from(ExitStatus::Ok.code())
        }
        Err(err) => {
            let _ = out.flush();
            render::error(&err, format == Format::Json);
            ExitCode::from(err.exit_status().code())
        }
    }
}

fn run(cli: Cli, out: &mut Output) -> Result<ExitStatus, ControlError> {
    if matches!(out.format, Format::Dot | Format::Mermaid)
        && !matches!(cli.command, Command::Plan(PlanCommand::Show { .. }))
    {
        return Err(ControlError::Usage(
            "--format dot and mermaid are for `plan show`; use text or json".into(),
        ));
    }
    match cli.command {
        Command::Init {
            destination,
            force,
            demo,
        } => {
            let guides: Vec<(&str, String)> = guides::all()
                .into_iter()
                .map(|g| (g.path, g.text))
                .collect();
            out.print(&control::init::init(&destination, force, demo, &guides)?)?
        }
        Command::Guides(GuidesCommand::Export { dir }) => {
            for path in guides::export(&dir).map_err(ControlError::io(&dir))? {
                out.write_text(&format!("wrote {}\n", dir.join(path).display()))?;
            }
        }
        c @ (Command::AddTask { .. } | Command::AddIdea { .. } | Command::Queue { .. }) => {
            return queue_cmds::run(&cli.config, c, out)
        }
        c @ (Command::Start { .. }
        | Command::Stop(_)
        | Command::Pause(_)
        | Command::Resume(_)
        | Command::Status { .. }
        | Command::Tui
        | Command::Logs { .. }
        | Command::Config(_)) => return engine_cmds::run(&cli.config, c, out),
        c @ (Command::Plan(_) | Command::Modes(_) | Command::Loops(_) | Command::Schema(_)) => {
            return plan_cmds::run(&cli.config, c, out)
        }
        c => return ops_cmds::run(&cli.config, c, out),
    }
    Ok(ExitStatus::Ok)
}

/// A number of seconds: finite, above zero, at most a week.
fn seconds(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 && v <= 604_800.0 {
        Ok(v)
    } else {
        Err(format!(
            "`{text}` must be more than 0 and at most 604800 seconds"
        ))
    }
}

fn status_of(ok: bool) -> ExitStatus {
    if ok {
        ExitStatus::Ok
    } else {
        ExitStatus::Failure
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

/// Names every backlog heading without a title on stderr (commands that
/// read the backlog say so, as `status` does).
fn warn_untitled(ws: &Workspace) {
    for w in control::queue::untitled_warnings(ws) {
        eprintln!("warning: {}", crate::defs::text::terminal_safe(&w));
    }
}
