//! Run records under `agents/runs/<run_id>/`: the frozen plan copy
//! (`plan.json`, `plan.md`), `run.json`, per-stage artifacts and the
//! append-only `transition_history.jsonl`, plus the pointer to the run in
//! progress (`agents/.runtime/active_run.json`).
//!
//! The transition history is the source of truth for resuming: each record is
//! fsynced before the runtime acts on it.

use crate::defs::layout::{Layout, StageArtifact};
use crate::defs::stage_kind::Plane;
use std::fs::OpenOptions;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::compile::plan::FrozenPlan;

use super::atomic;

pub use super::run_records::*;

/// Where a run is marked while it is being started (`.runtime/starting/`):
/// from before its directory is created until it is its plane's active
/// run. A marker left behind names a run a crash (or an I/O error, a full
/// disk) cut off in between.
fn starting_dir(agents: &Path) -> PathBuf {
    Layout::of(agents).runtime_dir().join("starting")
}

/// Marks run `run_id` as being started (see [`close_abandoned`]).
pub fn mark_starting(agents: &Path, run_id: &str) -> io::Result<()> {
    let dir = starting_dir(agents);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(run_id), b"").map_err(|e| named(&dir.join(run_id), e))
}

/// Run `run_id` is active (or closed): its start is over.
pub fn unmark_starting(agents: &Path, run_id: &str) {
    let _ = std::fs::remove_file(starting_dir(agents).join(run_id));
}

/// Closes every run marked as starting that no plane's active-run pointer
/// names and that never finished: a crash (or an I/O error, a full disk)
/// between its start and the pointer would leave it "running" for ever,
/// while its task runs again under a new id. Each gets a `run.abandoned`
/// record saying so and `run.json` state `abandoned`; history, usage,
/// provenance and the TUI then show it closed. Only marked runs are read,
/// so the cost does not grow with the runs kept. Call under the engine
/// lock, with no run in progress. Returns the runs it closed.
pub fn close_abandoned(agents: &Path) -> io::Result<Vec<String>> {
    let marked: Vec<String> = match std::fs::read_dir(starting_dir(agents)) {
        Ok(entries) => entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let active: Vec<String> = [Plane::Execution, Plane::Research]
        .into_iter()
        .filter_map(|p| active_in(agents, p).ok().flatten())
        .map(|a| a.run_id)
        .collect();
    let mut closed = Vec::new();
    for id in marked {
        if active.contains(&id) {
            unmark_starting(agents, &id);
            continue;
        }
        // A run whose directory or run.json was never written left nothing
        // that says "running".
        if let Some((dir, meta)) = RunDir::open(agents, &id)
            .and_then(|d| d.meta().ok().map(|m| (d, m)))
            .filter(|(_, m)| m.finished_at.is_none())
        {
            close(&dir, meta)?;
            closed.push(id.clone());
        }
        unmark_starting(agents, &id);
    }
    Ok(closed)
}

/// Records `run.abandoned` and state `abandoned` for a run that never
/// became active.
fn close(dir: &RunDir, mut meta: RunMeta) -> io::Result<()> {
    let history = dir.history().unwrap_or_default();
    let mut t = Transition::blank(
        &dir.id,
        TransitionEvent::RunAbandoned,
        &meta.plan_id,
        &meta.content_hash,
    );
    t.seq = history.last().map_or(0, |h| h.seq) + 1;
    t.event_id = format!("{}-transition-{:04}", dir.id, t.seq);
    t.timestamp = crate::defs::clock::now_iso();
    t.failure = Some("abandoned: the run never became the active run (the runtime stopped between its start and the active-run pointer); nothing resumes it, and its task runs again under a new run".into());
    if let Some(last) = history.last() {
        t.counters = last.counters.clone();
        t.attempts = last.attempts.clone();
    }
    append_to(&mut dir.history_writer()?, &t)?;
    meta.state = "abandoned".into();
    meta.terminal_class = Some("abandoned".into());
    meta.finished_at = Some(t.timestamp.clone());
    dir.write_meta(&meta)
}

/// `e` with the file it is about named in its message.
fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// A run's directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub id: String,
    pub path: PathBuf,
    pub format: RunFormat,
}

/// Who wrote a run directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunFormat {
    Millrace,
    /// Python Millrace v0.2.0 (read through [`super::v020`], never written).
    V020,
}

pub fn runs_root(agents: &Path) -> PathBuf {
    Layout::of(agents).runs_dir()
}

impl RunDir {
    pub fn at(agents: &Path, run_id: &str) -> RunDir {
        RunDir {
            id: run_id.to_string(),
            path: Layout::of(agents).run_dir(run_id),
            format: RunFormat::Millrace,
        }
    }

    /// Opens an existing run of ours; `None` if there is no such run.
    pub fn open(agents: &Path, run_id: &str) -> Option<RunDir> {
        let dir = RunDir::at(agents, run_id);
        (run_id_is_safe(run_id) && dir.path.join(PLAN).is_file()).then_some(dir)
    }

