//! The names of runtime events, one enum grouped by plane. `Display` and
//! serde spell them as v0.2.0 does (`execution.stage.started`); a name this
//! build does not know (a newer writer's) reads as [`EventKind::Unknown`]
//! and round-trips unchanged.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::defs::stage_kind::Plane;

/// Declares a group of events: variants with their names after the group's
/// prefix, and the source they are recorded with unless an emitter says
/// otherwise.
macro_rules! event_group {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $suffix:literal, $source:ident;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn suffix(self) -> &'static str {
                match self {
                    $($name::$variant => $suffix,)*
                }
            }

            fn default_source(self) -> Option<EventSource> {
                match self {
                    $($name::$variant => event_group!(@source $source),)*
                }
            }
        }
    };
    (@source plane) => { None };
    (@source $s:ident) => { Some(EventSource::$s) };
}

event_group!(
    /// Events of one plane's runs and queue: `<plane>.<suffix>`.
    PlaneEvent {
        StatusChanged => "status.changed", plane;
        StageStarted => "stage.started", plane;
        StageCompleted => "stage.completed", plane;
        StageFailed => "stage.failed", plane;
        CounterIncremented => "counter.incremented", plane;
        CounterExhausted => "counter.exhausted", plane;
        RunInterrupted => "run.interrupted", plane;
        RunAbandoned => "run.abandoned", plane;
        BudgetExhausted => "budget.exhausted", plane;
        BudgetAdmission => "budget.admission", plane;
        DiagnosticsCreated => "diagnostics.created", plane;
        TaskAdded => "task.added", Control;
        TaskPromoted => "task.promoted", plane;
        TaskArchived => "task.archived", plane;
        TaskQuarantined => "task.quarantined", plane;
        BacklogEmpty => "backlog.empty", plane;
        // The research plane's own (v0.2.0 names, spec §7.4).
        Received => "received", plane;
        Deferred => "deferred", plane;
        ScanCompleted => "scan.completed", plane;
        ModeSelected => "mode.selected", plane;
        DispatchCompiled => "dispatch.compiled", plane;
        LockAcquired => "lock.acquired", plane;
        LockReleased => "lock.released", plane;
        CardsAppended => "cards.appended", plane;
        CompletionDecided => "completion.decided", plane;
        ItemRejected => "item.rejected", plane;
    }
);

event_group!(
    /// Hand-offs between the planes: `handoff.<suffix>`.
    HandoffEvent {
        IdeaSubmitted => "idea_submitted", Adapter;
        NeedsResearch => "needs_research", plane;
        BacklogEmptyAudit => "backlog_empty_audit", plane;
        BacklogRepopulated => "backlog_repopulated", Engine;
    }
);

event_group!(
    /// The owning process: `engine.<suffix>`.
    EngineEvent {
        Started => "started", Engine;
        Stopped => "stopped", Engine;
        Heartbeat => "heartbeat", Engine;
        Paused => "paused", Control;
        Resumed => "resumed", Control;
        NetWait => "net_wait", Engine;
        CycleFailed => "cycle.failed", Engine;
        CompletionStale => "completion.stale", Engine;
    }
);

event_group!(
    /// Plan currentness in a daemon: `plan.<suffix>`.
    PlanEvent {
        Stale => "stale", Engine;
        Recovered => "recovered", Engine;
    }
);

event_group!(
    /// `millrace.toml` changes: `config.<suffix>`.
    ConfigEvent {
        Changed => "changed", Control;
        Applied => "applied", Engine;
    }
);

event_group!(
    /// Operator commands through the mailbox: `control.command.<suffix>`.
    ControlEvent {
        CommandReceived => "command.received", Adapter;
        CommandApplied => "command.applied", Control;
    }
);

/// Every event the runtime writes to `engine_events.log`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventKind {
    Plane(Plane, PlaneEvent),
    Handoff(HandoffEvent),
    Engine(EngineEvent),
    Plan(PlanEvent),
    Config(ConfigEvent),
    Control(ControlEvent),
    /// A name this build does not know; kept as written.
    Unknown(String),
}

/// The `source` field of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventSource {
    Execution,
    Research,
    Engine,
    Control,
    Adapter,
}

impl EventSource {
    pub fn as_str(self) -> &'static str {
        match self {
            EventSource::Execution => "execution",
            EventSource::Research => "research",
            EventSource::Engine => "engine",
            EventSource::Control => "control",
            EventSource::Adapter => "adapter",
        }
    }

    pub fn of_plane(plane: Plane) -> EventSource {
        match plane {
            Plane::Execution => EventSource::Execution,
            Plane::Research => EventSource::Research,
        }
    }
}

impl fmt::Display for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EventKind {
    pub fn execution(e: PlaneEvent) -> EventKind {
        EventKind::Plane(Plane::Execution, e)
    }

    pub fn research(e: PlaneEvent) -> EventKind {
        EventKind::Plane(Plane::Research, e)
    }

