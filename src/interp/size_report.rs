//! What sizing says about the active task right now, without deciding
//! anything (no latch is written): v0.2.0's `size` and
//! `selection_explanation` objects of `status --json`. The run's own
//! decision is [`super::sizing::decide`]'s; both read the same signals.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::defs::config::Config;
use crate::defs::layout::{self, Layout};
use crate::store::cards::Card;

use super::sizing::{card_size, repo_size, UNSET};

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
    let counted = (rfl < UNSET || rll < UNSET).then(|| repo_size(root, agents, rfl, rll));
    let mut repo_hits = Vec::new();
    if let Some((files, lines)) = counted {
        if files >= rfl {
            repo_hits.push("file_count".to_string());
        }
        if lines >= rll {
            repo_hits.push("nonempty_line_count".to_string());
        }
    }
    let repo_large = matches!(mode.as_str(), "repo" | "hybrid") && !repo_hits.is_empty();
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
}