    /// Opens an existing run for reading, ours or one v0.2.0 left.
    pub fn open_any(agents: &Path, run_id: &str) -> Option<RunDir> {
        RunDir::open(agents, run_id).or_else(|| {
            let mut dir = RunDir::at(agents, run_id);
            dir.format = RunFormat::V020;
            (run_id_is_safe(run_id) && super::v020::is_v020_run(&dir.path)).then_some(dir)
        })
    }

    /// The error for writing to, or loading the plan of, a v0.2.0 run.
    fn foreign(&self, what: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "{}: run {} was written by Millrace v0.2.0; its {what} is not millrace's (run-provenance shows what maps)",
                self.path.display(),
                self.id
            ),
        )
    }

    /// Creates the directory and freezes the plan into it.
    pub fn create(agents: &Path, run_id: &str, plan: &FrozenPlan) -> io::Result<RunDir> {
        let dir = RunDir::at(agents, run_id);
        std::fs::create_dir_all(&dir.path)?;
        // Derived from plan.json, for people: not worth a sync.
        atomic::write_volatile(
            &dir.path.join("plan.md"),
            crate::compile::describe::plan_text(plan).as_bytes(),
        )?;
        // plan.json last: its presence marks a usable run directory.
        atomic::write_file_synced(&dir.path.join(PLAN), plan.to_canonical_json().as_bytes())?;
        Ok(dir)
    }

    pub fn plan(&self) -> io::Result<FrozenPlan> {
        if self.format == RunFormat::V020 {
            return Err(self.foreign("frozen plan (frozen_run_plan.json)"));
        }
        let path = self.path.join(PLAN);
        let text = super::safe::read_text_nofollow(&path, super::safe::RECORD_LIMIT)
            .map_err(|e| named(&path, e))?;
        let plan = FrozenPlan::from_json(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
        if !plan.verify() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: content hash does not match; the frozen plan was edited",
                    self.path.join(PLAN).display()
                ),
            ));
        }
        Ok(plan)
    }

    /// Writes `run.json`. Durable while the run is open (resuming needs its
    /// routing facts); the final rewrite only summarises the fsynced history.
    pub fn write_meta(&self, meta: &RunMeta) -> io::Result<()> {
        if self.format == RunFormat::V020 {
            return Err(self.foreign("run.json"));
        }
        let text = serde_json::to_string_pretty(meta).expect("meta serialises") + "\n";
        let path = self.path.join("run.json");
        if meta.finished_at.is_some() {
            atomic::write_volatile(&path, text.as_bytes())
        } else {
            atomic::write(&path, text.as_bytes())
        }
    }

    pub fn meta(&self) -> io::Result<RunMeta> {
        if self.format == RunFormat::V020 {
            return super::v020::meta(&self.path, &self.id);
        }
        let path = self.path.join("run.json");
        let text = super::safe::read_text_nofollow(&path, super::safe::RECORD_LIMIT)
            .map_err(|e| named(&path, e))?;
        serde_json::from_str(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })
    }

    /// Opens the history for appending (keep the handle for a run's life).
    /// The history, open for appending. A torn last line (a crash
    /// mid-append) is ended first, so the next record starts a line of its
    /// own instead of being glued to the fragment.
    pub fn history_writer(&self) -> io::Result<std::fs::File> {
        self.line_writer(HISTORY)
    }

    /// Appends `record` as one line of the run's JSON-lines file `name`.
    pub fn append_line(&self, name: &str, record: &serde_json::Value) -> io::Result<()> {
        let mut f = self.line_writer(name)?;
        f.write_all(format!("{record}\n").as_bytes())?;
        f.sync_data()
    }

    /// The run's JSON-lines file `name`, open for appending, its torn last
    /// line (if any) ended first.
    fn line_writer(&self, name: &str) -> io::Result<std::fs::File> {
        if self.format == RunFormat::V020 {
            return Err(self.foreign("history"));
        }
        use std::io::{Read, Seek, SeekFrom};
        let mut f = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(self.path.join(name))?;
        let len = f.metadata()?.len();
        if len > 0 {
            let mut last = [0u8];
            f.seek(SeekFrom::Start(len - 1))?;
            f.read_exact(&mut last)?;
            if last[0] != b'\n' {
                f.write_all(b"\n")?;
            }
        }
        Ok(f)
    }

    /// Every record, in order. A torn last line (crash mid-append) is
    /// ignored: the step it described had not been acted on.
    pub fn history(&self) -> io::Result<Vec<Transition>> {
        if self.format == RunFormat::V020 {
            return super::v020::history(&self.path, &self.id);
        }
        let f = match super::safe::open_regular_nofollow(&self.path.join(HISTORY)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        let path = self.path.join(HISTORY);
        for (n, line) in io::BufReader::new(f).split(b'\n').enumerate() {
            let line = line.map_err(|e| named(&path, e))?;
            let line = String::from_utf8(line).map_err(|e| {
                let at = e.utf8_error().valid_up_to();
                let (_, column) = super::safe::line_column(&e.as_bytes()[..at]);
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}:{}:{column}: not UTF-8", path.display(), n + 1),
                )
            })?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(&line) {
                Ok(t) => out.push(t),
                // A torn last line (a crash mid-append) or a hand edit.
                Err(e) => tracing::warn!(
                    "{}:{}: skipping unreadable transition record: {e}",
                    path.display(),
                    n + 1
                ),
            }
        }
        Ok(out)
    }

    /// Path of a stage artifact: `<node>.<attempt>.<suffix>`.
    pub fn artifact(&self, node: &str, attempt: u32, artifact: StageArtifact) -> PathBuf {
        artifact.path(&self.path, node, attempt)
    }
}

