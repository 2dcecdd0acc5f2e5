//! The workspace layout: every path under `agents/`, named once.
//!
//! `init` creates exactly [`DIRS`] and [`FILES`]; `health` checks exactly
//! those; the stores, the engine, the compiler and the CLI build every path
//! through [`Layout`], so no other module joins a name onto `agents/`.

use std::path::{Path, PathBuf};

use super::stage_kind::Plane;

/// The five task stores (spec §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStore {
    Active,
    Backlog,
    Archive,
    Backburner,
    Blocker,
}

impl TaskStore {
    pub const ALL: [TaskStore; 5] = [
        TaskStore::Active,
        TaskStore::Backlog,
        TaskStore::Archive,
        TaskStore::Backburner,
        TaskStore::Blocker,
    ];

    /// File name under `agents/`.
    pub const fn file_name(self) -> &'static str {
        match self {
            TaskStore::Active => "tasks.md",
            TaskStore::Backlog => "tasksbacklog.md",
            TaskStore::Archive => "tasksarchive.md",
            TaskStore::Backburner => "tasksbackburner.md",
            TaskStore::Blocker => "tasksblocker.md",
        }
    }

    /// The heading line `init` writes into a new store file.
    pub const fn preamble_line(self) -> &'static str {
        match self {
            TaskStore::Active => "# Active Task\n",
            TaskStore::Backlog => "# Task Backlog\n",
            TaskStore::Archive => "# Task Archive\n",
            TaskStore::Backburner => "# Task Backburner\n",
            TaskStore::Blocker => "# Task Blockers\n",
        }
    }

    /// The heading a new store file starts with.
    pub const fn preamble(self) -> &'static str {
        match self {
            TaskStore::Active => "# Active Task",
            TaskStore::Backlog => "# Task Backlog",
            TaskStore::Archive => "# Task Archive",
            TaskStore::Backburner => "# Task Backburner",
            TaskStore::Blocker => "# Task Blockers",
        }
    }
}

/// The mailbox folders under `.runtime/commands/` (spec §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxDir {
    Incoming,
    Processed,
    Failed,
}

impl MailboxDir {
    pub fn name(self) -> &'static str {
        match self {
            MailboxDir::Incoming => "incoming",
            MailboxDir::Processed => "processed",
            MailboxDir::Failed => "failed",
        }
    }
}

/// The files one stage attempt leaves in its run directory, named
/// `<node>.<attempt>.<suffix>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageArtifact {
    Prompt,
    Stdout,
    Stderr,
    /// The agent's final message, when the agent itself writes one
    /// (`MILLRACE_LAST_RESPONSE_PATH`, Codex `-o`); otherwise the message
    /// is in the result.
    Last,
    /// The attempt's record: invocation, exit, outcome, usage, last message.
    Result,
}

impl StageArtifact {
    pub const ALL: [StageArtifact; 5] = [
        StageArtifact::Prompt,
        StageArtifact::Stdout,
        StageArtifact::Stderr,
        StageArtifact::Last,
        StageArtifact::Result,
    ];

    pub fn suffix(self) -> &'static str {
        match self {
            StageArtifact::Prompt => "prompt.md",
            StageArtifact::Stdout => "stdout.log",
            StageArtifact::Stderr => "stderr.log",
            StageArtifact::Last => "last.md",
            StageArtifact::Result => "result.json",
        }
    }

    /// The artifact's path in `run_dir`.
    pub fn path(self, run_dir: &Path, node: &str, attempt: u32) -> PathBuf {
        run_dir.join(format!("{node}.{attempt}.{}", self.suffix()))
    }
}

/// Marker files whose appearance stops a daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMarker {
    StopAutonomy,
    AutonomyComplete,
}

impl StopMarker {
    pub const ALL: [StopMarker; 2] = [StopMarker::StopAutonomy, StopMarker::AutonomyComplete];

    pub fn file_name(self) -> &'static str {
        match self {
            StopMarker::StopAutonomy => "STOP_AUTONOMY",
            StopMarker::AutonomyComplete => "AUTONOMY_COMPLETE",
        }
    }
}

/// Where `init` puts `agents/` (`[paths] agents_dir` may move it).
pub const DEFAULT_AGENTS_DIR: &str = "agents";

