//! v0.2.0 sizing (`[sizing]`, spec §10.5): a task is LARGE when the card
//! (mode `task`), the repository (`repo`) or either (`hybrid`, the default)
//! passes its file or non-empty-line threshold, and LARGE latches in
//! `size_status.md`. A LARGE task runs the `large` mode's execution loop.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::defs::layout::{self, Layout};
use crate::store::cards::Card;

use super::Runtime;

/// v0.2.0's "no threshold".
const UNSET: u64 = 999_999_999;

/// Whether `task` is LARGE, and why (`None` without `[sizing]`).
pub fn decide(rt: &Runtime, task: &Card) -> Option<(bool, String)> {
    let sizing = rt.config.sizing.as_ref()?;
    let latch = Layout::of(&rt.agents).rel(layout::SIZE_STATUS);
    if crate::store::safe::read_text(&latch, 4096).is_ok_and(|t| t.trim() == "### LARGE") {
        return Some((true, "size LARGE: latched in size_status.md".into()));
    }
    let mode = sizing
        .get("mode")
        .and_then(Value::as_str)
        .unwrap_or("hybrid");
    let limit = |scope: &str, key: &str| {
        sizing
            .get(scope)
            .and_then(|s| s.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(UNSET)
    };
    let mut why = Vec::new();
    if matches!(mode, "task" | "hybrid") {
        let (files, lines) = card_size(task);
        let (fl, ll) = (
            limit("task", "file_count_threshold"),
            limit("task", "nonempty_line_count_threshold"),
        );
        if files >= fl {
            why.push(format!("the card names {files} files (threshold {fl})"));
        }
        if lines >= ll {
            why.push(format!(
                "the card has {lines} non-empty lines (threshold {ll})"
            ));
        }
    }
    if matches!(mode, "repo" | "hybrid") {
        let (fl, ll) = (
            limit("repo", "file_count_threshold"),
            limit("repo", "nonempty_line_count_threshold"),
        );
        if fl < UNSET || ll < UNSET {
            let (files, lines) = repo_size(&rt.root, &rt.agents, fl, ll);
            if files >= fl {
                why.push(format!(
                    "the repository has {files}+ files (threshold {fl})"
                ));
            }
            if lines >= ll {
                why.push(format!(
                    "the repository has {lines}+ non-empty lines (threshold {ll})"
                ));
            }
        }
    }
    if why.is_empty() {
        return Some((
            false,
            format!("size SMALL ({mode} sizing: under every threshold)"),
        ));
    }
    // The latch: once LARGE, the workspace stays LARGE.
    if let Err(e) = crate::store::atomic::write(&latch, b"### LARGE\n") {
        tracing::warn!("cannot latch {}: {e}", latch.display());
    }
    Some((
        true,
        format!("size LARGE ({mode} sizing): {}", why.join("; ")),
    ))
}

/// Distinct file paths a card names (tokens with a `/` or a short
/// extension), and its non-empty lines.
fn card_size(task: &Card) -> (u64, u64) {
    let body = task.body();
    let lines = body.lines().filter(|l| !l.trim().is_empty()).count() as u64;
    let files: BTreeSet<&str> = body
        .split(|c: char| c.is_whitespace() || "`,;()[]<>\"'".contains(c))
        .map(|t| t.trim_end_matches(['.', ':']))
        .filter(|t| {
            let ext = t.rsplit_once('.').map(|(stem, e)| {
                !stem.is_empty()
                    && (1..=5).contains(&e.len())
                    && e.chars().all(|c| c.is_ascii_alphanumeric())
            });
            !t.starts_with("http") && (t.contains('/') && t.len() > 1 || ext == Some(true))
        })
        .collect();
    (files.len() as u64, lines)
}

/// Files and non-empty lines of the repository (not `agents/`, hidden
/// directories, `target`, `staging`, `node_modules`, `venv`,
/// `__pycache__`), counted until both limits are reached.
fn repo_size(root: &Path, agents: &Path, file_limit: u64, line_limit: u64) -> (u64, u64) {
    let (mut files, mut lines) = (0u64, 0u64);
    let walk = walkdir::WalkDir::new(root).into_iter().filter_entry(|e| {
        let name = e.file_name().to_string_lossy();
        e.depth() == 0
            || !(name.starts_with('.')
                || name == "target"
                || name == "node_modules"
                || e.path() == agents)
    });
    for e in walk
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
    {
        files += 1;
        if lines < line_limit {
            if let Ok(t) = crate::store::safe::read_text(e.path(), 1 << 20) {
                lines += t.lines().filter(|l| !l.trim().is_empty()).count() as u64;
            }
        }
        if files >= file_limit && lines >= line_limit {
            break;
        }
    }
    (files, lines)
}
