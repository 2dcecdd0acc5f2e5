//! Operator checks and records: `publish`, `diagnostics`, `usage`, `research`, `run-provenance`, `health`/`doctor`, `capabilities` and the bundled demo agent.

use super::*;

pub(super) fn run(
    cfg: &std::path::Path,
    command: Command,
    out: &mut Output,
) -> Result<ExitStatus, ControlError> {
    let open = || Workspace::open(cfg);
    match command {
        Command::Publish(c) => publish(&open()?, c, out)?,
        Command::Diagnostics(c) => {
            let ws = open()?;
            match c {
                DiagnosticsCommand::List => out.print(&control::diagnostics::list(&ws))?,
                DiagnosticsCommand::Show { id } => {
                    out.print(&control::diagnostics::show(&ws, &id)?)?
                }
                DiagnosticsCommand::Create { run } => {
                    out.print(&control::diagnostics::create(&ws, run.as_deref())?)?
                }
            }
        }
        Command::Usage { by, since } => {
            let by = match by {
                UsageBy::Task => control::usage::By::Task,
                UsageBy::Run => control::usage::By::Run,
                UsageBy::Stage => control::usage::By::Stage,
                UsageBy::Runner => control::usage::By::Runner,
                UsageBy::Day => control::usage::By::Day,
            };
            out.print(&control::usage::usage(&open()?, by, since.as_deref())?)?
        }
        Command::Research { command } => match command {
            None => out.print(&control::research::report(&open()?)?)?,
            Some(ResearchCommand::History { limit }) => {
                out.print(&control::research::history(&open()?, limit)?)?
            }
        },
        Command::RunProvenance { run_id } => {
            out.print(&control::runs::provenance(&open()?, &run_id)?)?
        }
        Command::Health => return health(cfg, false, out),
        Command::Doctor => return health(cfg, true, out),
        Command::DemoAgent => {
            return Ok(match crate::runner::demo_agent::main() {
                0 => ExitStatus::Ok,
                _ => ExitStatus::Failure,
            })
        }
        Command::Capabilities => out.print(&capabilities::capabilities())?,
        _ => unreachable!("cli::run dispatches only this group's commands here"),
    }
    Ok(ExitStatus::Ok)
}

fn publish(ws: &Workspace, c: PublishCommand, out: &mut Output) -> Result<(), ControlError> {
    match c {
        PublishCommand::Sync(t) => {
            out.print(&control::publish::sync(ws, t.staging_repo_dir.as_deref())?)?
        }
        PublishCommand::Preflight(c) => out.print(&control::publish::preflight(
            ws,
            c.target.staging_repo_dir.as_deref(),
            c.message.as_deref(),
            c.push && !c.no_push,
        )?)?,
        PublishCommand::Commit(c) => out.print(&control::publish::commit(
            ws,
            c.target.staging_repo_dir.as_deref(),
            c.message.as_deref(),
            c.push && !c.no_push,
        )?)?,
    }
    Ok(())
}

/// `health`, or `doctor` (which adds the runners' readiness): exit 1 when
/// a check failed or the workspace is not ready.
fn health(
    cfg: &std::path::Path,
    doctor: bool,
    out: &mut Output,
) -> Result<ExitStatus, ControlError> {
    let report = control::health::report(cfg, doctor);
    let ok = if doctor {
        report.bootstrap_ready && report.execution_ready
    } else {
        report.ok
    };
    out.print(&render::Health { report, doctor })?;
    Ok(status_of(ok))
}
