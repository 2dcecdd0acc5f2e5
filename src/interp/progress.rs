//! Where a run stands, apart from the phases that move it: the counters,
//! attempts, finished stages and next target that the transition history
//! records, rebuilt by replaying it on resume.

use std::collections::BTreeMap;

use crate::compile::plan::Target;
use crate::defs::marker::Marker;
use crate::store::runs::{Transition, TransitionEvent};

use serde::Serialize;

use crate::store::ledger::Spend;

/// What a run's history says about it.
pub(super) enum Replayed {
    /// No `run.started`: the run never began.
    NotStarted,
    /// `run.finished` is recorded.
    Finished {
        terminal: String,
        status: Option<Marker>,
    },
    Running(Progress),
    /// `run.abandoned` is recorded: closed, nothing resumes it.
    Abandoned,
}
/// Where a run stands: what the history records, rebuilt on resume.
pub(super) struct Progress {
    pub(super) seq: u32,
    pub(super) counters: BTreeMap<String, u32>,
    pub(super) attempts: BTreeMap<String, u32>,
    /// Every finished stage, oldest first.
    pub(super) previous: Vec<PreviousStage>,
    pub(super) next: Target,
}

impl Progress {
    pub(super) fn new(next: Target) -> Progress {
        Progress {
            seq: 0,
            counters: BTreeMap::new(),
            attempts: BTreeMap::new(),
            previous: Vec::new(),
            next,
        }
    }

    /// Rebuilds the progress of a run from its history.
    pub(super) fn replay(history: &[Transition]) -> Replayed {
        let mut seq = 0;
        let mut counters = BTreeMap::new();
        let mut attempts = BTreeMap::new();
        let mut previous = Vec::new();
        let mut next: Option<Target> = None;
        let mut in_flight: Option<String> = None;
        for t in history {
            seq = seq.max(t.seq);
            match t.event {
                TransitionEvent::RunStarted => {
                    if t.next.is_some() {
                        next = t.next.clone();
                    }
                }
                TransitionEvent::StageStarted => {
                    in_flight = t.node.clone();
                    attempts = t.attempts.clone();
                    counters = t.counters.clone();
                }
                TransitionEvent::StageFinished => {
                    in_flight = None;
                    attempts = t.attempts.clone();
                    counters = t.counters.clone();
                    if t.next.is_some() {
                        next = t.next.clone();
                    }
                    previous.push(PreviousStage {
                        node: t.node.clone().unwrap_or_default(),
                        stage: t.stage_kind.clone().unwrap_or_default(),
                        outcome: t
                            .outcome
                            .as_ref()
                            .map(Marker::to_string)
                            .unwrap_or_default(),
                        summary: t.failure.clone().unwrap_or_default(),
                    });
                }
                TransitionEvent::RunAbandoned => return Replayed::Abandoned,
                TransitionEvent::RunFinished => {
                    let terminal = match &t.next {
                        Some(Target::Terminal(id)) => id.clone(),
                        _ => String::new(),
                    };
                    return Replayed::Finished {
                        terminal,
                        status: t.status_after.clone(),
                    };
                }
                TransitionEvent::StageFaulted => {
                    // Nothing was routed: the same node runs again.
                    in_flight = None;
                    attempts = t.attempts.clone();
                    counters = t.counters.clone();
                    if t.next.is_some() {
                        next = t.next.clone();
                    }
                }
                TransitionEvent::RunInterrupted | TransitionEvent::RunPaused => {}
            }
        }
        // The agent was running when the process died: run it again; the
        // interrupted attempt stays counted.
        let Some(next) = in_flight.map(Target::Node).or(next) else {
            return Replayed::NotStarted;
        };
        Replayed::Running(Progress {
            seq,
            counters,
            attempts,
            previous,
            next,
        })
    }
}

/// A finished stage, as later prompts are told of it.
#[derive(Debug, Clone, Serialize)]
pub struct PreviousStage {
    pub node: String,
    pub stage: String,
    pub outcome: String,
    pub summary: String,
}

impl PreviousStage {
    /// `node ended with OUTCOME: summary`.
    pub fn describe(&self) -> String {
        if self.summary.is_empty() {
            format!("{} ended with {}", self.node, self.outcome)
        } else {
            format!(
                "{} ended with {}: {}",
                self.node, self.outcome, self.summary
            )
        }
    }
}

/// What the budget check keeps between stages of one run.
#[derive(Debug, Default)]
pub(super) struct Accounts {
    pub(super) run: Spend,
    pub(super) by_kind: BTreeMap<String, Spend>,
    /// The largest single attempt so far (per metric).
    pub(super) largest: Spend,
    /// Spent by the task's other runs, and by other runs today.
    pub(super) task_prior: Spend,
    pub(super) day_prior: Spend,
}

impl Accounts {
    pub(super) fn add(&mut self, kind: &str, s: &Spend) {
        self.run.merge(s);
        self.by_kind.entry(kind.to_string()).or_default().merge(s);
        let l = &mut self.largest;
        l.usd = l.usd.max(s.usd);
        l.tokens = l.tokens.max(s.tokens);
        l.wall_ms = l.wall_ms.max(s.wall_ms);
    }
}
