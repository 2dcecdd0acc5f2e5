//! Events in plain words for the TUI's operator mode, and how much each
//! matters to a person watching (what reaches the notices rail).

use crate::store::events::Event;

/// How much an event matters to an operator watching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// Routine progress (stages, promotions).
    Routine,
    /// Worth a notice: the operator may need to act or would want to know
    /// (a pause, a wait on the environment, a quarantine, a budget cap).
    Notice,
    /// Noise for a person (heartbeats, status mirrors, lock traffic).
    Quiet,
}

/// A payload field as text (`-` when absent).
fn field(p: &serde_json::Value, k: &str) -> String {
    match &p[k] {
        serde_json::Value::String(v) => v.clone(),
        serde_json::Value::Null => "-".to_string(),
        v => v.to_string(),
    }
}

/// An event in plain words for an operator, and how much it matters.
pub fn narrate(e: &Event) -> (Weight, String) {
    use crate::store::events::{
        ConfigEvent as C, ControlEvent as Ct, EngineEvent as En, EventKind as K, HandoffEvent as H,
        PlanEvent as Pl,
    };
    use Weight::{Notice, Quiet, Routine};
    let p = &e.payload;
    let s = |k: &str| field(p, k);
    match &e.kind {
        K::Plane(pl, ev) => plane_event(e, *pl, *ev),
        K::Handoff(h) => match h {
            H::IdeaSubmitted => (Routine, format!("idea submitted: {}", s("path"))),
            H::NeedsResearch => (Notice, format!("task {} needs research", s("task_id"))),
            H::BacklogEmptyAudit => (Routine, "backlog drained: a completion audit is due".into()),
            H::BacklogRepopulated => (
                Routine,
                format!("backlog repopulated ({} card(s) thawed)", s("thawed_cards")),
            ),
        },
        K::Engine(en) => match en {
            En::Started => (Routine, "engine started".into()),
            En::Stopped => (Routine, "engine stopped".into()),
            En::Paused => (Notice, "engine paused".into()),
            En::Resumed => (Notice, "engine resumed".into()),
            En::NetWait => (
                Notice,
                format!(
                    "waiting on the environment ({}) at `{}`, retry at {}: {}",
                    s("class"),
                    s("node"),
                    s("retry_at"),
                    s("message")
                ),
            ),
            En::CycleFailed => (Notice, format!("a cycle failed: {}", s("error"))),
            En::CompletionStale => (
                Notice,
                "a stale AUTONOMY_COMPLETE marker was ignored".into(),
            ),
            En::Heartbeat => (Quiet, "heartbeat".into()),
        },
        K::Plan(Pl::Stale) => (Notice, format!("the plan is stale: {}", s("problem"))),
        K::Plan(Pl::Recovered) => (Notice, "the plan compiles again".into()),
        K::Config(C::Changed) => (Routine, format!("config changed: {}", s("key"))),
        K::Config(C::Applied) => (Routine, "config applied".into()),
        K::Control(Ct::CommandReceived) => (Quiet, format!("command received: {}", s("command"))),
        K::Control(Ct::CommandApplied) => (Routine, format!("command applied: {}", s("command"))),
        K::Unknown(name) => (Routine, format!("{name} {p}")),
    }
}

/// A plane's event (stages, tasks, budgets, research intake) in words.
fn plane_event(
    e: &Event,
    pl: crate::defs::stage_kind::Plane,
    ev: crate::store::events::PlaneEvent,
) -> (Weight, String) {
    use crate::store::events::PlaneEvent as P;
    use Weight::{Notice, Quiet, Routine};
    let p = &e.payload;
    let s = |k: &str| field(p, k);
    let plane = |pl: &crate::defs::stage_kind::Plane| pl.as_str();
    let pl = &pl;
    match ev {
        P::StageStarted => (
            Routine,
            format!(
                "{} `{}` started: {}",
                plane(pl),
                s("node_id"),
                p["title"]
                    .as_str()
                    .or(p["task_id"].as_str())
                    .map_or_else(|| s("run_id"), str::to_string)
            ),
        ),
        P::StageCompleted => (
            Routine,
            format!("{} `{}` finished: {}", plane(pl), s("node_id"), s("status")),
        ),
        P::StageFailed => (
            Routine,
            format!(
                "{} `{}` failed ({}): {}",
                plane(pl),
                s("node_id"),
                s("status"),
                s("error")
            ),
        ),
        P::RunAbandoned => (
            Notice,
            format!(
                "closed the v0.2.0 run {} as `{}`: task {} restarts at {}",
                s("run_id"),
                s("state"),
                s("task_id"),
                s("restarts_at")
            ),
        ),
        P::CounterExhausted => (
            Notice,
            format!(
                "counter `{}` exhausted at {}/{}",
                s("counter"),
                s("value"),
                s("limit")
            ),
        ),
        P::RunInterrupted => (Notice, format!("run {} interrupted", s("run_id"))),
        P::BudgetExhausted => (
            Notice,
            format!(
                "budget cap reached, paused before `{}`: {}",
                s("node_id"),
                s("message")
            ),
        ),
        P::BudgetAdmission => (
            Notice,
            format!(
                "task {}: worst case ${} exceeds the ${} the task budget leaves",
                s("task_id"),
                s("worst_case_usd"),
                s("left_usd")
            ),
        ),
        P::DiagnosticsCreated => (
            Routine,
            format!("diagnostics bundle written: {}", s("diagnostics_dir")),
        ),
        P::TaskAdded => (
            Routine,
            format!("task added: {} ({})", s("title"), s("task_id")),
        ),
        P::TaskPromoted => (Routine, format!("task {} is now active", s("task_id"))),
        P::TaskArchived => (Routine, format!("task {} done and archived", s("task_id"))),
        P::TaskQuarantined => (
            Notice,
            format!("task {} quarantined for research", s("task_id")),
        ),
        P::BacklogEmpty => (Routine, "the backlog is empty".to_string()),
        P::CardsAppended => (Routine, format!("research queued cards {}", s("task_ids"))),
        P::CompletionDecided => (
            Notice,
            format!("completion audit decided {}", s("decision")),
        ),
        P::ItemRejected => (Notice, format!("research refused an item: {}", p)),
        P::Received => (
            Routine,
            format!("research received {} {}", s("queue_family"), s("item_id")),
        ),
        P::Deferred => (
            Routine,
            format!("research deferred to {}", s("breadcrumb_path")),
        ),
        P::StatusChanged
        | P::CounterIncremented
        | P::ScanCompleted
        | P::ModeSelected
        | P::DispatchCompiled
        | P::LockAcquired
        | P::LockReleased => (Quiet, format!("{} {}", e.kind, p)),
    }
}
