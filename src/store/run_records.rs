//! The records of a run, as types: `run.json` ([`RunMeta`]), each line of
//! `transition_history.jsonl` ([`Transition`]), a stage attempt's
//! `<node>.<attempt>.result.json` ([`StageResultRecord`]) and the file
//! names they live in. [`super::runs`] reads and writes them for our runs;
//! [`super::v020`] maps v0.2.0's onto them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::compile::plan::Target;
use crate::defs::marker::Marker;
use crate::defs::records::AttemptClass;
pub use crate::defs::records::Usage;
use crate::defs::stage_kind::Plane;

pub const HISTORY: &str = "transition_history.jsonl";
pub const PLAN: &str = "plan.json";
/// A daemon's `[outage] probe_command` attempts while the run waits on its
/// environment, one JSON line each (copied to the root of a bundle).
pub const OUTAGE_PROBES: &str = "outage_probe_attempts.jsonl";

/// `run.json`: what the run is about and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunMeta {
    pub run_id: String,
    pub plan_id: String,
    pub content_hash: String,
    pub mode_id: String,
    pub plane: Plane,
    pub loop_id: String,
    pub task_id: Option<String>,
    pub task_title: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// `running`, or the terminal state id the run ended in.
    pub state: String,
    pub terminal_class: Option<String>,
    /// Routing facts fixed at run start (e.g. `integration`).
    #[serde(default)]
    pub facts: BTreeMap<String, serde_json::Value>,
    /// The research work item (idea, incident, audit) of a research run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<super::research::WorkItem>,
    /// The task's commits in the workspace's repository (`[git] commit =
    /// "per_task"`); absent when millrace does not commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<RunGit>,
}

impl RunGit {
    /// For people: base and commits, the parked branch, the problem.
    pub fn lines(&self) -> Vec<String> {
        let short = |c: &str| c.chars().take(12).collect::<String>();
        let base = self
            .base
            .as_deref()
            .map_or_else(|| "(no commit)".into(), short);
        let on = self.target_branch.as_deref().unwrap_or("detached HEAD");
        let commits: Vec<String> = self.commits.iter().map(|c| short(c)).collect();
        let commits = if commits.is_empty() {
            "none".to_string()
        } else {
            commits.join(" ")
        };
        let mut out = vec![format!("git base {base} on {on}; commits {commits}")];
        if let Some(b) = &self.parked_branch {
            out.push(format!("git work parked on {b}"));
        }
        if let Some(e) = &self.error {
            out.push(format!("git problem: {e}"));
        }
        out
    }
}

/// A task run's work in the workspace's git repository.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunGit {
    /// `HEAD` when the run started; null in a repository without commits.
    pub base: Option<String>,
    /// The branch checked out when the run started; null when detached.
    pub target_branch: Option<String>,
    /// Files that already had uncommitted changes when the run started
    /// (they end up in the task's commit; at most 20 are named).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirty_at_start: Vec<String>,
    /// The commits that hold the task's work, oldest first: the agent's
    /// own and millrace's (trailers `Millrace-Task`, `Millrace-Run`).
    #[serde(default)]
    pub commits: Vec<String>,
    /// Where the work of a task that was not archived went
    /// (`millrace/parked/<run id>`), off the target branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parked_branch: Option<String>,
    /// Why millrace could not commit or park the work (it is left as the
    /// agent left it; the task's outcome is not changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Parameters bound to a stage attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Bound {
    pub runner: String,
    pub model: Option<String>,
    pub effort: Option<String>,
    pub timeout_seconds: u64,
    pub prompt: String,
    pub prompt_sha256: String,
}

/// Where a stage's outcome came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeSource {
    /// The last marker line of the agent's stdout.
    Stdout,
    /// The last marker line of the agent's final message.
    LastMessage,
    /// No legal marker: the stage kind's failure outcome.
    Failure,
}

impl std::fmt::Display for OutcomeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::defs::serde_name(self))
    }
}

