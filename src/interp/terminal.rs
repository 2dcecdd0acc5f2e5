//! Terminal states: the status marker, the queue effect (archive, keep
//! active, quarantine for research), `run.finished`, and the report. Every
//! effect is idempotent, so a run resumed after a crash at its terminal
//! state applies it again safely.

use serde_json::json;

use crate::compile::plan::{Target, TerminalPlan};
use crate::defs::clock;
use crate::defs::layout::{self, StageArtifact};
use crate::defs::loop_def::{CardPosition, Effect, QueueEffect, TerminalClass};
use crate::defs::marker::Marker;
use crate::defs::research::ResearchFamily;
use crate::defs::serde_name;
use crate::defs::stage_kind::Plane;
use crate::store::events::{EventKind, EventSource, HandoffEvent, PlaneEvent};
use crate::store::queue::QuarantineRequest;
use crate::store::research::{self, EffectOp, EffectsApplied, WorkItem};
use crate::store::runs::{self, Transition, TransitionEvent};

use super::driver::{merged, terminal_state, Driver, Result, RunReport, StatusMode};
use super::InterpError;

/// A queue mutation a terminal state performed, as recorded.
#[derive(Debug, Clone, Copy)]
enum QueueMutation {
    ArchiveTask,
    QuarantineTask,
}

impl QueueMutation {
    fn name(self) -> &'static str {
        match self {
            QueueMutation::ArchiveTask => "archive_task",
            QueueMutation::QuarantineTask => "quarantine_task",
        }
    }
}

