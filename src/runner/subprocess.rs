//! The `subprocess` runner (any command from `[runners.<id>] command`) and the
//! bundled `demo` runner, which is this binary's `demo-agent` subcommand run
//! through the same path.

use super::{failed_to_start, run_with_prompt, Adapter, StageRequest, StageResult};

pub struct Subprocess;

impl Adapter for Subprocess {
    fn run(&self, req: &StageRequest) -> StageResult {
        let Some((program, args)) = req.config.command.split_first() else {
            return failed_to_start(
                req,
                format!("runner `{}` has no command; set [runners.{}] command = [\"…\"] in millrace.toml", req.runner_id, req.runner_id),
            );
        };
        let mut args = args.to_vec();
        args.extend(req.config.args.iter().cloned());
        run_with_stdin_prompt(req, program, &args)
    }
}

pub struct Demo;

impl Adapter for Demo {
    fn run(&self, req: &StageRequest) -> StageResult {
        let program = match req.config.command.first() {
            Some(p) => p.clone(),
            None => match std::env::current_exe() {
                Ok(p) => p.display().to_string(),
                Err(e) => {
                    return failed_to_start(
                        req,
                        format!("cannot locate the millrace executable: {e}"),
                    )
                }
            },
        };
        run_with_stdin_prompt(req, &program, &["demo-agent".to_string()])
    }
}

/// Prompt on stdin (and in `MILLRACE_PROMPT`); the final message is the
/// last-message file when the agent wrote one, else its stdout (v0.2.0
/// copies stdout into the file; we keep it in the result instead).
fn run_with_stdin_prompt(req: &StageRequest, program: &str, args: &[String]) -> StageResult {
    let exit = match run_with_prompt(req, program, args) {
        Ok(exit) => exit,
        Err(failed) => return *failed,
    };
    let final_text = std::fs::read_to_string(&req.paths.last).ok().or_else(|| {
        std::fs::read_to_string(&req.paths.stdout)
            .ok()
            .filter(|s| !s.trim().is_empty())
    });
    StageResult {
        exit,
        final_text,
        ..StageResult::default()
    }
}