/// `<node>.<attempt>.result.json`: what came back from a stage attempt and
/// what it meant. Fields are declared in sorted order (the file is read by
/// scripts as sorted JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StageResultRecord {
    pub agent_error: Option<String>,
    pub class: AttemptClass,
    pub duration_ms: u64,
    pub exit_code: Option<i32>,
    pub failure: Option<String>,
    /// How the agent was started; none when it never was (a prompt that
    /// did not render).
    #[serde(default)]
    pub invocation: Option<crate::defs::records::Invocation>,
    /// The agent's final message as its CLI reported it (or its stdout, for
    /// a plain subprocess).
    #[serde(default)]
    pub last_message: Option<String>,
    /// The marker the agent emitted, legal or not.
    pub marker: Option<Marker>,
    pub next: Target,
    /// The routed outcome; none for an environment fault (nothing routed).
    pub outcome: Option<Marker>,
    pub outcome_source: Option<OutcomeSource>,
    pub selected_edge: String,
    pub session_id: Option<String>,
    pub signal: Option<i32>,
    pub spawn_error: Option<String>,
    pub stalled: bool,
    pub timed_out: bool,
    pub usage: Option<Usage>,
}

/// What a transition record records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum TransitionEvent {
    #[serde(rename = "run.started")]
    RunStarted,
    #[serde(rename = "stage.started")]
    StageStarted,
    #[serde(rename = "stage.finished")]
    StageFinished,
    /// The attempt hit a fault of its environment: the run waits at the same
    /// node (`next`), no counter moved.
    #[serde(rename = "stage.faulted")]
    StageFaulted,
    /// Informational: a stop interrupted the run; replay ignores it.
    #[serde(rename = "run.interrupted")]
    RunInterrupted,
    /// Informational: a budget cap paused the run before `node`; replay
    /// ignores it (the run continues at that node).
    #[serde(rename = "run.paused")]
    RunPaused,
    #[serde(rename = "run.finished")]
    RunFinished,
    /// The run never became its plane's active run (a crash between its
    /// start record and the active-run pointer) and was closed by the next
    /// owner of the workspace: `failure` says why and which later run of
    /// the same task superseded it. Nothing is resumed from it.
    #[serde(rename = "run.abandoned")]
    RunAbandoned,
}

impl std::fmt::Display for TransitionEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::defs::serde_name(self))
    }
}

/// One line of `transition_history.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Transition {
    pub schema_version: u32,
    /// `<run_id>-transition-NNNN`.
    pub event_id: String,
    pub seq: u32,
    pub run_id: String,
    pub timestamp: String,
    pub event: TransitionEvent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Marker>,
    /// Where the outcome came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome_source: Option<OutcomeSource>,
    /// How the attempt ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<AttemptClass>,
    /// Why the stage failed, when it did (`missing_marker`, `timeout`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Agent wall time in milliseconds (microsecond precision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_edge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_reason: Option<String>,
    /// Where the run goes next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Target>,
    #[serde(default)]
    pub counters: BTreeMap<String, u32>,
    #[serde(default)]
    pub attempts: BTreeMap<String, u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_before: Option<Marker>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_after: Option<Marker>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<Bound>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queue_mutations: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    pub plan_id: String,
    pub content_hash: String,
}

impl Transition {
    /// A record of `event` for run `run_id` of plan `plan_id`/`hash`, every
    /// other field empty; the history writer numbers and stamps it.
    pub fn blank(run_id: &str, event: TransitionEvent, plan_id: &str, hash: &str) -> Transition {
        Transition {
            schema_version: 1,
            event_id: String::new(),
            seq: 0,
            run_id: run_id.to_string(),
            timestamp: String::new(),
            event,
            node: None,
            stage_kind: None,
            attempt: None,
            outcome: None,
            outcome_source: None,
            class: None,
            failure: None,
            exit_code: None,
            duration_ms: None,
            selected_edge: None,
            route_reason: None,
            next: None,
            counters: BTreeMap::new(),
            attempts: BTreeMap::new(),
            status_before: None,
            status_after: None,
            bound: None,
            artifacts: Vec::new(),
            queue_mutations: Vec::new(),
            usage: None,
            plan_id: plan_id.to_string(),
            content_hash: hash.to_string(),
        }
    }
}
