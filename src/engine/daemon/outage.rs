//! Environment faults in the daemon: wait with backoff for a transient one
//! (pausing after `max_waits`), pause at once for one that needs a person,
//! and the `[outage] probe_command` that ends a wait early.

use super::*;

impl Daemon {
    /// A run stopped on its environment: wait with backoff for a transient
    /// fault (pausing after `max_waits`), pause at once for one that needs a
    /// person. `resume` retries the same stage.
    pub(super) fn environment_fault(&mut self, fault: &EnvironmentFault) {
        let outage = runs::RunDir::open(&self.ws.agents, &fault.run_id)
            .and_then(|d| d.plan().ok())
            .map(|p| p.content.outage)
            .unwrap_or_else(|| self.ws.config.outage.clone());
        if !outage.waits_out(fault.class) {
            self.pause_for(
                format!("env_blocked: {}: {}", fault.class, fault.message),
                fault,
            );
            return;
        }
        self.net_waits += 1;
        if outage.max_waits > 0 && self.net_waits > outage.max_waits {
            let reason = format!(
                "net_wait_exhausted: {} after {} wait(s): {}",
                fault.class, outage.max_waits, fault.message
            );
            self.pause_for(reason, fault);
            return;
        }
        let wait = outage.wait_before(self.net_waits);
        self.not_before = Some(tokio::time::Instant::now() + Duration::from_secs(wait));
        let at = crate::defs::clock::now() + jiff::SignedDuration::from_secs(wait as i64);
        self.retry_at = Some(at.to_string());
        self.probe = outage.probe_command.clone();
        self.last_fault = Some(fault.clone());
        tracing::warn!(class = %fault.class, wait, "waiting on the environment");
        self.event(
            EventKind::Engine(EngineEvent::NetWait),
            json!({
                "run_id": fault.run_id,
                "node": fault.node,
                "class": fault.class,
                "message": fault.message,
                "wait": self.net_waits,
                "max_waits": outage.max_waits,
                "wait_seconds": wait,
                "retry_at": self.retry_at,
            }),
        );
    }

    pub(super) fn pause_for(&mut self, reason: String, fault: &EnvironmentFault) {
        tracing::warn!("{reason}; paused until `millrace resume`");
        if reason.starts_with("net_wait_exhausted") {
            // (A fault that needs a person got its bundle from the run.)
            match crate::store::diagnostics::create(
                &self.ws.agents,
                Some(&fault.run_id),
                &format!("{}-net-wait-exhausted", fault.node),
                &reason,
                &self.ws.config.hash(),
                &crate::interp::run::redaction(&self.ws.config),
            ) {
                Ok(b) => self.event(
                    EventKind::Plane(
                        Plane::Execution,
                        crate::store::events::PlaneEvent::DiagnosticsCreated,
                    ),
                    json!({"run_id": fault.run_id, "path": b.path, "reason": reason}),
                ),
                Err(e) => tracing::warn!("cannot write a diagnostics bundle: {e}"),
            }
        }
        self.control.set_paused(true);
        self.retry_at = None;
        self.last_fault = None;
        self.event(
            EventKind::Engine(EngineEvent::Paused),
            json!({
                "run_id": fault.run_id,
                "reason": reason,
                "class": fault.class,
                "hint": format!("fix it, then `millrace resume` retries the stage `{}`", fault.node),
            }),
        );
        self.pause_reason = Some(reason);
    }

    /// Runs the `[outage] probe_command` before a retry; false when it says
    /// the environment is still down (the wait is counted again).
    pub(super) fn probe_ready(&mut self) -> bool {
        let Some((program, args)) = self.probe.split_first() else {
            return true;
        };
        let started = std::time::Instant::now();
        let group = process::StageGroup::default();
        let ready = process::spawn_in_group(
            std::process::Command::new(program)
                .args(args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null()),
            &group,
        )
        .map(|child| {
            let exit = process::wait(
                child,
                started,
                Duration::from_secs(PROBE_TIMEOUT_SECS),
                &group,
                None,
            );
            exit.code == Some(0)
        })
        .unwrap_or(false);
        tracing::info!(ready, "outage probe");
        if let Some(fault) = &self.last_fault {
            // The program only: its arguments may carry credentials.
            let record = json!({
                "timestamp": crate::defs::clock::now_iso(),
                "run_id": fault.run_id,
                "node": fault.node,
                "class": fault.class,
                "wait": self.net_waits,
                "program": program,
                "ready": ready,
                "duration_ms": started.elapsed().as_millis() as u64,
            });
            let written = runs::RunDir::open(&self.ws.agents, &fault.run_id)
                .map(|dir| dir.append_line(runs::OUTAGE_PROBES, &record));
            if let Some(Err(e)) = written {
                tracing::warn!("cannot record the outage probe: {e}");
            }
        }
        ready
    }
}
