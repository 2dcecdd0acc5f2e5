//! `init`: scaffolds a workspace (spec §2): `millrace.toml`, the `agents/`
//! stores and status files, overlay folders and runtime folders.
//!
//! Init never destroys data: without `--force` it refuses a non-empty
//! destination; with `--force` it only adds what is missing and keeps every
//! existing file (task stores, status files and config included).

use std::path::Path;

use serde::Serialize;

use crate::defs::layout::{self, Layout, TaskStore};
use crate::store::atomic;

use super::{ControlError, Result};

pub use crate::store::workspace::BUNDLE_VERSION;

pub const DEFAULT_CONFIG: &str = r#"# Millrace workspace configuration. Unknown keys are errors.
# Reference: `millrace schema export` writes config.schema.json.

[engine]
mode = "once"
idle_mode = "watch"
poll_interval_seconds = 60
inter_task_delay_seconds = 0

[paths]
workspace = "."
agents_dir = "agents"

[execution]
integration_mode = "never"
quickfix_max_attempts = 2
recovery_max_rounds = 2
run_update_on_empty = false

[research]
mode = "stub"

[watchers]
debounce_seconds = 0.5
roots = ["agents", "ideas_raw", "commands_incoming", "config_file"]

[plan]
# Mode compiled when no --mode is given (`millrace modes list`).
mode = "standard"

# Per-stage overrides, highest precedence, e.g.:
# [stages.qa]
# model = "gpt-5.3-codex"
# timeout_seconds = 900
"#;

const REGISTRY_README: &str = "# Workspace overlays\n\n\
Files here shadow or extend the packaged definitions (see docs/authoring.md):\n\n\
- `stages/*.yaml`: stage kinds\n\
- `loops/**/*.yaml`: loops (`extends: <loop id>` patches a loop)\n\
- `modes/*.yaml`: modes\n\n\
Prompt templates go under `agents/prompts/`. Check your changes with\n\
`millrace plan validate`.\n";

/// The config file init writes into the destination.
pub const CONFIG_FILE: &str = "millrace.toml";

/// What init writes into each file of [`layout::FILES`].
fn initial_contents(rel: &str) -> &'static str {
    match rel {
        layout::STATUS | layout::RESEARCH_STATUS => "### IDLE\n",
        layout::SIZE_STATUS => "### SMALL\n",
        layout::PENDING => "# Tasks Pending\n",
        layout::EVENTS => "",
        layout::HISTORY_INDEX => "# History Log\n",
        layout::QUICKFIX => "# Quickfix\n",
        layout::REGISTRY_README => REGISTRY_README,
        store => TaskStore::ALL
            .into_iter()
            .find(|s| s.file_name() == store)
            .map_or("", TaskStore::preamble_line),
    }
}