/// Directories `init` creates, relative to `agents/` ("" is `agents/` itself).
pub const DIRS: &[&str] = &[
    "",
    ".runtime",
    ".runtime/commands/incoming",
    ".runtime/commands/processed",
    ".runtime/commands/failed",
    ".locks",
    ".deferred",
    "diagnostics",
    "historylog",
    "ideas/raw",
    "ideas/specs",
    "ideas/specs_reviewed",
    "ideas/finished",
    "ideas/archived",
    "ideas/incidents/incoming",
    "ideas/incidents/working",
    "ideas/incidents/resolved",
    "ideas/incidents/archived",
    "ideas/blockers/incoming",
    "ideas/blockers/working",
    "ideas/blockers/resolved",
    "ideas/blockers/archived",
    "ideas/audit/incoming",
    "ideas/audit/working",
    "ideas/audit/passed",
    "ideas/audit/failed",
    "prompts",
    "registry",
    "registry/stages",
    "registry/loops",
    "registry/modes",
    "reports",
    "runs",
    "state",
];

pub const STATUS: &str = "status.md";
pub const RESEARCH_STATUS: &str = "research_status.md";
pub const SIZE_STATUS: &str = "size_status.md";
pub const PENDING: &str = "taskspending.md";
pub const EVENTS: &str = "engine_events.log";
pub const HISTORY_INDEX: &str = "historylog.md";
pub const HISTORY_DIR: &str = "historylog";
pub const QUICKFIX: &str = "quickfix.md";
pub const REGISTRY_README: &str = "registry/README.md";
/// The research recovery latch (spec §3.4), relative to `agents/`.
pub const RECOVERY_LATCH: &str = ".runtime/research_recovery_latch.json";
/// The archive size the last update-on-empty ran for (one per drain).
pub const UPDATE_ON_EMPTY: &str = ".runtime/update_on_empty.json";
pub const INCIDENTS_INCOMING: &str = "ideas/incidents/incoming";
/// Where goalspec takes ideas from, and where they go when done or blocked.
pub const IDEAS_RAW: &str = "ideas/raw";
pub const IDEAS_FINISHED: &str = "ideas/finished";
pub const IDEAS_BLOCKED: &str = "ideas/blocked";
pub const INCIDENTS_ARCHIVED: &str = "ideas/incidents/archived";
pub const INCIDENTS_BLOCKED: &str = "ideas/incidents/blocked";
/// Audit requests dropped by an operator, and where they go after.
pub const AUDIT_INCOMING: &str = "ideas/audit/incoming";
pub const AUDIT_PASSED: &str = "ideas/audit/passed";
pub const AUDIT_FAILED: &str = "ideas/audit/failed";
/// Specs goalspec writes (`specs/<Spec-ID>.md`).
pub const SPECS: &str = "specs";
/// The latest audit decision (spec §5.7).
pub const COMPLETION_DECISION: &str = "reports/completion_decision.json";
pub const AUDIT_HISTORY: &str = "audit_history.md";
pub const AUDIT_SUMMARY: &str = "audit_summary.json";
/// Research requests recorded, not run, in `stub` mode (spec §5.7).
pub const DEFERRED: &str = ".deferred";
/// The research plane's persisted state (spec §1.9 `runtime`).
pub const RESEARCH_STATE: &str = "research_state.json";

/// Files `init` creates, relative to `agents/`, in creation order.
pub const FILES: &[&str] = &[
    STATUS,
    RESEARCH_STATUS,
    SIZE_STATUS,
    "tasks.md",
    "tasksbacklog.md",
    "tasksarchive.md",
    "tasksbackburner.md",
    "tasksblocker.md",
    PENDING,
    EVENTS,
    HISTORY_INDEX,
    QUICKFIX,
    REGISTRY_README,
];

/// The paths of one workspace's `agents/` directory. Cheap to make: build
/// one wherever a path is needed (`Layout::of(&ws.agents).engine_lock()`).
#[derive(Debug, Clone, Copy)]
pub struct Layout<'a> {
    agents: &'a Path,
}

impl<'a> Layout<'a> {
    pub fn of(agents: &'a Path) -> Layout<'a> {
        Layout { agents }
    }

    pub fn agents(&self) -> &'a Path {
        self.agents
    }

    /// A path relative to `agents/` (one of [`DIRS`], [`FILES`] or the
    /// relative paths the stores record, like `ideas/incidents/…`).
    pub fn rel(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.agents.join(rel)
    }

    pub fn store(&self, store: TaskStore) -> PathBuf {
        self.agents.join(store.file_name())
    }

    pub fn status(&self, plane: Plane) -> PathBuf {
        self.agents.join(match plane {
            Plane::Execution => STATUS,
            Plane::Research => RESEARCH_STATUS,
        })
    }

