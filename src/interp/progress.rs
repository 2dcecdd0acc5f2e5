//! Where a run stands, apart from the phases that move it: the counters,
//! attempts, finished stages and next target that the transition history
//! records, rebuilt by replaying it on resume.

use std::collections::BTreeMap;

use crate::compile::plan::Target;
use crate::defs::marker::Marker;
use crate::store::runs::{Transition, TransitionEvent};

use super::prompt::PreviousStage;

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
