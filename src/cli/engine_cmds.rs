//! The engine and its state: `start`, `stop`/`pause`/`resume`, `status`, `tui`, `logs` and `config`.

use super::*;

pub(super) fn run(
    cfg: &std::path::Path,
    command: Command,
    out: &mut Output,
) -> Result<ExitStatus, ControlError> {
    let open = || Workspace::open(cfg);
    let wait = |send: &Send| !send.no_wait;
    match command {
        Command::Start {
            daemon, monitor, ..
        } => start(&open()?, daemon, monitor, out)?,
        Command::Stop(send) => out.print(&control::mailbox::dispatch(
            &open()?,
            Op::Stop,
            wait(&send),
        )?)?,
        Command::Pause(send) => out.print(&control::mailbox::dispatch(
            &open()?,
            Op::Pause,
            wait(&send),
        )?)?,
        Command::Resume(send) => out.print(&control::mailbox::dispatch(
            &open()?,
            Op::Resume,
            wait(&send),
        )?)?,
        Command::Status { detail } => out.print(&control::status::status(&open()?, detail)?)?,
        Command::Tui => {
            use std::io::IsTerminal;
            if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
                return Err(ControlError::Usage(
                    "millrace tui needs a terminal on stdin and stdout; without one, use \
                     `status`, `logs --follow` or `start --daemon --monitor`"
                        .into(),
                ));
            }
            crate::tui::run(open()?).map_err(ControlError::Output)?
        }
        Command::Logs {
            tail,
            follow,
            limit,
            idle_timeout,
        } => {
            let ws = open()?;
            if follow {
                let idle = idle_timeout
                    .filter(|t| *t > 0.0)
                    .map(Duration::from_secs_f64);
                let json = out.json();
                let writer = out.writer();
                control::logs::follow(&ws, tail, limit.map(|l| l as usize), idle, |e| {
                    render::follow_line(writer, e, json)
                })?;
            } else {
                out.print(&control::logs::tail(&ws, tail)?)?;
            }
        }
        Command::Config(ConfigCommand::Show) => out.print(&control::config::show(&open()?))?,
        Command::Config(ConfigCommand::Set { key, value, send }) => {
            out.print(&control::config::set(&open()?, &key, &value, wait(&send))?)?
        }
        Command::Config(ConfigCommand::Reload(send)) => {
            out.print(&control::config::reload(&open()?, wait(&send))?)?
        }
        _ => unreachable!("cli::run dispatches only this group's commands here"),
    }
    Ok(ExitStatus::Ok)
}

/// `start --once`, or `start --daemon` (printing a line per event with
/// `--monitor`).
fn start(
    ws: &Workspace,
    daemon: bool,
    monitor: bool,
    out: &mut Output,
) -> Result<(), ControlError> {
    if daemon {
        let listener: Option<crate::interp::EventListener> = monitor.then(|| {
            let printer: crate::interp::EventListener = Arc::new(render::monitor_line);
            printer
        });
        out.print(&control::start::daemon(ws, listener)?)?;
    } else {
        warn_untitled(ws);
        out.print(&control::start::once(ws)?)?;
    }
    Ok(())
}