impl Driver<'_> {
    /// Applies terminal state `terminal_id` and ends the run.
    pub(super) fn finish(mut self, terminal_id: &str) -> Result<RunReport> {
        let t = terminal_state(self.lp(), terminal_id)?;
        tracing::debug!(terminal = terminal_id, "terminal reached");
        let ctx = json!({ "run_id": self.dir.id, "terminal": terminal_id, "task_id": self.meta.task_id, "title": self.meta.task_title });
        self.set_status(&Marker::from_plan(&t.status), StatusMode::Transition, &ctx)?;
        let mut mutations = Vec::new();
        if let Some(id) = self.meta.task_id.clone() {
            self.git_work(&id, t.queue)?;
            let done = match t.queue {
                QueueEffect::Archive => Some(self.archive(&id)?),
                QueueEffect::Quarantine => Some(self.quarantine(&id, &t)?),
                _ => None,
            };
            if let Some(m) = done {
                mutations.push(m.name().to_string());
                self.set_status(&Marker::idle(), StatusMode::Transition, &ctx)?;
            }
        }
        let mut effects = None;
        if let Some(item) = self.meta.item.clone() {
            let applied = self.terminal_effects(&item, &t)?;
            mutations.extend(applied.summary());
            effects = Some(applied);
        } else if !t.effects.is_empty() {
            // A task run's terminal may queue follow-up cards too; the
            // compiler allows it no other effect, so the item stands in
            // only for the card stamp (family unused).
            let (spec_id, _) = self.artifact_vars();
            let item = WorkItem {
                family: ResearchFamily::Goalspec,
                id: self.meta.task_id.clone().unwrap_or_default(),
                title: self.meta.task_title.clone().unwrap_or_default(),
                path: None,
                spec_id,
                batch_id: None,
            };
            let applied = self.terminal_effects(&item, &t)?;
            mutations.extend(applied.summary());
            effects = Some(applied);
        }
        tracing::debug!(?mutations, "queue effect applied");
        let final_status = self.status();
        self.record(Transition {
            next: Some(Target::Terminal(terminal_id.to_string())),
            status_after: Some(final_status.clone()),
            queue_mutations: mutations,
            ..self.transition(TransitionEvent::RunFinished)
        })?;
        crate::store::failpoint::hit("run.finished").map_err(InterpError::io("run.finished"))?;
        let class = serde_name(&t.class);
        self.meta.state = terminal_id.to_string();
        self.meta.finished_at = Some(clock::now_iso());
        self.meta.terminal_class = Some(class.clone());
        self.dir
            .write_meta(&self.meta)
            .map_err(InterpError::io("cannot write run.json"))?;
        crate::store::failpoint::hit("run.meta").map_err(InterpError::io("run.meta"))?;
        runs::set_last(&self.rt.agents, &self.dir.id);
        runs::clear_active_in(&self.rt.agents, self.plane())
            .map_err(InterpError::io("cannot clear active_run.json"))?;
        Ok(RunReport {
            run_id: self.dir.id.clone(),
            run_dir: self.relative(&self.dir.path),
            plan_id: self.plan.plan_id.clone(),
            task_id: self.meta.task_id.clone(),
            task_title: self.meta.task_title.clone(),
            terminal: terminal_id.to_string(),
            terminal_class: class,
            queue_effect: serde_name(&t.queue),
            status: final_status,
            stages_run: self.stages_run(),
            resumed: self.resumed,
            item: self.meta.item.clone(),
            effects,
        })
    }

    /// Applies the terminal's effects for a research work item (or parks
    /// the item when the run ended without success and has none), as one
    /// journaled transaction recorded in the run, then reports them.
    fn terminal_effects(&self, item: &WorkItem, t: &TerminalPlan) -> Result<EffectsApplied> {
        let applied = self.effects_for(item, t)?;
        if applied.replayed {
            return Ok(applied);
        }
        if !applied.appended.is_empty() {
            self.emit(
                PlaneEvent::CardsAppended,
                json!({"run_id": self.dir.id, "spec_id": item.spec_id, "task_ids": applied.appended, "backlog_depth": applied.backlog_depth}),
            );
        }
        if let Some(batch) = &applied.batch_id {
            self.rt.event(
                EventKind::Handoff(HandoffEvent::BacklogRepopulated),
                json!({
                    "trigger": format!("research_run:{}", self.dir.id),
                    "batch_id": batch,
                    "failure_signature": "needs_research",
                    "thawed_cards": applied.thawed.len(),
                    "backlog_depth": applied.backlog_depth,
                    "next_task_id": applied.appended.first().or(applied.thawed.first()),
                    "parent_run_id": self.dir.id,
                    "decision_type": "remediation",
                    "remediation_spec_id": item.spec_id,
                    "remediation_record_path": item.path.as_ref().map(|p| format!("agents/{p}")),
                }),
            );
        }
        if let Some(decision) = &applied.decision {
            self.emit(
                PlaneEvent::CompletionDecided,
                json!({"run_id": self.dir.id, "decision": decision}),
            );
        }
        Ok(applied)
    }

    /// Builds and applies the effects (once: a replay finds the record).
    fn effects_for(&self, item: &WorkItem, t: &TerminalPlan) -> Result<EffectsApplied> {
        let inconsistent =
            |e: String| InterpError::Inconsistent(format!("run {}: {e}", self.dir.id));
        let ops = match research::applied(&self.rt.agents, &self.dir.id) {
            // Applied before a crash: the record answers, artifacts are not re-read.
            Some(_) => Vec::new(),
            None => self.effect_ops(item, t).map_err(inconsistent)?,
        };
        Ok(self
            .rt
            .queue
            .apply_effects(&self.dir.id, &item.spec_id, item.path.as_deref(), &ops)?)
    }

    fn effect_ops(
        &self,
        item: &WorkItem,
        t: &TerminalPlan,
    ) -> std::result::Result<Vec<EffectOp>, String> {
        let artifacts = self.loop_artifacts();
        let decl = |name: &str| {
            artifacts
                .get(name)
                .ok_or_else(|| format!("the frozen plan declares no artifact `{name}`"))
        };
        let source = item
            .path
            .as_ref()
            .map(|p| format!("agents/{p}"))
            .unwrap_or_else(|| format!("run {}", self.dir.id));
        let mut ops = Vec::new();
        for effect in &t.effects {
            match effect {
                Effect::AppendCards { artifact, position } => {
                    let cards = self
                        .read_cards(decl(artifact)?)?
                        .iter()
                        .map(|c| research::stamp(c, &item.spec_id, &source))
                        .collect();
                    ops.push(EffectOp::AppendCards {
                        cards,
                        front: *position == CardPosition::Front,
                    });
                }
                Effect::ThawBatch => {
                    if let Some(batch_id) = &item.batch_id {
                        ops.push(EffectOp::ThawBatch {
                            batch_id: batch_id.clone(),
                        });
                    }
                }
                Effect::WriteDecision { artifact } => {
                    ops.push(EffectOp::WriteDecision {
                        decision: self.read_json(decl(artifact)?)?,
                    });
                }
                Effect::ArchiveIdea | Effect::ArchiveIncident => {
                    let to_dir = match effect {
                        Effect::ArchiveIdea => layout::IDEAS_FINISHED,
                        _ => layout::INCIDENTS_ARCHIVED,
                    };
                    if let Some(from) = &item.path {
                        ops.push(EffectOp::MoveItem {
                            from: from.clone(),
                            to_dir: to_dir.into(),
                        });
                    }
                }
            }
        }
        if t.effects.is_empty() && t.class != TerminalClass::Success && self.meta.item.is_some() {
            ops.extend(parked(item));
        }
        Ok(ops)
    }

    /// The task's work in git before its queue effect: committed when it
    /// is archived, parked on its own branch otherwise; recorded in
    /// `run.json` first, so the record names the commits before the queue
    /// says the task is done.
    fn git_work(&mut self, task_id: &str, queue: QueueEffect) -> Result<()> {
        let Some(mut g) = self.meta.git.clone() else {
            return Ok(());
        };
        let title = self.meta.task_title.clone().unwrap_or_default();
        let task = super::git_work::Task {
            id: task_id,
            title: &title,
            run_id: &self.dir.id,
        };
        match queue {
            QueueEffect::Archive => super::git_work::seal(self.rt, &mut g, &task),
            QueueEffect::Quarantine | QueueEffect::KeepActive => {
                super::git_work::park(self.rt, &mut g, &task)
            }
            QueueEffect::None => return Ok(()),
        }
        self.meta.git = Some(g);
        self.dir
            .write_meta(&self.meta)
            .map_err(InterpError::io("cannot write run.json"))
    }

    fn archive(&self, task_id: &str) -> Result<QueueMutation> {
        self.rt.queue.archive_active(task_id)?;
        self.emit(
            PlaneEvent::TaskArchived,
            json!({"task_id": task_id, "title": self.meta.task_title}),
        );
        Ok(QueueMutation::ArchiveTask)
    }

    /// Freezes the task and the backlog for research (spec §3.4) and hands
    /// the incident over.
    fn quarantine(&self, task_id: &str, t: &TerminalPlan) -> Result<QueueMutation> {
        let title = &self.meta.task_title;
        let last = self.previous.last().cloned();
        let reason = last
            .as_ref()
            .map_or_else(|| "reached needs_research".into(), |p| p.describe());
        let stage = last.as_ref().map(|p| p.node.clone()).unwrap_or_default();
        let run_dir = self.relative(&self.dir.path);
        let plane = self.plane();
        let handoff = json!({
            "source_plane": plane,
            "target_plane": Plane::Research,
            "trigger_event": EventKind::Plane(plane, PlaneEvent::TaskQuarantined),
            "queue_family": "blocker",
            "parent_run": {
                "plane": plane,
                "run_id": self.dir.id,
                "frozen_plan_id": self.plan.plan_id,
                "frozen_plan_hash": self.plan.content_hash,
                "transition_history_path": self.relative(&self.dir.path.join(runs::HISTORY)),
            },
            "task_id": task_id,
            "task_title": title,
            "status": t.status,
            "stage": stage,
            "reason": reason,
            "run_dir": run_dir,
        });
        let prompt_artifact = last.map(|p| {
            let attempt = self.attempts.get(&p.node).copied().unwrap_or(1);
            self.relative(&self.dir.artifact(&p.node, attempt, StageArtifact::Prompt))
        });
        let out = self.rt.queue.quarantine(&QuarantineRequest {
            task_id: task_id.to_string(),
            run_id: self.dir.id.clone(),
            run_dir: run_dir.clone(),
            stage,
            reason,
            prompt_artifact,
            handoff: handoff.clone(),
        })?;
        let handoff = merged(
            &handoff,
            json!({
                "handoff_id": out.handoff_id,
                "incident_path": out.incident_path,
                "recovery_batch_id": out.batch_id,
                "failure_signature": "needs_research",
                "frozen_backlog_cards": out.frozen_backlog_cards,
                "retained_backlog_cards": 0,
            }),
        );
        let diagnostics = self.diagnose(
            "quarantine",
            &format!(
                "task `{task_id}` quarantined for research: {}",
                handoff["reason"].as_str().unwrap_or("")
            ),
            false,
        );
        self.emit(
            PlaneEvent::TaskQuarantined,
            json!({"task_id": task_id, "title": title, "diagnostics_dir": diagnostics, "handoff_id": out.handoff_id}),
        );
        self.rt.event_from(
            EventKind::Handoff(HandoffEvent::NeedsResearch),
            EventSource::of_plane(plane),
            json!({"task_id": task_id, "title": title, "run_id": self.dir.id, "handoff": handoff}),
        );
        Ok(QueueMutation::QuarantineTask)
    }
}

/// A research item whose run ended without success is parked, so that the
/// family does not take it again at once; an operator moves it back to
/// retry. An audit also records a BLOCKED decision.
fn parked(item: &WorkItem) -> Vec<EffectOp> {
    let mut ops = Vec::new();
    match (item.family, &item.path) {
        (ResearchFamily::Audit, path) => {
            ops.push(EffectOp::AuditBlocked);
            if let Some(from) = path {
                ops.push(EffectOp::MoveItem {
                    from: from.clone(),
                    to_dir: layout::AUDIT_FAILED.into(),
                });
            }
        }
        (family, Some(from)) => ops.push(EffectOp::MoveItem {
            from: from.clone(),
            to_dir: if family == ResearchFamily::Goalspec {
                layout::IDEAS_BLOCKED
            } else {
                layout::INCIDENTS_BLOCKED
            }
            .into(),
        }),
        _ => {}
    }
    ops
}
