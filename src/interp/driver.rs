//! The state of one run while it is driven, and the primitives every phase
//! uses on it: recording a transition, emitting an event, setting the
//! status, the loop and plane it runs. The phases (`attempt`, `artifacts`,
//! `budget`, `terminal`) add their own `impl Driver` blocks; `run` starts,
//! resumes and drives it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};

use crate::compile::plan::{FrozenPlan, LoopPlan, Target, TerminalPlan};
use crate::defs::clock;
use crate::defs::marker::Marker;
use crate::defs::stage_kind::Plane;
use crate::store::cards::Card;
use crate::store::events::{EventKind, PlaneEvent};
use crate::store::research::WorkItem;
use crate::store::runs::{self, RunDir, RunMeta, Transition, TransitionEvent};
use crate::store::status;

use super::progress::{Accounts, PreviousStage, Progress};
use super::sizing::complexity_effort;
use super::{InterpError, Runtime};

pub(super) type Result<T> = std::result::Result<T, InterpError>;

/// How a run ended, for the operator.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RunReport {
    pub run_id: String,
    pub run_dir: String,
    pub plan_id: String,
    pub task_id: Option<String>,
    pub task_title: Option<String>,
    pub terminal: String,
    pub terminal_class: String,
    pub queue_effect: String,
    /// Status marker of the plane after the run.
    pub status: Marker,
    pub stages_run: u32,
    pub resumed: bool,
    /// The research work item, for a research run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<WorkItem>,
    /// What a research run's terminal effects did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effects: Option<crate::store::research::EffectsApplied>,
}

/// The state of one run while it is driven.
pub(super) struct Driver<'a> {
    pub(super) rt: &'a Runtime,
    pub(super) plan: FrozenPlan,
    pub(super) dir: RunDir,
    pub(super) meta: RunMeta,
    pub(super) task: Option<Card>,
    pub(super) seq: u32,
    pub(super) counters: BTreeMap<String, u32>,
    pub(super) attempts: BTreeMap<String, u32>,
    /// Every finished stage, oldest first (its length is the stages run).
    pub(super) previous: Vec<PreviousStage>,
    pub(super) next: Target,
    pub(super) resumed: bool,
    /// Open append handle of `transition_history.jsonl`.
    history: Option<std::fs::File>,
    /// What the run and its scopes spent (read when a budget is checked).
    pub(super) accounts: Option<Accounts>,
}

/// How a status change came about (the `transition_mode` of v0.2.0's
/// `status.changed` events).
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum StatusMode {
    /// Set by the runtime (running markers, terminal states).
    Transition,
    /// A legal marker the agent emitted.
    Confirmed,
    /// The failure outcome the runtime substituted.
    Raw,
}

impl<'a> Driver<'a> {
    pub(super) fn new(
        rt: &'a Runtime,
        plan: FrozenPlan,
        dir: RunDir,
        meta: RunMeta,
        task: Option<Card>,
        progress: Progress,
    ) -> Self {
        Driver {
            rt,
            plan,
            dir,
            meta,
            task,
            seq: progress.seq,
            counters: progress.counters,
            attempts: progress.attempts,
            previous: progress.previous,
            next: progress.next,
            resumed: false,
            history: None,
            accounts: None,
        }
    }

    pub(super) fn plane(&self) -> Plane {
        self.meta.plane
    }

    pub(super) fn lp(&self) -> &LoopPlan {
        self.plan
            .content
            .loop_plan(self.plane(), &self.meta.loop_id)
            .expect("a run's frozen plan holds its loop")
    }

    pub(super) fn stages_run(&self) -> u32 {
        self.previous.len() as u32
    }

    /// Emits `<plane>.<what>` with the plane as source.
    pub(super) fn emit(&self, what: PlaneEvent, payload: Value) {
        self.rt.event(EventKind::Plane(self.plane(), what), payload);
    }

    /// The plane's status marker; a malformed file reads as IDLE (runs
    /// resume from their history, not from the status file).
    pub(super) fn status(&self) -> Marker {
        status::read(&self.rt.agents, self.plane()).unwrap_or_else(|e| {
            tracing::warn!("{e}; treating as IDLE");
            Marker::idle()
        })
    }

    /// A transition record with the run's current state filled in.
    pub(super) fn transition(&self, event: TransitionEvent) -> Transition {
        Transition {
            counters: self.counters.clone(),
            attempts: self.attempts.clone(),
            ..Transition::blank(
                &self.dir.id,
                event,
                &self.plan.plan_id,
                &self.plan.content_hash,
            )
        }
    }

    /// Appends `t` to the history (fsynced) before the run acts on it.
    pub(super) fn record(&mut self, mut t: Transition) -> Result<()> {
        self.seq += 1;
        t.seq = self.seq;
        t.event_id = format!("{}-transition-{:04}", self.dir.id, self.seq);
        t.timestamp = clock::now_iso();
        if self.history.is_none() {
            self.history = Some(
                self.dir
                    .history_writer()
                    .map_err(InterpError::io("cannot open transition_history.jsonl"))?,
            );
        }
        let file = self.history.as_mut().expect("just opened");
        runs::append_to(file, &t)
            .map_err(InterpError::io("cannot append to transition_history.jsonl"))?;
        self.account(&t);
        Ok(())
    }