    /// The source an event is recorded with; plane events (and hand-offs
    /// raised by a plane) take `plane`'s.
    pub fn source(&self, plane: Option<Plane>) -> EventSource {
        let fixed = match self {
            EventKind::Plane(p, e) => {
                return e.default_source().unwrap_or(EventSource::of_plane(*p))
            }
            EventKind::Handoff(e) => e.default_source(),
            EventKind::Engine(e) => e.default_source(),
            EventKind::Plan(e) => e.default_source(),
            EventKind::Config(e) => e.default_source(),
            EventKind::Control(e) => e.default_source(),
            EventKind::Unknown(_) => Some(EventSource::Engine),
        };
        fixed.unwrap_or_else(|| EventSource::of_plane(plane.unwrap_or(Plane::Execution)))
    }

    /// Every known kind (both planes), for documentation and schemas.
    pub fn all() -> Vec<EventKind> {
        let mut out = Vec::new();
        for p in Plane::ALL {
            out.extend(PlaneEvent::ALL.iter().map(|e| EventKind::Plane(p, *e)));
        }
        out.extend(HandoffEvent::ALL.iter().copied().map(EventKind::Handoff));
        out.extend(EngineEvent::ALL.iter().copied().map(EventKind::Engine));
        out.extend(PlanEvent::ALL.iter().copied().map(EventKind::Plan));
        out.extend(ConfigEvent::ALL.iter().copied().map(EventKind::Config));
        out.extend(ControlEvent::ALL.iter().copied().map(EventKind::Control));
        out
    }

    /// Status changes are frequent and derived; the history log skips them.
    pub fn is_status_change(&self) -> bool {
        matches!(self, EventKind::Plane(_, PlaneEvent::StatusChanged))
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::Plane(p, e) => write!(f, "{}.{}", p.as_str(), e.suffix()),
            EventKind::Handoff(e) => write!(f, "handoff.{}", e.suffix()),
            EventKind::Engine(e) => write!(f, "engine.{}", e.suffix()),
            EventKind::Plan(e) => write!(f, "plan.{}", e.suffix()),
            EventKind::Config(e) => write!(f, "config.{}", e.suffix()),
            EventKind::Control(e) => write!(f, "control.{}", e.suffix()),
            EventKind::Unknown(s) => f.write_str(s),
        }
    }
}

impl FromStr for EventKind {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<EventKind, Self::Err> {
        fn find<T: Copy>(all: &[T], suffix: &str, name: impl Fn(T) -> &'static str) -> Option<T> {
            all.iter().copied().find(|e| name(*e) == suffix)
        }
        let (head, rest) = s.split_once('.').unwrap_or((s, ""));
        let known = match head {
            "execution" | "research" => {
                let plane = if head == "execution" {
                    Plane::Execution
                } else {
                    Plane::Research
                };
                find(PlaneEvent::ALL, rest, PlaneEvent::suffix).map(|e| EventKind::Plane(plane, e))
            }
            "handoff" => {
                find(HandoffEvent::ALL, rest, HandoffEvent::suffix).map(EventKind::Handoff)
            }
            "engine" => find(EngineEvent::ALL, rest, EngineEvent::suffix).map(EventKind::Engine),
            "plan" => find(PlanEvent::ALL, rest, PlanEvent::suffix).map(EventKind::Plan),
            "config" => find(ConfigEvent::ALL, rest, ConfigEvent::suffix).map(EventKind::Config),
            "control" => {
                find(ControlEvent::ALL, rest, ControlEvent::suffix).map(EventKind::Control)
            }
            _ => None,
        };
        Ok(known.unwrap_or_else(|| EventKind::Unknown(s.to_string())))
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EventKind, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(s.parse().expect("infallible"))
    }
}

impl schemars::JsonSchema for EventKind {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EventKind".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<String> = EventKind::all().iter().map(|k| k.to_string()).collect();
        schemars::json_schema!({
            "type": "string",
            "description": "The event name. Known names are listed; a newer writer may add others.",
            "examples": names,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for k in EventKind::all() {
            let name = k.to_string();
            assert_eq!(name.parse::<EventKind>().unwrap(), k, "{name}");
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{name}\""));
        }
        let odd: EventKind = "research.spec.drafted".parse().unwrap();
        assert_eq!(odd, EventKind::Unknown("research.spec.drafted".into()));
        assert_eq!(odd.to_string(), "research.spec.drafted");
    }

    #[test]
    fn names_match_v020() {
        let names: Vec<String> = EventKind::all().iter().map(|k| k.to_string()).collect();
        for expected in [
            "execution.stage.started",
            "execution.status.changed",
            "execution.task.quarantined",
            "handoff.needs_research",
            "handoff.idea_submitted",
            "engine.cycle.failed",
            "control.command.applied",
            "config.changed",
        ] {
            assert!(names.iter().any(|n| n == expected), "{expected}");
        }
    }
}
