//! What the TUI shows, read through `control` in one go (errors kept as
//! text, so one unreadable store does not blank the screen). Finished runs
//! never change, so their summaries are kept between loads; the publish
//! preflight runs git and is loaded only when asked for.

use std::collections::HashMap;

use super::narrate::{narrate, Weight};
use crate::control::{self, Workspace};

/// Events kept for the panels and the expanded stream.
const EVENTS: usize = 500;
/// Runs listed.
const RUNS: usize = 100;
/// Backlog cards listed (the depth counts them all).
pub const CARDS: usize = 1000;

/// One event as the views show it.
#[derive(Debug, Clone)]
pub struct EventLine {
    pub timestamp: String,
    pub weight: Weight,
    /// In plain words (operator mode).
    pub text: String,
    /// The log line as written (debug mode).
    pub raw: String,
}

impl EventLine {
    pub fn time(&self) -> &str {
        self.timestamp.get(11..19).unwrap_or(&self.timestamp)
    }
}

pub struct Snapshot {
    pub status: Result<control::status::StatusReport, String>,
    pub queue: Result<crate::store::queue::QueueView, String>,
    pub research: Result<control::research::ResearchReport, String>,
    pub runs: Vec<control::runs::RunSummary>,
    pub events: Vec<EventLine>,
    /// Why the event log could not be read, when it could not.
    pub events_error: Option<String>,
    pub config: Vec<control::config::ConfigEntry>,
    pub config_hash: String,
    /// Loaded when the Publish panel opens, on `r` there, and after a
    /// publish action.
    pub preflight: Option<Result<control::publish::Preflight, String>>,
    /// The run the detail view shows.
    pub detail: Option<Result<control::runs::Provenance, String>>,
    finished: HashMap<String, control::runs::RunSummary>,
}

impl Snapshot {
    pub fn load(ws: &Workspace) -> Snapshot {
        Snapshot::load_after(ws, None)
    }

    /// Loads afresh, reusing `previous`'s finished-run summaries, preflight
    /// and detail view.
    pub fn load_after(ws: &Workspace, previous: Option<&mut Snapshot>) -> Snapshot {
        let text = |e: control::ControlError| e.to_string();
        let mut events = Vec::new();
        let read = control::logs::tail(ws, EVENTS)
            .map_err(text)
            .and_then(|tail| {
                tail.each(|e| {
                    let (weight, text) = narrate(&e);
                    events.push(EventLine {
                        timestamp: e.timestamp.clone(),
                        weight,
                        text,
                        raw: serde_json::to_string(&e).unwrap_or_default(),
                    });
                    Ok(())
                })
                .map_err(|e| e.to_string())
            });
        let (mut finished, preflight, detail) = match previous {
            Some(p) => (
                std::mem::take(&mut p.finished),
                p.preflight.take(),
                p.detail.take(),
            ),
            None => (HashMap::new(), None, None),
        };
        let ids = control::runs::recent_ids(ws, RUNS);
        let runs: Vec<control::runs::RunSummary> = ids
            .iter()
            .filter_map(|id| match finished.get(id) {
                Some(s) => Some(s.clone()),
                None => control::runs::summary(ws, id),
            })
            .collect();
        finished.retain(|id, _| ids.contains(id));
        for r in runs.iter().filter(|r| r.finished()) {
            finished.insert(r.meta.run_id.clone(), r.clone());
        }
        Snapshot {
            status: control::status::status(ws, false).map_err(text),
            queue: control::queue::view_head(ws, CARDS).map_err(text),
            research: control::research::report(ws).map_err(text),
            runs,
            events,
            events_error: read.err(),
            config: control::config::effective(ws),
            config_hash: ws.config.hash(),
            preflight,
            detail,
            finished,
        }
    }

    pub fn load_preflight(&mut self, ws: &Workspace) {
        self.preflight =
            Some(control::publish::preflight(ws, None, None, true).map_err(|e| e.to_string()));
    }

    pub fn load_detail(&mut self, ws: &Workspace, run_id: &str) {
        self.detail = Some(control::runs::provenance(ws, run_id).map_err(|e| e.to_string()));
    }

    /// The expanded stream's lines, oldest first: every event in debug
    /// mode, the ones a person reads in operator mode.
    pub fn stream_lines(&self, debug: bool) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| debug || e.weight != Weight::Quiet)
            .map(|e| {
                if debug {
                    e.raw.clone()
                } else {
                    format!("{} {}", e.time(), e.text)
                }
            })
            .collect()
    }

    /// How many stream lines of this snapshot are newer than `older`'s
    /// newest event.
    pub fn events_after(&self, older: &Snapshot, debug: bool) -> usize {
        let start = older
            .events
            .last()
            .and_then(|last| self.events.iter().rposition(|e| e.raw == last.raw))
            .map_or(0, |i| i + 1);
        self.events[start..]
            .iter()
            .filter(|e| debug || e.weight != Weight::Quiet)
            .count()
    }
}