    /// Writes the plane's status and reports the change; returns the
    /// previous marker.
    pub(super) fn set_status(
        &self,
        marker: &Marker,
        mode: StatusMode,
        context: &Value,
    ) -> Result<Marker> {
        let previous = self.status();
        // Written only when the marker changes (an agent may have written
        // it itself).
        if previous != *marker {
            status::write(&self.rt.agents, self.plane(), marker)?;
        }
        let payload = merged(
            context,
            json!({
                "plane": self.plane(),
                "status": marker,
                "transition_mode": mode,
                "previous_status": previous,
            }),
        );
        self.emit(PlaneEvent::StatusChanged, payload);
        Ok(previous)
    }

    /// Records the interruption (informational; replay ignores it). A stop
    /// that cut a stage off passes the attempt's `spent` record (its
    /// duration, bound parameters and usage so far), which the ledger
    /// counts.
    pub(super) fn interrupted(&mut self, node: &str, spent: Option<Transition>) -> InterpError {
        let base = spent.unwrap_or_else(|| self.transition(TransitionEvent::RunInterrupted));
        let _ = self.record(Transition {
            node: Some(node.to_string()),
            class: Some(crate::defs::records::AttemptClass::Interrupted),
            ..base
        });
        self.emit(
            PlaneEvent::RunInterrupted,
            json!({"run_id": self.dir.id, "node_id": node, "task_id": self.meta.task_id}),
        );
        InterpError::Interrupted(self.dir.id.clone())
    }

    /// With complexity routing on, the band and where it came from, as the
    /// run's start records it.
    pub(super) fn complexity_decision(&self) -> Option<String> {
        self.rt.config.complexity_default_band()?;
        let band = self.meta.facts.get("complexity")?.as_str()?.to_string();
        let from = match self.task.as_ref().and_then(|t| t.field("Complexity")) {
            Some(f) if f.trim().eq_ignore_ascii_case(&band) => "the card's `Complexity:` field",
            _ => "[policies.complexity] default_band",
        };
        Some(format!(
            "complexity band `{band}` ({from}) selects model profile model.complexity.{band}"
        ))
    }

    /// The effort a node runs with: the complexity profile's for its stage
    /// kind when complexity routing is on, else the plan's.
    pub(super) fn effort_of(
        &self,
        node: &crate::compile::plan::NodePlan,
    ) -> Option<crate::defs::stage_kind::Effort> {
        if self.rt.config.complexity_default_band().is_some() && self.plane() == Plane::Execution {
            if let Some(band) = self.meta.facts.get("complexity").and_then(|b| b.as_str()) {
                if let Some(e) = complexity_effort(band, &node.stage_kind) {
                    return Some(e);
                }
            }
        }
        node.effort
    }

    /// Writes a diagnostics bundle for this run (spec §9.2) and reports it;
    /// with `once`, only when the run has none yet. A bundle that cannot be
    /// written is logged, never a reason to stop the run.
    pub(super) fn diagnose(&self, label: &str, reason: &str, once: bool) -> Option<String> {
        if once && crate::store::diagnostics::exists_for(&self.rt.agents, &self.dir.id) {
            return None;
        }
        let redaction = redaction(&self.rt.config);
        match crate::store::diagnostics::create(
            &self.rt.agents,
            Some(&self.dir.id),
            label,
            reason,
            &self.rt.config.hash(),
            &redaction,
        ) {
            Ok(b) => {
                self.emit(
                    PlaneEvent::DiagnosticsCreated,
                    json!({"run_id": self.dir.id, "label": label, "reason": reason, "path": b.path, "redacted": b.redacted}),
                );
                Some(b.path)
            }
            Err(e) => {
                tracing::warn!(run = %self.dir.id, "cannot write a diagnostics bundle: {e}");
                None
            }
        }
    }

    /// `p` relative to the workspace root, for records.
    pub(super) fn relative(&self, p: &Path) -> String {
        relative_to(&self.rt.root, p)
    }
}

/// What a diagnostics bundle of this config redacts: `[diagnostics]
/// redact`, and the secret-looking environment of this process and of the
/// runners.
pub fn redaction(config: &crate::defs::config::Config) -> crate::store::diagnostics::Redaction {
    crate::store::diagnostics::Redaction::from_env(
        &config.diagnostics.redact,
        config
            .runners
            .values()
            .flat_map(|r| r.env.iter().map(|(k, v)| (k.clone(), v.clone())))
            .collect::<Vec<_>>()
            .into_iter(),
    )
}

/// `p` relative to `root` (or `p` itself when outside it), for records.
pub(super) fn relative_to(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// Terminal state `id` of loop `lp`; a compiled plan always has the
/// terminals its routes name, so a miss means the frozen copy is damaged.
pub(super) fn terminal_state(lp: &LoopPlan, id: &str) -> Result<TerminalPlan> {
    lp.terminals.get(id).cloned().ok_or_else(|| {
        InterpError::Inconsistent(format!("frozen plan has no terminal state `{id}`"))
    })
}

/// `base` (a JSON object) with the keys of `extra` added.
pub(super) fn merged(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    if let (Some(o), Value::Object(e)) = (out.as_object_mut(), extra) {
        o.extend(e);
    }
    out
}
