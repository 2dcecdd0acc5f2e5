//! `health` and `doctor`: one report of checks (spec §1.7, §9.3).
//!
//! `health` fails (exit 1) when any check fails; `doctor` also looks up
//! runner versions and the workspace lock, and fails unless the workspace is
//! both bootstrap-ready and execution-ready.

use std::path::Path;

use serde::Serialize;

use crate::store::{journal, lock, queue::Queue, runs};

use super::{init, Workspace};

mod runners;
mod workspace;
pub use runners::{codex_env_key, which};
use runners::{prerequisite, runners_of};
use workspace::{git_check, layout_checks, mailbox_check, origin_check, status_files_check};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Check {
    pub check_id: &'static str,
    pub category: &'static str,
    pub status: CheckStatus,
    pub message: String,
    pub details: Vec<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RunnerPrerequisite {
    pub runner: String,
    pub executable: String,
    pub available: bool,
    pub resolved_path: Option<String>,
    pub version: Option<String>,
    /// Whether the CLI has credentials (`codex login status`, `claude auth
    /// status`, the Pi provider's key); `None` when it cannot be told.
    pub logged_in: Option<bool>,
    /// `<loop>.<node>` of every node the runner runs.
    pub affected_nodes: Vec<String>,
    /// The nodes' ids alone (v0.2.0's key).
    pub affected_stage_nodes: Vec<String>,
    /// The stage kinds those nodes run (v0.2.0's key).
    pub affected_stages: Vec<String>,
    pub message: String,
    /// The message and what it affects, one line each (v0.2.0's key).
    pub details: Vec<String>,
    /// Settings that will fail or surprise at run time.
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Summary {
    pub total_checks: usize,
    pub passed_checks: usize,
    pub warning_checks: usize,
    pub failed_checks: usize,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct HealthReport {
    pub ok: bool,
    pub status: CheckStatus,
    pub bootstrap_ready: bool,
    pub execution_ready: bool,
    pub bundle_version: &'static str,
    pub config_path: String,
    pub workspace_root: Option<String>,
    /// As v0.2.0: `loaded_config` (the root is the config's directory).
    pub workspace_root_source: &'static str,
    /// As v0.2.0: always `native_toml`.
    pub config_source_kind: &'static str,
    pub checks: Vec<Check>,
    pub runner_prerequisites: Vec<RunnerPrerequisite>,
    pub summary: Summary,
}

fn check(
    id: &'static str,
    category: &'static str,
    status: CheckStatus,
    message: impl Into<String>,
    details: Vec<String>,
) -> Check {
    Check {
        check_id: id,
        category,
        status,
        message: message.into(),
        details,
    }
}

/// Files the research intake refuses, and an `AUTONOMY_COMPLETE` that is
/// not obeyed: both warnings, as neither blocks a run.
fn research_checks(ws: &Workspace, queue: &crate::store::queue::Queue, checks: &mut Vec<Check>) {
    let refused: Vec<String> = crate::defs::research::ResearchFamily::ALL
        .into_iter()
        .flat_map(|f| crate::store::research::pending(&ws.agents, f).1)
        .map(|r| format!("{}: {}", r.path, r.reason))
        .collect();
    if !refused.is_empty() {
        checks.push(check(
            "research.intake",
            "workspace",
            CheckStatus::Warn,
            format!(
                "{} file(s) in the research intake cannot be read as work and are skipped",
                refused.len()
            ),
            refused,
        ));
    }
    let c = crate::engine::research::completion(ws, queue);
    if c.marker_present && !c.marker_honored {
        checks.push(check(
            "research.completion",
            "workspace",
            CheckStatus::Warn,
            format!(
                "{} is present but not obeyed ({}); delete it or let an audit decide",
                c.marker_path, c.reason
            ),
            vec![],
        ));
    }
}

/// v0.2.0 settings that load but take no effect here, each located.
fn compat_check(ws: &Workspace) -> Option<Check> {
    let notes = ws.config.compat_notes();
    if notes.is_empty() {
        return None;
    }
    let text = crate::store::safe::read_text(&ws.config_path, 1 << 20).unwrap_or_default();
    let mut lines: Vec<(u32, String)> = notes
        .iter()
        .map(|n| {
            let (table, field) = n.key.rsplit_once('.').unwrap_or((n.key.as_str(), ""));
            let pos = crate::defs::config::toml_pos(&text, table, field);
            let line = format!(
                "{}:{}: `{}`: {}",
                ws.config_path.display(),
                pos.line,
                n.key,
                n.note
            );
            (pos.line, line)
        })
        .collect();
    lines.sort();
    Some(check(
        "config.compat",
        "config",
        CheckStatus::Warn,
        format!(
            "{} v0.2.0 setting(s) load but take no effect here",
            notes.len()
        ),
        lines.into_iter().map(|(_, l)| l).collect(),
    ))
}

/// Runs the checks; `doctor` adds runner versions and lock state.
pub fn report(config_path: &Path, doctor: bool) -> HealthReport {
    let mut checks = Vec::new();
    let mut prereqs = Vec::new();
    let ws = match Workspace::open(config_path) {
        Ok(ws) => {
            checks.push(check(
                "config.load",
                "config",
                CheckStatus::Pass,
                "config loaded",
                vec![ws.config_path.display().to_string()],
            ));
            Some(ws)
        }
        Err(e) => {
            checks.push(check(
                "config.load",
                "config",
                CheckStatus::Fail,
                e.to_string(),
                vec![config_path.display().to_string()],
            ));
            None
        }
    };
    if let Some(ws) = &ws {
        checks.extend(compat_check(ws));
        workspace_checks(ws, &mut checks);
        plan_checks(ws, doctor, &mut checks, &mut prereqs);
        if doctor {
            checks.push(lock_check(ws));
        }
    }
    let bootstrap_ready = checks
        .iter()
        .filter(|c| c.category != "execution")
        .all(|c| c.status != CheckStatus::Fail);
    let execution_ready = ws.is_some()
        && checks
            .iter()
            .filter(|c| c.category == "execution")
            .all(|c| c.status != CheckStatus::Fail);
    let count = |s| checks.iter().filter(|c| c.status == s).count();
    let summary = Summary {
        total_checks: checks.len(),
        passed_checks: count(CheckStatus::Pass),
        warning_checks: count(CheckStatus::Warn),
        failed_checks: count(CheckStatus::Fail),
    };
    let status = if summary.failed_checks > 0 {
        CheckStatus::Fail
    } else if summary.warning_checks > 0 {
        CheckStatus::Warn
    } else {
        CheckStatus::Pass
    };
    HealthReport {
        ok: status != CheckStatus::Fail,
        status,
        bootstrap_ready,
        execution_ready,
        bundle_version: init::BUNDLE_VERSION,
        config_path: ws.as_ref().map_or_else(
            || config_path.display().to_string(),
            |w| w.config_path.display().to_string(),
        ),
        workspace_root: ws.as_ref().map(|w| w.root.display().to_string()),
        workspace_root_source: "loaded_config",
        config_source_kind: "native_toml",
        checks,
        runner_prerequisites: prereqs,
        summary,
    }
}

/// The workspace checks, in the order they are reported; each gives zero
/// or more checks.
const WORKSPACE_CHECKS: &[fn(&Workspace) -> Vec<Check>] = &[
    origin_check,
    layout_checks,
    status_files_check,
    queue_checks,
    research_check,
    run_checks,
    mailbox_check,
    git_check,
];

fn workspace_checks(ws: &Workspace, checks: &mut Vec<Check>) {
    for f in WORKSPACE_CHECKS {
        checks.extend(f(ws));
    }
}

/// A check that passes with `ok` when `problems` is empty and otherwise
/// fails with `fail` (given their number), listing them.
fn all_or_fail(
    (id, category): (&'static str, &'static str),
    ok: &str,
    problems: Vec<String>,
    fail: impl FnOnce(usize) -> String,
) -> Check {
    if problems.is_empty() {
        check(id, category, CheckStatus::Pass, ok, vec![])
    } else {
        let message = fail(problems.len());
        check(id, category, CheckStatus::Fail, message, problems)
    }
}

/// The stores in one constant-memory pass (counts and lint), an
/// interrupted mutation, and frozen batches.
fn queue_checks(ws: &Workspace) -> Vec<Check> {
    let queue = Queue::new(&ws.agents);
    let pending = journal::pending(&ws.agents);
    let view = queue.view(false);
    let mut checks = vec![match &view {
        Ok(v) if pending => check(
            "queue.integrity",
            "workspace",
            CheckStatus::Warn,
            "an interrupted queue mutation was completed",
            vec![format!("backlog {}", v.backlog_depth)],
        ),
        Ok(v) => check(
            "queue.integrity",
            "workspace",
            CheckStatus::Pass,
            format!(
                "{} active, {} queued",
                usize::from(v.active_task.is_some()),
                v.backlog_depth
            ),
            vec![],
        ),
        Err(e) => check(
            "queue.integrity",
            "workspace",
            CheckStatus::Fail,
            e.to_string(),
            vec![],
        ),
    }];
    if let Some(v) = view.ok().filter(|v| !v.warnings.is_empty()) {
        let message = format!("{} problem(s) in the task stores", v.warnings.len());
        checks.push(check(
            "queue.cards",
            "workspace",
            CheckStatus::Warn,
            message,
            v.warnings,
        ));
    }
    if let Ok(batches) = queue.frozen_batches() {
        if !batches.is_empty() {
            checks.push(check(
                "queue.frozen",
                "workspace",
                CheckStatus::Warn,
                format!(
                    "{} batch(es) frozen for research; `millrace queue thaw BATCH` returns one to the backlog",
                    batches.len()
                ),
                batches
                    .iter()
                    .map(|b| format!("{}: {} card(s)", b.batch_id, b.task_ids.len()))
                    .collect(),
            ));
        }
    }
    checks
}

fn research_check(ws: &Workspace) -> Vec<Check> {
    let mut checks = Vec::new();
    research_checks(ws, &Queue::new(&ws.agents), &mut checks);
    checks
}

/// A run waiting on its environment, and an interrupted run.
fn run_checks(ws: &Workspace) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Some(w) = runs::active(&ws.agents)
        .ok()
        .flatten()
        .and_then(|a| super::status::waiting(ws, &a.run_id))
    {
        checks.push(check(
            "runs.environment",
            "workspace",
            if w.transient {
                CheckStatus::Warn
            } else {
                CheckStatus::Fail
            },
            format!(
                "run {} waits on its environment ({}): {}",
                w.run_id, w.class, w.message
            ),
            vec![format!("hint: {}", w.hint)],
        ));
    }
    checks.push(match runs::active(&ws.agents) {
        Ok(Some(r)) => check(
            "runs.active",
            "workspace",
            CheckStatus::Warn,
            format!(
                "run {} was interrupted; the next `start` resumes it",
                r.run_id
            ),
            vec![],
        ),
        Ok(None) => match unfinished_v020(ws) {
            Some(u) => check(
                "runs.active",
                "workspace",
                CheckStatus::Warn,
                format!(
                    "run {} that Millrace v0.2.0 left unfinished (task {}{}): the next `start` closes it as `{}` and restarts the task at its loop's entry",
                    u.run_id,
                    u.task_id,
                    u.last_node.as_deref().map(|n| format!(", stopped in {n}")).unwrap_or_default(),
                    crate::store::v020::ABANDONED
                ),
                vec![],
            ),
            None => check(
                "runs.active",
                "workspace",
                CheckStatus::Pass,
                "no interrupted run",
                vec![],
            ),
        },
        Err(e) => check(
            "runs.active",
            "workspace",
            CheckStatus::Fail,
            format!("active_run.json: {e}"),
            vec![],
        ),
    });
    checks
}

/// The run v0.2.0 left unfinished on the active task, if any.
fn unfinished_v020(ws: &Workspace) -> Option<crate::store::v020::Unfinished> {
    let task = crate::store::queue::Queue::new(&ws.agents)
        .active()
        .ok()??;
    crate::store::v020::unfinished(&ws.agents, &task.id)
}

/// `plan.compile`: the plan, with a passing check, or the failing check
/// with the first errors.
fn compile_check(
    ws: &Workspace,
) -> std::result::Result<(crate::compile::plan::FrozenPlan, Check), Check> {
    let compiled = crate::engine::plan::compile_workspace(ws, None);
    let warnings: Vec<String> = compiled
        .diagnostics
        .iter()
        .filter(|x| !x.is_error())
        .take(5)
        .map(|x| x.to_string())
        .collect();
    let shown = match compiled.plan {
        Some(p) => Ok(p),
        None => Err(super::ControlError::Diagnostics(compiled.diagnostics)),
    };
    match shown {
        Ok(p) => {
            let message = format!("mode {} compiles to {}", p.content.mode.id, p.plan_id);
            let status = if warnings.is_empty() {
                CheckStatus::Pass
            } else {
                CheckStatus::Warn
            };
            Ok((p, check("plan.compile", "plan", status, message, warnings)))
        }
        Err(e) => {
            let details = match &e {
                super::ControlError::Diagnostics(d) => d
                    .iter()
                    .filter(|x| x.is_error())
                    .take(5)
                    .map(|x| x.to_string())
                    .collect(),
                other => vec![other.to_string()],
            };
            Err(check(
                "plan.compile",
                "plan",
                CheckStatus::Fail,
                "the plan does not compile (see `millrace plan validate`)",
                details,
            ))
        }
    }
}

fn plan_checks(
    ws: &Workspace,
    doctor: bool,
    checks: &mut Vec<Check>,
    prereqs: &mut Vec<RunnerPrerequisite>,
) {
    let plan = match compile_check(ws) {
        Ok((p, c)) => {
            checks.push(c);
            p
        }
        Err(c) => {
            checks.push(c);
            return;
        }
    };
    let (mut missing, mut not_ready) = (Vec::new(), Vec::new());
    for (runner_id, nodes) in runners_of(ws, &plan) {
        let p = prerequisite(ws, runner_id, nodes, doctor);
        if !p.available {
            missing.push(p.message.clone());
        }
        if p.logged_in == Some(false) {
            let hint = crate::control::environment_hint(
                crate::defs::records::AttemptClass::Auth,
                &p.runner,
            );
            not_ready.push(format!("runner `{}` is not logged in: {hint}", p.runner));
        }
        not_ready.extend(
            p.warnings
                .iter()
                .filter(|w| w.starts_with("will fail:"))
                .map(|w| format!("runner `{}` {w}", p.runner)),
        );
        prereqs.push(p);
    }
    let execution = |id, ok: &str, problems: Vec<String>, what: &str| {
        all_or_fail((id, "execution"), ok, problems, |n| {
            format!("{n} runner(s) {what}")
        })
    };
    if doctor {
        checks.push(execution(
            "execution.credentials",
            "every runner the plan uses has credentials (where that can be told)",
            not_ready,
            "not ready",
        ));
    }
    checks.push(execution(
        "execution.runners",
        "every runner the plan uses is available",
        missing,
        "unavailable",
    ));
}

fn lock_check(ws: &Workspace) -> Check {
    let path = crate::engine::owner::lock_path(ws);
    let owner = lock::read_owner(&path);
    match (lock::is_held(&path), owner) {
        (true, Some(o)) => check(
            "workspace.lock",
            "runtime",
            CheckStatus::Pass,
            format!(
                "owned by pid {} ({}, since {})",
                o.pid, o.purpose, o.started_at
            ),
            vec![],
        ),
        (true, None) => check(
            "workspace.lock",
            "runtime",
            CheckStatus::Pass,
            "owned by a running process",
            vec![],
        ),
        (false, Some(o)) if !o.is_alive() => check(
            "workspace.lock",
            "runtime",
            CheckStatus::Warn,
            format!("stale record of dead pid {}; it will be reclaimed", o.pid),
            vec![],
        ),
        _ => check(
            "workspace.lock",
            "runtime",
            CheckStatus::Pass,
            "free",
            vec![],
        ),
    }
}

#[cfg(test)]
mod tests;
