//! The daemon's side of operator commands: the file mailbox processed
//! between cycles, and stop, pause, resume and config reloads as the
//! owning process applies them.

use super::*;

impl Daemon {
    pub(super) fn process_mailbox(&mut self, running: bool) {
        let agents = self.ws.agents.clone();
        for path in mailbox::pending(&agents) {
            let (envelope, outcome) = match mailbox::read(&agents, &path) {
                // Perhaps still being written by a writer that does not
                // rename: look again on a later wake.
                Err((reason, None))
                    if reason.starts_with("malformed JSON") && mailbox::maybe_partial(&path) =>
                {
                    self.mailbox_recheck =
                        Some(tokio::time::Instant::now() + Duration::from_millis(500));
                    continue;
                }
                Err((reason, raw)) => (raw, Err(reason)),
                // A stop, pause or resume meant for an earlier daemon (left
                // behind when it died) must not act on this one.
                Ok((env, command))
                    if matches!(command, Command::Stop | Command::Pause | Command::Resume)
                        && env.issued_at < self.started_at =>
                {
                    let reason = format!(
                        "stale: issued at {} for a daemon that has ended (this one started at {})",
                        env.issued_at, self.started_at
                    );
                    (Some(json!(env)), Err(reason))
                }
                Ok((env, command)) => {
                    // Where it came from: v0.2.0's `add_idea {file}` is
                    // named as such.
                    let origin = if env.payload.get("v020_file").is_some() {
                        "v0.2.0 envelope"
                    } else {
                        env.issuer.as_str()
                    };
                    self.event(
                        EventKind::Control(ControlEvent::CommandReceived),
                        json!({"command_id": env.command_id, "command": env.command, "issuer": origin}),
                    );
                    self.run_in_flight = running;
                    self.command_id = Some(env.command_id.clone());
                    let ws = self.ws.clone();
                    let outcome = commands::apply(&ws, &command, self).map_err(|e| e.to_string());
                    (Some(json!(env)), outcome)
                }
            };
            self.settle_command(&agents, &path, envelope, outcome);
        }
    }

    /// Records what became of one mailbox command (an event; a warning on
    /// stderr when it was not applied) and archives its envelope.
    fn settle_command(
        &mut self,
        agents: &std::path::Path,
        path: &std::path::Path,
        envelope: Option<Value>,
        outcome: Result<Applied, String>,
    ) {
        let command_id = envelope
            .as_ref()
            .and_then(|e| e["command_id"].as_str().map(str::to_string))
            .unwrap_or_else(|| {
                path.file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_string()
            });
        let command = envelope
            .as_ref()
            .and_then(|e| e["command"].as_str().map(str::to_string))
            .unwrap_or_default();
        let result = match outcome {
            Ok(a) => CommandResult {
                command_id: command_id.clone(),
                processed_at: clock::now_iso(),
                ok: true,
                applied: a.applied,
                message: a.message,
                payload: a.payload,
            },
            Err(message) => CommandResult {
                command_id: command_id.clone(),
                processed_at: clock::now_iso(),
                ok: false,
                applied: false,
                message,
                payload: json!({}),
            },
        };
        if result.ok {
            self.event(
                EventKind::Control(ControlEvent::CommandApplied),
                json!({"command_id": command_id, "command": command, "applied": result.applied}),
            );
        } else {
            self.event(EventKind::Control(ControlEvent::CommandApplied), json!({"command_id": command_id, "command": command, "ok": false, "message": result.message}));
            // Never silently: the operator's terminal says so too.
            tracing::warn!(
                "mailbox command {command_id} ({command}) was not applied and is kept in commands/failed/: {}",
                result.message
            );
        }
        if let Err(e) = mailbox::archive(agents, path, envelope, &result) {
            tracing::error!("cannot archive mailbox command {}: {e}", path.display());
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Stop, pause, resume and config reloads, as the owning daemon applies them.
impl commands::Lifecycle for Daemon {
    fn emit(&mut self, kind: EventKind, source: crate::store::events::EventSource, payload: Value) {
        self.rt.event_from(kind, source, payload);
    }

    fn stop(&mut self) -> Applied {
        if self.stop_reason.is_some() {
            return Applied::no("stop already requested");
        }
        self.request_stop("stop command");
        Applied::yes("stop requested", json!({}))
    }

    fn pause(&mut self) -> Applied {
        if self.control.is_paused() {
            return Applied::no("engine already paused");
        }
        self.control.set_paused(true);
        self.event(
            EventKind::Engine(EngineEvent::Paused),
            json!({"command_id": self.command_id}),
        );
        Applied::yes("engine paused", json!({}))
    }

    fn resume(&mut self) -> Applied {
        if !self.control.is_paused() {
            return Applied::no("engine already running");
        }
        // Recorded before the held run is let go, so that the log never
        // shows its next stage starting ahead of the resume.
        self.event(
            EventKind::Engine(EngineEvent::Resumed),
            json!({"command_id": self.command_id}),
        );
        self.pause_reason = None;
        self.net_waits = 0;
        self.not_before = None;
        self.last_fault = None;
        self.control.set_paused(false);
        Applied::yes("engine resumed", json!({}))
    }

    fn reload_config(&mut self) -> Result<Applied, commands::CommandError> {
        if self.run_in_flight {
            return Ok(Applied::yes(
                "config reload queued for the next run",
                json!({}),
            ));
        }
        Ok(match Daemon::reload_config(self)? {
            true => Applied::yes(
                "config reloaded",
                json!({"config_hash": self.ws.config.hash()}),
            ),
            false => Applied::no("config already current"),
        })
    }

    fn daemon(&self) -> bool {
        true
    }

    fn stage_running(&self) -> bool {
        self.run_in_flight
    }

    fn config_written(&mut self, mut applied: Applied) -> Result<Applied, commands::CommandError> {
        if self.run_in_flight {
            applied.message = format!(
                "config updated; applies at the next run ({})",
                applied.payload["boundary"].as_str().unwrap_or("")
            );
        } else {
            Daemon::reload_config(self)?;
        }
        Ok(applied)
    }
}