/// Writes each guide that is missing; one that exists is never replaced
/// (named in `guides_kept` when it differs from this version's).
fn write_guides(dest: &Path, guides: &[(&str, String)], report: &mut InitReport) -> Result<()> {
    for (rel, text) in guides {
        let path = dest.join(rel);
        match std::fs::read(&path) {
            Ok(existing) => {
                report.kept_file_count += 1;
                if existing != text.as_bytes() {
                    report.guides_kept.push(rel.to_string());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent().filter(|p| !p.is_dir()) {
                    std::fs::create_dir_all(parent).map_err(ControlError::io(parent))?;
                    report.created_directory_count += 1;
                }
                atomic::write(&path, text.as_bytes()).map_err(ControlError::io(&path))?;
                report.created_file_count += 1;
                report.guides_written.push(rel.to_string());
            }
            Err(e) => return Err(ControlError::io(&path)(e)),
        }
    }
    Ok(())
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct InitReport {
    pub workspace_root: String,
    pub config_path: String,
    pub bundle_version: &'static str,
    pub created_directory_count: usize,
    pub created_file_count: usize,
    /// Files that already existed and were left untouched (`--force`).
    pub kept_file_count: usize,
    /// Always 0: init never overwrites a file (v0.2.0's key).
    pub overwritten_file_count: usize,
    /// Task queued by `--demo`, if any.
    pub demo_task_id: Option<String>,
    /// Guides written now (`OPERATOR_GUIDE.md`, `ADVISOR.md`, …).
    pub guides_written: Vec<String>,
    /// Guides left as they were because they differ from this version's
    /// (edited, or from another version): `millrace guides export DIR`
    /// writes the current ones elsewhere to compare.
    pub guides_kept: Vec<String>,
}

/// Config of a demo workspace: the `demo` mode runs every stage with the
/// bundled demo agent.
pub fn demo_config() -> String {
    DEFAULT_CONFIG
        .replace("mode = \"standard\"", "mode = \"demo\"")
        .replace("[research]\nmode = \"stub\"", "[research]\nmode = \"auto\"")
}

pub const DEMO_TASK_TITLE: &str = "Write the demo hello file";

/// `dest` made absolute, refused when it is `/`, not a directory, or (without
/// `--force`) not empty.
fn destination(dest: &Path, force: bool) -> Result<std::path::PathBuf> {
    let dest = if dest.is_absolute() {
        dest.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(ControlError::io(dest))?
            .join(dest)
    };
    if dest.parent().is_none() {
        return Err(ControlError::Usage(
            "refusing to initialise a workspace at /".into(),
        ));
    }
    if dest.exists() {
        if !dest.is_dir() {
            return Err(ControlError::Usage(format!(
                "{} exists and is not a directory",
                dest.display()
            )));
        }
        let non_empty = std::fs::read_dir(&dest)
            .map_err(ControlError::io(&dest))?
            .next()
            .is_some();
        if non_empty && !force {
            return Err(ControlError::Usage(format!(
                "destination {} exists and is not empty; re-run with --force to add the missing workspace files",
                dest.display()
            )));
        }
    }
    Ok(dest)
}

/// Scaffolds a workspace at `dest` and writes `guides` (paths relative to
/// it, with their text) where they are missing.
pub fn init(dest: &Path, force: bool, demo: bool, guides: &[(&str, String)]) -> Result<InitReport> {
    let dest = destination(dest, force)?;
    let mut report = InitReport {
        workspace_root: dest.display().to_string(),
        config_path: dest.join(CONFIG_FILE).display().to_string(),
        bundle_version: BUNDLE_VERSION,
        created_directory_count: 0,
        created_file_count: 0,
        kept_file_count: 0,
        overwritten_file_count: 0,
        demo_task_id: None,
        guides_written: Vec::new(),
        guides_kept: Vec::new(),
    };
    let agents = dest.join(layout::DEFAULT_AGENTS_DIR);
    let layout = Layout::of(&agents);
    if !dest.is_dir() {
        std::fs::create_dir_all(&dest).map_err(ControlError::io(&dest))?;
        report.created_directory_count += 1;
    }
    for dir in layout::DIRS {
        let path = layout.rel(dir);
        if !path.is_dir() {
            std::fs::create_dir_all(&path).map_err(ControlError::io(&path))?;
            report.created_directory_count += 1;
        }
    }
    let config = dest.join(CONFIG_FILE);
    let config_text = if demo {
        demo_config()
    } else {
        DEFAULT_CONFIG.to_string()
    };
    let files = std::iter::once((config, config_text)).chain(
        layout::FILES
            .iter()
            .map(|rel| (layout.rel(rel), initial_contents(rel).to_string())),
    );
    for (path, contents) in files {
        if path.exists() {
            report.kept_file_count += 1;
            continue;
        }
        atomic::write(&path, contents.as_bytes()).map_err(ControlError::io(&path))?;
        report.created_file_count += 1;
    }
    write_guides(&dest, guides, &mut report)?;
    // Persist the compiled plan now, so that the first `status` or `health`
    // reuses it instead of compiling.
    if let Ok(ws) = super::Workspace::open(&dest.join(CONFIG_FILE)) {
        if let Err(e) = crate::engine::plan::current(&ws, true) {
            tracing::warn!("the new workspace's plan does not compile: {e}");
        }
    }
    if demo {
        let queue = crate::store::queue::Queue::new(&agents);
        if queue.snapshot()?.backlog.is_empty() {
            let card = crate::store::cards::Card::new(
                &crate::defs::clock::today_str(),
                DEMO_TASK_TITLE,
                Some("Create `demo/hello.txt` saying hello, and record the work in `demo/worklog.md`."),
                Some("DEMO-1"),
            );
            report.demo_task_id = Some(queue.add(card)?.id);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defs::config::Config;

    #[test]
    fn default_config_parses() {
        let c = Config::parse("millrace.toml", DEFAULT_CONFIG).unwrap();
        assert_eq!(c.plan.mode, "standard");
    }

    #[test]
    fn force_keeps_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("w");
        let first = init(&ws, false, false, &[]).unwrap();
        assert_eq!(first.created_file_count, layout::FILES.len() + 1);
        std::fs::write(
            ws.join("agents/tasksbacklog.md"),
            "# Task Backlog\n\n## 2026-01-01 - Keep me\n",
        )
        .unwrap();
        assert!(matches!(
            init(&ws, false, false, &[]),
            Err(ControlError::Usage(_))
        ));
        let again = init(&ws, true, false, &[]).unwrap();
        assert_eq!(
            (again.created_file_count, again.kept_file_count),
            (0, layout::FILES.len() + 1)
        );
        assert!(std::fs::read_to_string(ws.join("agents/tasksbacklog.md"))
            .unwrap()
            .contains("Keep me"));
    }
}
