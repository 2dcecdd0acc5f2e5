//! What sizing says about the active task right now, without deciding
//! anything (no latch is written): v0.2.0's `size` and
//! `selection_explanation` objects of `status --json`, and the signals the
//! run's own decision ([`super::sizing::decide`]) is made on.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::defs::config::Config;
use crate::defs::layout::{self, Layout};
use crate::store::cards::Card;

/// v0.2.0's "no threshold".
const UNSET: u64 = 999_999_999;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SizeReport {
    /// `task`, `repo` or `hybrid` (`[sizing] mode`; `hybrid` without it).
    pub mode: String,
    /// What the signals say now: `SMALL` or `LARGE`.
    pub classified_as: String,
    /// What `agents/size_status.md` holds.
    pub latched_as: String,
    /// `latched` (LARGE stays), `confirmed` (the latch and the signals
    /// agree) or `classified` (the next run latches it).
    pub latch_reason: String,
    /// `task` and/or `repo`: the sources that say LARGE.
    pub triggered_sources: Vec<String>,
    pub repo: RepoSize,
    pub task: Option<TaskSize>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RepoSize {
    pub classified_as: String,
    /// Counted only when a repository threshold is set (and only up to it).
    pub file_count: Option<u64>,
    pub file_count_threshold: u64,
    pub nonempty_line_count: Option<u64>,
    pub nonempty_line_count_threshold: u64,
    pub threshold_hits: Vec<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TaskSize {
    pub active_task_id: String,
    /// Always null (v0.2.0's adaptive upscope is not implemented).
    pub adaptive_upscope: Option<String>,
    pub classified_as: String,
    /// The card's `Complexity:` when it is `involved` or `complex`.
    pub complexity: Option<String>,
    pub complexity_band: String,
    pub complexity_threshold: String,
    pub file_count: u64,
    pub file_count_source: String,
    pub file_count_threshold: u64,
    pub files_to_touch: Vec<String>,
    pub minimum_signal_count: u32,
    /// Listed files that do not exist.
    pub missing_files_to_touch: Vec<String>,
    pub nonempty_line_count: u64,
    pub nonempty_line_count_source: String,
    pub nonempty_line_count_threshold: u64,
    pub qualifying_signal_count: u32,
    pub threshold_hits: Vec<String>,
}

/// v0.2.0's `selection_explanation`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SelectionExplanation {
    pub selected_size: String,
    /// `stayed_small`, `selected_large` or `retained_large_latch`.
    pub route_decision: String,
    pub route_reason: String,
    /// `not_applicable` for SMALL work, `large_loop` for LARGE.
    pub large_profile_decision: String,
    pub large_profile_reason: Option<String>,
}

fn size(large: bool) -> String {
    if large { "LARGE" } else { "SMALL" }.into()
}

/// The report for `task` (none: the repository alone).
pub fn report(config: &Config, root: &Path, agents: &Path, task: Option<&Card>) -> SizeReport {
    let sizing = config.sizing.clone().unwrap_or(Value::Null);
    let mode = sizing["mode"].as_str().unwrap_or("hybrid").to_string();
    let limit = |scope: &str, key: &str| sizing[scope][key].as_u64().unwrap_or(UNSET);
    let (rfl, rll) = (
        limit("repo", "file_count_threshold"),
        limit("repo", "nonempty_line_count_threshold"),
    );
    let by_repo = matches!(mode.as_str(), "repo" | "hybrid");
    let counted =
        (by_repo && (rfl < UNSET || rll < UNSET)).then(|| repo_size(root, agents, rfl, rll));
    let mut repo_hits = Vec::new();
    if let Some((files, lines)) = counted {
        if files >= rfl {
            repo_hits.push("file_count".to_string());
        }
        if lines >= rll {
            repo_hits.push("nonempty_line_count".to_string());
        }
    }
    let repo_large = by_repo && !repo_hits.is_empty();
    let task = task.map(|t| {
        task_size(
            config,
            root,
            t,
            &mode,
            limit("task", "file_count_threshold"),
            limit("task", "nonempty_line_count_threshold"),
        )
    });
    let task_large = task.as_ref().is_some_and(|t| t.classified_as == "LARGE");
    let mut triggered = Vec::new();
    if task_large {
        triggered.push("task".to_string());
    }
    if repo_large {
        triggered.push("repo".to_string());
    }
    let latched = crate::store::safe::read_text(&Layout::of(agents).rel(layout::SIZE_STATUS), 4096)
        .is_ok_and(|t| t.trim() == "### LARGE");
    let classified = task_large || repo_large;
    SizeReport {
        latch_reason: match (latched, classified) {
            (true, _) => "latched",
            (false, false) => "confirmed",
            (false, true) => "classified",
        }
        .into(),
        mode,
        classified_as: size(classified),
        latched_as: size(latched),
        triggered_sources: triggered,
        repo: RepoSize {
            classified_as: size(repo_large),
            file_count: counted.map(|c| c.0),
            file_count_threshold: rfl,
            nonempty_line_count: counted.map(|c| c.1),
            nonempty_line_count_threshold: rll,
            threshold_hits: repo_hits,
        },
        task,
    }
}

fn task_size(config: &Config, root: &Path, t: &Card, mode: &str, fl: u64, ll: u64) -> TaskSize {
    let s = card_size(t, root);
    let listed = t.field_list("Files to touch").unwrap_or_default();
    let mut hits = Vec::new();
    if s.files >= fl {
        hits.push("file_count".to_string());
    }
    if s.lines >= ll {
        hits.push("nonempty_line_count".to_string());
    }
    if s.complexity.is_some() {
        hits.push("complexity".to_string());
    }
    let large = matches!(mode, "task" | "hybrid") && hits.len() >= 2;
    TaskSize {
        active_task_id: t.id.clone(),
        adaptive_upscope: None,
        classified_as: size(large),
        complexity: s.complexity.clone(),
        complexity_band: t
            .field("Complexity")
            .map(|c| c.trim().to_ascii_uppercase())
            .or_else(|| {
                config
                    .complexity_default_band()
                    .map(|b| b.to_ascii_uppercase())
            })
            .unwrap_or_else(|| "MODERATE".into()),
        complexity_threshold: "INVOLVED|COMPLEX".into(),
        file_count: s.files,
        file_count_source: s.files_from.into(),
        file_count_threshold: fl,
        missing_files_to_touch: listed
            .iter()
            .filter(|f| !root.join(f).is_file())
            .cloned()
            .collect(),
        files_to_touch: listed,
        minimum_signal_count: 2,
        nonempty_line_count: s.lines,
        nonempty_line_count_source: s.lines_from.into(),
        nonempty_line_count_threshold: ll,
        qualifying_signal_count: hits.len() as u32,
        threshold_hits: hits,
    }
}

/// Why the active task runs the loop it runs.
pub fn explain(r: &SizeReport) -> SelectionExplanation {
    let large = r.latched_as == "LARGE" || r.classified_as == "LARGE";
    let (decision, reason) = match (r.latched_as == "LARGE", r.classified_as == "LARGE") {
        (true, _) => (
            "retained_large_latch",
            "the latch in agents/size_status.md is LARGE; it stays LARGE".to_string(),
        ),
        (false, true) => (
            "selected_large",
            format!(
                "LARGE because {} say so (mode={})",
                r.triggered_sources.join(" and "),
                r.mode
            ),
        ),
        (false, false) => (
            "stayed_small",
            format!(
                "stayed SMALL: the latch is SMALL and no source says LARGE (mode={})",
                r.mode
            ),
        ),
    };
    SelectionExplanation {
        selected_size: size(large),
        route_decision: decision.into(),
        route_reason: reason,
        large_profile_decision: if large {
            "large_loop"
        } else {
            "not_applicable"
        }
        .into(),
        large_profile_reason: large
            .then(|| "LARGE work runs the `large` mode's execution loop".to_string()),
    }
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

fn card_size(task: &Card, root: &Path) -> CardSize {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_classifies_without_latching() {
        let dir = tempfile::tempdir().unwrap();
        let agents = dir.path().join("agents");
        std::fs::create_dir_all(&agents).unwrap();
        let config = Config {
            sizing: Some(serde_json::json!({"mode": "task", "task": {"file_count_threshold": 1}})),
            ..Config::default()
        };
        let card = Card::new(
            "2026-01-02",
            "Big",
            Some("**Complexity:** complex\n**Files to touch:**\n- a.rs\n- b.rs\n"),
            None,
        );
        let r = report(&config, dir.path(), &agents, Some(&card));
        assert_eq!(
            (r.classified_as.as_str(), r.latched_as.as_str()),
            ("LARGE", "SMALL")
        );
        assert_eq!(r.triggered_sources, ["task"]);
        let t = r.task.as_ref().unwrap();
        assert_eq!(t.threshold_hits, ["file_count", "complexity"]);
        assert_eq!(t.missing_files_to_touch, ["a.rs", "b.rs"]);
        assert_eq!(explain(&r).route_decision, "selected_large");
        assert!(
            !agents.join("size_status.md").exists(),
            "reading never latches"
        );
        let small = report(&Config::default(), dir.path(), &agents, None);
        assert_eq!(explain(&small).route_decision, "stayed_small");
        assert_eq!(
            small.repo.file_count, None,
            "the repository is walked only with a threshold"
        );
    }

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
