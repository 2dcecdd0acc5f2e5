//! `add-task`, `add-idea` and `queue`: the task backlog.

use super::*;

pub(super) fn run(
    cfg: &std::path::Path,
    command: Command,
    out: &mut Output,
) -> Result<ExitStatus, ControlError> {
    let open = || Workspace::open(cfg);
    let wait = |send: &Send| !send.no_wait;
    match command {
        Command::AddTask {
            title,
            body,
            spec_id,
            send,
        } => {
            let ws = open()?;
            out.print(&control::queue::add_task(
                &ws,
                &title,
                body.as_deref(),
                spec_id.as_deref(),
                wait(&send),
            )?)?;
            warn_untitled(&ws);
        }
        Command::AddIdea { file, send } => {
            out.print(&control::queue::add_idea(&open()?, &file, wait(&send))?)?
        }
        Command::Queue { command } => {
            let ws = open()?;
            match command {
                None => out.print(&render::Queue {
                    view: control::queue::view(&ws, false)?,
                    inspect: false,
                })?,
                Some(QueueCommand::Inspect) => out.print(&render::Queue {
                    view: control::queue::view(&ws, true)?,
                    inspect: true,
                })?,
                Some(QueueCommand::Thaw { batch_id, no_wait }) => {
                    out.print(&control::queue::thaw(&ws, batch_id.as_deref(), !no_wait)?)?
                }
                Some(QueueCommand::Reorder { task_ids, no_wait }) => {
                    out.print(&control::queue::reorder(&ws, &task_ids, !no_wait)?)?
                }
            }
        }
        _ => unreachable!("cli::run dispatches only this group's commands here"),
    }
    Ok(ExitStatus::Ok)
}
