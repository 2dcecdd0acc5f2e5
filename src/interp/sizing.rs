//! v0.2.0 sizing (`[sizing]`, spec §10.5): a task is LARGE when the card
//! (mode `task`), the repository (`repo`) or either (`hybrid`, the default)
//! says so, and LARGE latches in `size_status.md`. A LARGE task runs the
//! `large` mode's execution loop.
//!
//! The card says so when two of three signals hold: the files it touches
//! reach the file threshold, the lines they hold reach the line threshold,
//! its complexity is `involved` or `complex`. The files are its `Files to
//! touch` list (or `Files to touch count`), else the paths its body names;
//! the lines are its `LOC to touch` (or `Files to touch LOC`), else the
//! non-empty lines of the listed files that exist, else of its body. The
//! repository says so when either of its thresholds is reached.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::defs::layout::{self, Layout};
use crate::store::cards::Card;

use super::Runtime;

/// v0.2.0's "no threshold".
pub(super) const UNSET: u64 = 999_999_999;

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
        let size = card_size(task, &rt.root);
        let (fl, ll) = (
            limit("task", "file_count_threshold"),
            limit("task", "nonempty_line_count_threshold"),
        );
        let mut signals = Vec::new();
        if size.files >= fl {
            signals.push(format!(
                "the card touches {} files (threshold {fl}, {})",
                size.files, size.files_from
            ));
        }
        if size.lines >= ll {
            signals.push(format!(
                "the card's {} non-empty lines (threshold {ll}, {})",
                size.lines, size.lines_from
            ));
        }
        if let Some(band) = size.complexity {
            signals.push(format!("its complexity is {band}"));
        }
        // v0.2.0: two of the three signals.
        if signals.len() >= 2 {
            why.push(signals.join(" and "));
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

/// What a card says about its size.
pub(super) struct CardSize {
    pub(super) files: u64,
    pub(super) files_from: &'static str,
    pub(super) lines: u64,
    pub(super) lines_from: &'static str,
    /// `involved` or `complex`, when the card says so.
    pub(super) complexity: Option<String>,
}

fn number(task: &Card, names: &[&str]) -> Option<u64> {
    names.iter().find_map(|n| {
        task.field(n)
            .and_then(|v| v.split_whitespace().next()?.replace(',', "").parse().ok())
    })
}

pub(super) fn card_size(task: &Card, root: &Path) -> CardSize {
    let listed = task
        .field_list("Files to touch")
        .or_else(|| task.field_list("Files to touch (explicit)"))
        .filter(|f| !f.is_empty());
    let (files, files_from) = match (number(task, &["Files to touch count"]), &listed) {
        (Some(n), _) => (n, "its `Files to touch count`"),
        (None, Some(l)) => (l.len() as u64, "its `Files to touch` list"),
        (None, None) => (body_paths(task), "the paths its body names"),
    };
    let given = number(
        task,
        &["LOC to touch", "Files to touch LOC", "Task large LOC"],
    );
    let (lines, lines_from) = match (given, &listed) {
        (Some(n), _) => (n, "its `LOC to touch`"),
        (None, Some(l)) => (
            l.iter()
                .filter_map(|f| crate::store::safe::read_text(&root.join(f), 8 << 20).ok())
                .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count() as u64)
                .sum(),
            "in the listed files",
        ),
        (None, None) => (
            task.body().lines().filter(|l| !l.trim().is_empty()).count() as u64,
            "of its body",
        ),
    };
    let complexity = task
        .field("Complexity")
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| c == "involved" || c == "complex");
    CardSize {
        files,
        files_from,
        lines,
        lines_from,
        complexity,
    }
}

/// Distinct file paths a card's body names (tokens with a `/` or a short
/// extension).
fn body_paths(task: &Card) -> u64 {
    let body = task.body();
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
    files.len() as u64
}

/// Files and non-empty lines of the repository (not `agents/`, hidden
/// directories, `target`, `staging`, `node_modules`, `venv`,
/// `__pycache__`), counted until both limits are reached.
pub(super) fn repo_size(
    root: &Path,
    agents: &Path,
    file_limit: u64,
    line_limit: u64,
) -> (u64, u64) {
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

/// The card's `Complexity:` band (`moderate`, `involved`, `complex`), else
/// the configured default, else `moderate`.
pub(super) fn complexity_band(rt: &Runtime, task: &Card) -> String {
    let card = task
        .field("Complexity")
        .map(|v| v.trim().to_ascii_lowercase());
    match card.as_deref() {
        Some(b @ ("moderate" | "involved" | "complex")) => b.to_string(),
        _ => rt
            .config
            .complexity_default_band()
            .unwrap_or_else(|| "moderate".to_string()),
    }
}

/// v0.2.0's `model.complexity.<band>` profiles: the effort of the stage
/// kinds they bind, when `[policies.complexity] enabled = true`.
pub(super) fn complexity_effort(band: &str, kind: &str) -> Option<crate::defs::stage_kind::Effort> {
    use crate::defs::stage_kind::Effort::{High, Medium, Xhigh};
    Some(match (kind, band) {
        ("builder" | "large_plan" | "large_execute" | "reassess", _) => High,
        ("refactor" | "hotfix", _) => Medium,
        ("qa", _) => Xhigh,
        ("doublecheck", "complex") => Xhigh,
        ("doublecheck", "involved") => High,
        ("doublecheck", _) => Medium,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(body: &str) -> Card {
        Card::new("2026-11-24", "Sized", Some(body), None)
    }

    #[test]
    fn the_files_to_touch_list_is_read_inline_or_as_bullets() {
        let c = card("Intro.\n\n**Files to touch:**\n- `src/a.rs`\n- src/b.rs\n\nAfter.");
        assert_eq!(
            c.field_list("Files to touch").unwrap(),
            ["src/a.rs", "src/b.rs"]
        );
        let c = card("- **Files to touch:** src/a.rs, src/b.rs, docs/c.md");
        assert_eq!(c.field_list("Files to touch").unwrap().len(), 3);
        let c = card("**Files to touch count:** 3\nNo list.");
        assert_eq!(c.field_list("Files to touch"), None);
        assert_eq!(number(&c, &["Files to touch count"]), Some(3));
    }

    #[test]
    fn two_of_three_signals_make_a_card_large() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big.rs"), "a\nb\n\nc\n").unwrap();
        let c = card("**Files to touch:**\n- big.rs\n- missing.rs\n");
        let size = card_size(&c, dir.path());
        assert_eq!(
            (size.files, size.lines),
            (2, 3),
            "lines of the listed files"
        );
        assert_eq!(size.complexity, None);
        let c = card("**Complexity:** Involved\n**LOC to touch:** 1,200\n");
        let size = card_size(&c, dir.path());
        assert_eq!(size.lines, 1200);
        assert_eq!(size.complexity.as_deref(), Some("involved"));
    }
}