    pub fn events_log(&self) -> PathBuf {
        self.agents.join(EVENTS)
    }

    /// The `n`th newest rotated event log (`engine_events.1.log` is the
    /// newest).
    pub fn events_log_rotated(&self, n: u32) -> PathBuf {
        let stem = EVENTS.strip_suffix(".log").unwrap_or(EVENTS);
        self.agents.join(format!("{stem}.{n}.log"))
    }

    pub fn history_index(&self) -> PathBuf {
        self.agents.join(HISTORY_INDEX)
    }

    pub fn history_dir(&self) -> PathBuf {
        self.agents.join(HISTORY_DIR)
    }

    pub fn runtime_dir(&self) -> PathBuf {
        self.agents.join(".runtime")
    }

    pub fn mailbox(&self, dir: MailboxDir) -> PathBuf {
        self.runtime_dir().join("commands").join(dir.name())
    }

    pub fn state_json(&self) -> PathBuf {
        self.runtime_dir().join("state.json")
    }

    /// Our runtime state whole (`state.json` keeps v0.2.0's fields only).
    pub fn state_millrace_json(&self) -> PathBuf {
        self.runtime_dir().join("state_millrace.json")
    }

    pub fn active_run(&self) -> PathBuf {
        self.runtime_dir().join("active_run.json")
    }

    /// The research run in progress (one at a time).
    pub fn active_research_run(&self) -> PathBuf {
        self.runtime_dir().join("active_research_run.json")
    }

    /// The research loop lock (spec §5.7 `research_loop.lock`).
    pub fn research_lock(&self) -> PathBuf {
        self.agents.join(".locks").join("research_loop.lock")
    }

    /// The record that a run's terminal effects were applied, relative to
    /// `agents/` (it is written in the effects' own journal transaction).
    pub fn run_effects_rel(run_id: &str) -> String {
        format!("runs/{run_id}/effects.json")
    }

    /// The process group of the stage running now (removed between stages).
    pub fn stage_group(&self) -> PathBuf {
        self.runtime_dir().join("stage_group")
    }

    /// The id of the run that finished last.
    /// The backlog's card count, valid only for the file it was counted
    /// from (derived; rebuilt by any count).
    pub fn backlog_depth_index(&self) -> PathBuf {
        self.runtime_dir().join("backlog_depth.json")
    }

    pub fn last_run(&self) -> PathBuf {
        self.runtime_dir().join("last_run")
    }

    pub fn queue_journal(&self) -> PathBuf {
        self.runtime_dir().join("queue_journal.json")
    }

    pub fn recovery_latch(&self) -> PathBuf {
        self.agents.join(RECOVERY_LATCH)
    }

    pub fn engine_lock(&self) -> PathBuf {
        self.agents.join(".locks").join("engine.lock")
    }

    /// Held around every read-modify-write of `millrace.toml`.
    pub fn config_lock(&self) -> PathBuf {
        self.agents.join(".locks").join("config.lock")
    }

    pub fn queue_lock(&self) -> PathBuf {
        self.agents.join(".locks").join("queue.lock")
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.agents.join("runs")
    }

    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.runs_dir().join(run_id)
    }

    pub fn compiled_plan(&self) -> PathBuf {
        self.agents.join("state").join("compiled_plan.json")
    }

    pub fn registry(&self) -> PathBuf {
        self.agents.join("registry")
    }

    pub fn prompts(&self) -> PathBuf {
        self.agents.join("prompts")
    }

    pub fn ideas_raw(&self) -> PathBuf {
        self.agents.join("ideas").join("raw")
    }

    pub fn stop_marker(&self, marker: StopMarker) -> PathBuf {
        self.agents.join(marker.file_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_file_and_dir_is_scaffolded() {
        let agents = Path::new("/w/agents");
        let l = Layout::of(agents);
        let dirs: Vec<PathBuf> = DIRS.iter().map(|d| l.rel(d)).collect();
        for p in [
            l.runs_dir(),
            l.registry(),
            l.prompts(),
            l.ideas_raw(),
            l.history_dir(),
            l.runtime_dir(),
            l.mailbox(MailboxDir::Failed),
            l.compiled_plan().parent().unwrap().to_path_buf(),
            l.engine_lock().parent().unwrap().to_path_buf(),
        ] {
            assert!(dirs.contains(&p), "{} is not scaffolded", p.display());
        }
        for s in TaskStore::ALL {
            assert!(FILES.contains(&s.file_name()));
        }
    }
}
