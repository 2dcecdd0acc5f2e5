//! `logs`: the tail of `agents/engine_events.log`.

use crate::store::events::{Event, EventLog};

use super::{ControlError, Result, Workspace};

pub fn tail(ws: &Workspace, n: usize) -> Result<Vec<Event>> {
    let log = EventLog::new(&ws.agents);
    log.tail(n).map_err(ControlError::io(log.path()))
}
