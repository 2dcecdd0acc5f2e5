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

use crate::defs::layout::{self, Layout};
use crate::store::cards::Card;

use super::{size_report, Runtime};

/// Whether `task` is LARGE, and why (`None` without `[sizing]`): the
/// signals [`size_report::report`] reads; a LARGE verdict is latched.
pub fn decide(rt: &Runtime, task: &Card) -> Option<(bool, String)> {
    rt.config.sizing.as_ref()?;
    let r = size_report::report(&rt.config, &rt.root, &rt.agents, Some(task));
    if r.latched_as == "LARGE" {
        return Some((true, "size LARGE: latched in size_status.md".into()));
    }
    let mut why = Vec::new();
    if let Some(t) = r.task.as_ref().filter(|t| t.classified_as == "LARGE") {
        let signals: Vec<String> = t
            .threshold_hits
            .iter()
            .map(|hit| match hit.as_str() {
                "file_count" => format!(
                    "the card touches {} files (threshold {}, {})",
                    t.file_count, t.file_count_threshold, t.file_count_source
                ),
                "nonempty_line_count" => format!(
                    "the card's {} non-empty lines (threshold {}, {})",
                    t.nonempty_line_count,
                    t.nonempty_line_count_threshold,
                    t.nonempty_line_count_source
                ),
                _ => format!(
                    "its complexity is {}",
                    t.complexity.as_deref().unwrap_or("")
                ),
            })
            .collect();
        why.push(signals.join(" and "));
    }
    if r.repo.classified_as == "LARGE" {
        for hit in &r.repo.threshold_hits {
            why.push(match hit.as_str() {
                "file_count" => format!(
                    "the repository has {}+ files (threshold {})",
                    r.repo.file_count.unwrap_or(0),
                    r.repo.file_count_threshold
                ),
                _ => format!(
                    "the repository has {}+ non-empty lines (threshold {})",
                    r.repo.nonempty_line_count.unwrap_or(0),
                    r.repo.nonempty_line_count_threshold
                ),
            });
        }
    }
    if why.is_empty() {
        return Some((
            false,
            format!("size SMALL ({} sizing: under every threshold)", r.mode),
        ));
    }
    // The latch: once LARGE, the workspace stays LARGE.
    let latch = Layout::of(&rt.agents).rel(layout::SIZE_STATUS);
    if let Err(e) = crate::store::atomic::write(&latch, b"### LARGE\n") {
        tracing::warn!("cannot latch {}: {e}", latch.display());
    }
    Some((
        true,
        format!("size LARGE ({} sizing): {}", r.mode, why.join("; ")),
    ))
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