/// Appends a record to an open history; every record but `stage.started`
/// is fsynced before returning. A `stage.started` lost to a power loss (a
/// killed process loses nothing) replays as a stage that had not started,
/// which resume runs again just as it reruns a started one; the stage's
/// `stage.finished` sync makes it durable with it.
pub fn append_to(file: &mut std::fs::File, record: &Transition) -> io::Result<()> {
    let mut line = serde_json::to_string(record).expect("transition serialises");
    line.push('\n');
    file.write_all(line.as_bytes())?;
    if record.event == TransitionEvent::StageStarted {
        return Ok(());
    }
    file.sync_data()
}

/// Run ids become directory names: no separators, no `..`.
pub fn run_id_is_safe(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// `agents/.runtime/active_run.json`: the run that must be finished first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ActiveRun {
    pub run_id: String,
    pub plane: Plane,
    pub task_id: Option<String>,
    pub started_at: String,
}

/// Each plane has its own pointer: a research run and an execution run
/// may both be unfinished after a crash, and each resumes on its own.
fn active_path(agents: &Path, plane: Plane) -> PathBuf {
    match plane {
        Plane::Execution => Layout::of(agents).active_run(),
        Plane::Research => Layout::of(agents).active_research_run(),
    }
}

/// The unfinished execution run, if any.
pub fn active(agents: &Path) -> io::Result<Option<ActiveRun>> {
    active_in(agents, Plane::Execution)
}

/// The unfinished run of `plane`, if any.
pub fn active_in(agents: &Path, plane: Plane) -> io::Result<Option<ActiveRun>> {
    match super::safe::read_text(&active_path(agents, plane), super::safe::RECORD_LIMIT) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn set_active(agents: &Path, run: &ActiveRun) -> io::Result<()> {
    atomic::write(
        &active_path(agents, run.plane),
        serde_json::to_string_pretty(run)
            .expect("serialises")
            .as_bytes(),
    )
}

/// Records `run_id` as the run that finished last (derived: a lost write
/// only makes `status` list the run directories).
pub fn set_last(agents: &Path, run_id: &str) {
    let _ = atomic::write_volatile(&Layout::of(agents).last_run(), run_id.as_bytes());
}

/// The run that finished last, if recorded.
pub fn last(agents: &Path) -> Option<String> {
    super::safe::read_text(&Layout::of(agents).last_run(), 4096)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| run_id_is_safe(t))
}

pub fn clear_active(agents: &Path) -> io::Result<()> {
    clear_active_in(agents, Plane::Execution)
}

pub fn clear_active_in(agents: &Path, plane: Plane) -> io::Result<()> {
    match std::fs::remove_file(active_path(agents, plane)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Run ids, newest first (ids start with a UTC stamp).
pub fn list(agents: &Path) -> io::Result<Vec<String>> {
    let mut ids: Vec<String> = match std::fs::read_dir(runs_root(agents)) {
        Ok(entries) => entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    ids.sort_unstable_by(|a, b| b.cmp(a));
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_utf8_history_line_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::at(dir.path(), "r1");
        std::fs::create_dir_all(&run.path).unwrap();
        std::fs::write(run.path.join(HISTORY), b"\n{\"a\": \"b\xff\"}\n").unwrap();
        let e = run.history().unwrap_err().to_string();
        assert!(
            e.ends_with("transition_history.jsonl:2:9: not UTF-8"),
            "{e}"
        );
    }

    #[test]
    fn a_torn_last_history_line_is_ended_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::at(dir.path(), "r1");
        std::fs::create_dir_all(&run.path).unwrap();
        std::fs::write(run.path.join(HISTORY), "{\"whole\":1}\n{\"torn").unwrap();
        run.history_writer()
            .unwrap()
            .write_all(b"{\"next\":2}\n")
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(run.path.join(HISTORY)).unwrap(),
            "{\"whole\":1}\n{\"torn\n{\"next\":2}\n"
        );
        // A whole file is left as it is.
        run.history_writer()
            .unwrap()
            .write_all(b"{\"more\":3}\n")
            .unwrap();
        assert!(std::fs::read_to_string(run.path.join(HISTORY))
            .unwrap()
            .ends_with("2}\n{\"more\":3}\n"));
    }
}
