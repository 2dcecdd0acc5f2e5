//! The `subprocess` runner (any command from `[runners.<id>] command`), the
//! `command` runner (a deterministic check: its exit code is the outcome),
//! and the bundled `demo` runner, which is this binary's `demo-agent`
//! subcommand run through the same path.

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

/// Runs `[runners.<id>] command` (tests, lint, a build) as a gate: exit 0
/// ends the stage with its first outcome, any other exit with its second.
/// The final text — a one-line verdict, then the tail of the output — is
/// what the next stage's prompt sees as `previous`.
pub struct Check;

/// Lines of output the verdict carries.
const CHECK_TAIL_LINES: usize = 40;

impl Adapter for Check {
    fn run(&self, req: &StageRequest) -> StageResult {
        let Some((program, args)) = req.config.command.split_first() else {
            return failed_to_start(
                req,
                format!("check runner `{}` has no command; set [runners.{}] command = [\"…\"] (e.g. [\"cargo\", \"test\"]) in millrace.toml", req.runner_id, req.runner_id),
            );
        };
        let mut args = args.to_vec();
        args.extend(req.config.args.iter().cloned());
        let exit = match run_with_prompt(req, program, &args) {
            Ok(exit) => exit,
            Err(failed) => return *failed,
        };
        // Only the end of a long log is kept.
        let output = |p: &std::path::Path| {
            let bytes = std::fs::read(p).unwrap_or_default();
            let from = bytes.len().saturating_sub(64 * 1024);
            String::from_utf8_lossy(&bytes[from..]).into_owned()
        };
        let mut text = output(&req.paths.stdout);
        text.push_str(&output(&req.paths.stderr));
        let tail: Vec<&str> = text.lines().rev().take(CHECK_TAIL_LINES).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let last = tail
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .copied()
            .unwrap_or("");
        let (verdict, marker) = match exit.code {
            Some(0) => (
                format!("check passed: `{}`", req.config.command.join(" ")),
                req.outcomes.first(),
            ),
            Some(code) => (
                format!(
                    "check failed (exit {code}): {last} (command `{}`)",
                    req.config.command.join(" ")
                ),
                req.outcomes.get(1),
            ),
            // Killed or timed out: no outcome; the interpreter classes it.
            None => {
                return StageResult {
                    exit,
                    ..StageResult::default()
                }
            }
        };
        let final_text = match marker {
            Some(m) => format!("{verdict}\n\n{}\n\n### {m}", tail.join("\n")),
            None => verdict,
        };
        StageResult {
            exit: super::Exit {
                code: Some(0),
                ..exit
            },
            final_text: Some(final_text),
            outcome_in_final_text: true,
            ..StageResult::default()
        }
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
