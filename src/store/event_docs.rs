//! What each event's payload holds, for the events reference page
//! (`docs/millrace/events.md`). The matches are exhaustive: a new event does
//! not compile until it is documented here.

use super::event_kind::{
    ConfigEvent, ControlEvent, EngineEvent, EventKind, HandoffEvent, PlanEvent, PlaneEvent,
};
use crate::defs::stage_kind::Plane;

/// Keys of a stage's context, in every stage event.
const STAGE: &str = "run_id, node_id, stage, task_id, title";

fn plane_keys(e: PlaneEvent) -> &'static str {
    use PlaneEvent as P;
    match e {
        P::StatusChanged => "plane, status, previous_status, transition_mode, run_id, node_id, stage, task_id, title, terminal (at a run's end)",
        P::StageStarted => STAGE,
        P::StageCompleted => "run_id, node_id, stage, task_id, title, status, exit_code, run_dir, attempt",
        P::StageFailed => "run_id, node_id, stage, task_id, title, status, exit_code, run_dir, attempt, error; for an environment fault: class, environment",
        P::CounterIncremented | P::CounterExhausted => "run_id, node_id, stage, task_id, title, counter, value, limit",
        P::RunInterrupted => "run_id, node_id, task_id",
        P::RunAbandoned => "run_id, task_id, state, last_node, restarts_at, source",
        P::BudgetExhausted => "run_id, node_id, cap, limit, spent, next, message",
        P::BudgetAdmission => "task_id, loop_id, worst_case_usd, left_usd, admission",
        P::DiagnosticsCreated => "run_id, label, reason, path, redacted",
        P::TaskAdded | P::TaskPromoted | P::TaskArchived => "task_id, title",
        P::TaskQuarantined => "task_id, title, task_title, run_id, run_dir, stage, status, reason, handoff, handoff_id, diagnostics_dir, frozen_plan_id, frozen_plan_hash, transition_history_path, parent_run, plane, queue_family, trigger_event",
        P::BacklogEmpty => "backlog_depth, run_update_on_empty",
        P::Received => "source_event, queue_family, item_id",
        P::Deferred => "source_event, queue_family, storage_kind, breadcrumb_path, pending_count",
        P::ScanCompleted => "trigger, goalspec_ready, incident_ready, audit_ready",
        P::ModeSelected => "trigger, runtime_mode, selected_family, reason, item_id",
        P::DispatchCompiled => "plan_id, loop_id, family, item_id, max_stage_runs",
        P::LockAcquired => "path, scope",
        P::LockReleased => "path",
        P::CardsAppended => "run_id, spec_id, task_ids, backlog_depth",
        P::CompletionDecided => "run_id, decision",
        P::ItemRejected => "path, reason",
    }
}

fn other_keys(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::Plane(_, e) => plane_keys(*e),
        EventKind::Handoff(e) => match e {
            HandoffEvent::IdeaSubmitted => "path",
            HandoffEvent::NeedsResearch => "task_id, title, run_id, handoff",
            HandoffEvent::BacklogEmptyAudit => "backlog_depth, archive_bytes",
            HandoffEvent::BacklogRepopulated => "trigger, batch_id, thawed_cards, backlog_depth, next_task_id, decision_type, failure_signature, parent_run_id, remediation_record_path, remediation_spec_id",
        },
        EventKind::Engine(e) => match e {
            EngineEvent::Started => "mode, config_hash",
            EngineEvent::Stopped => "mode, paused, reason (daemon)",
            EngineEvent::Heartbeat => "paused, plan_problem",
            EngineEvent::Paused => "command_id (operator), or run_id, reason, cap (budget), or reason (environment)",
            EngineEvent::Resumed => "command_id",
            EngineEvent::NetWait => "run_id, node, class, message, wait, max_waits, wait_seconds, retry_at",
            EngineEvent::CycleFailed => "error",
            EngineEvent::CompletionStale => "marker_path, reason, latest_decision",
        },
        EventKind::Plan(e) => match e {
            PlanEvent::Stale => "problem, and what it is about (e.g. diagnostics)",
            PlanEvent::Recovered => "plan_id",
        },
        EventKind::Config(e) => match e {
            ConfigEvent::Changed => "key, boundary, changed_fields, pending_config_hash; or rejected, reason, path",
            ConfigEvent::Applied => "boundary, config_hash, previous_config_hash, rollback",
        },
        EventKind::Control(e) => match e {
            ControlEvent::CommandReceived => "command_id, command, issuer (`cli`, or `v0.2.0 envelope`)",
            ControlEvent::CommandApplied => "command_id, command, applied; or ok: false, message",
        },
        EventKind::Unknown(_) => "as written",
    }
}

/// Every known event once (plane events as `<plane>.…`): its name, the
/// source it is recorded with and its payload keys.
pub fn catalogue() -> Vec<(String, String, &'static str)> {
    EventKind::all()
        .into_iter()
        .filter(|k| !matches!(k, EventKind::Plane(Plane::Research, _)))
        .map(|k| {
            let (name, source) = match &k {
                EventKind::Plane(_, e) => (
                    format!("<plane>.{}", e.suffix()),
                    match k.source(None) {
                        s if s.as_str() == "execution" => "`<plane>`".to_string(),
                        s => format!("`{s}`"),
                    },
                ),
                other => (other.to_string(), format!("`{}`", other.source(None))),
            };
            (name, source, other_keys(&k))
        })
        .collect()
}
