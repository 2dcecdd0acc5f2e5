//! Rendering of operator data: human text on stdout, diagnostics and errors
//! on stderr, JSON (sorted keys, two-space indent) from the same values.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::output::{write_json, write_json_ordered, Render, SortedSeq};

/// The usual `Render::json`: the value's own serialisation, keys sorted.
macro_rules! sorted_json {
    () => {
        fn json(&self, out: &mut dyn Write) -> io::Result<()> {
            write_json(out, self)
        }
    };
}

use crate::defs::serde_name;

use crate::compile::plan::{FrozenPlan, LoopPlan, Target};
use crate::control::init::InitReport;
use crate::control::plan::{LoopSummary, ModeSummary, ValidateReport};
use crate::control::ControlError;
use crate::defs::diag::Diagnostics;
use crate::store::runs::TransitionEvent;

mod ops;
mod plan;
mod runs;

use ops::{frozen_lines, task_line};
pub use ops::{Health, Queue};
pub use plan::{plan_dot, plan_mermaid, worst_case_text, Definition};
pub use runs::{follow_line, monitor_line};

/// Prints a failed command's error on stderr: one clear line and a hint,
/// or the located diagnostics; the cause chain goes to the debug log
/// (`RUST_LOG=millrace=debug`).
pub fn error(err: &ControlError, as_json: bool) {
    let mut cause = std::error::Error::source(err);
    while let Some(c) = cause {
        tracing::debug!("caused by: {c}");
        cause = c.source();
    }
    let stderr = &mut std::io::stderr().lock();
    let hint = err.hint();
    if as_json {
        let (error, diagnostics) = match err {
            ControlError::Diagnostics(d) => (err.to_string(), Some(d.iter().cloned().collect())),
            ControlError::Invalid(d) => (d.message.clone(), Some(vec![(**d).clone()])),
            _ => (err.to_string(), None),
        };
        let value = crate::control::schema::ErrorOutput {
            error,
            kind: err.kind(),
            hint,
            diagnostics,
        };
        let _ = write_json(stderr, &value);
        return;
    }
    let stderr = &mut crate::defs::text::SafeWriter::new(stderr);
    match err {
        ControlError::Diagnostics(d) => {
            let _ = write!(stderr, "{d}");
            let _ = writeln!(stderr, "\nerror: compilation failed with {}", counts(d));
        }
        ControlError::Invalid(d) => {
            let _ = writeln!(stderr, "{d}");
        }
        other => {
            let _ = writeln!(stderr, "error: {other}");
            if let Some(h) = hint {
                let _ = writeln!(stderr, "\nhint: {h}");
            }
        }
    }
}

fn counts(d: &Diagnostics) -> String {
    let (e, w) = (d.error_count(), d.warning_count());
    let plural = |n: usize, s: &str| {
        if n == 1 {
            format!("{n} {s}")
        } else {
            format!("{n} {s}s")
        }
    };
    if w == 0 {
        plural(e, "error")
    } else {
        format!("{}, {}", plural(e, "error"), plural(w, "warning"))
    }
}

/// Prints warnings (and errors) of a read command without failing it.
pub fn warn_diagnostics(d: &Diagnostics) {
    if !d.is_empty() {
        let _ = write!(
            crate::defs::text::SafeWriter::new(std::io::stderr().lock()),
            "{d}"
        );
    }
}

/// `init` answers in v0.2.0's OperationResult shape (spec §1.4).
impl Render for InitReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let payload = serde_json::to_value(self).map_err(io::Error::other)?;
        let mut s = String::from("Mode: direct\nApplied: yes\nMessage: workspace initialized\n");
        if let Some(map) = payload.as_object() {
            for (k, v) in map {
                let v = v
                    .as_str()
                    .map_or_else(|| ops::python_str(v), str::to_string);
                let _ = writeln!(s, "{k}: {v}");
            }
        }
        out.write_all(s.as_bytes())
    }

    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        write_json(
            out,
            &serde_json::json!({
                "mode": "direct",
                "applied": true,
                "message": "workspace initialized",
                "command_id": null,
                "payload": self,
            }),
        )
    }
}
