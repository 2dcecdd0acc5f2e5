//! Operator stores and checks: queue operations and views, `health`/`doctor`, research, usage, diagnostics bundles and publish.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::*;

/// v0.2.0's OperationResult text: Mode / Applied / Message, then payload keys.
impl Render for crate::control::queue::Operation {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let op = self;
        let mut s = format!(
            "Mode: {}\nApplied: {}\nMessage: {}\n",
            op.mode.as_str(),
            if op.applied { "yes" } else { "no" },
            op.message
        );
        if let Some(id) = &op.command_id {
            let _ = writeln!(s, "Command id: {id}");
        }
        if let Some(map) = op.payload.as_object() {
            for (k, v) in map {
                let v = v.as_str().map_or_else(|| python_str(v), str::to_string);
                let _ = writeln!(s, "{k}: {v}");
            }
        }
        out.write_all(s.as_bytes())?;
        Ok(())
    }

    sorted_json!();
}

/// A payload value as v0.2.0's text output prints it (Python's `str()`:
/// `['a', 'b']`, `True`, `None`), so scripts that parsed it keep working.
pub(super) fn python_str(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(t) => {
            let quote = if t.contains('\'') && !t.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::from(quote);
            for c in t.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
            out
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(python_str).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    python_str(&Value::from(k.as_str())),
                    python_str(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Frozen batches and how to get them back.
pub(super) fn frozen_lines(s: &mut String, batches: &[crate::store::queue::FrozenBatch]) {
    for b in batches {
        let _ = writeln!(
            s,
            "Frozen: batch {} — {} card(s) since {}; `millrace queue thaw {}` returns them to the backlog",
            b.batch_id,
            b.task_ids.len(),
            b.frozen_at.as_deref().unwrap_or("?"),
            b.batch_id
        );
    }
}

pub(super) fn task_line(t: Option<&crate::store::cards::TaskView>) -> String {
    t.map_or_else(
        || "none".to_string(),
        |t| format!("{} — {}", t.task_id, t.title),
    )
}

/// `queue` (`inspect`: with every backlog card).
pub struct Queue {
    pub view: crate::store::queue::QueueView,
    pub inspect: bool,
}

impl Render for Queue {
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        // QueueView and TaskView declare their fields in sorted order, so
        // even a 100k-card backlog streams.
        write_json_ordered(out, &self.view)
    }

    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let (q, inspect) = (&self.view, self.inspect);
        let mut s = format!(
            // v0.2.0's labels, which scripts grep.
            "Active task: {}\nBacklog depth: {}\nNext task: {}\n",
            task_line(q.active_task.as_ref()),
            q.backlog_depth,
            task_line(q.next_task.as_ref())
        );
        frozen_lines(&mut s, &q.frozen_batches);
        for w in &q.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        if inspect {
            for (i, t) in q.backlog.iter().enumerate() {
                let _ = writeln!(s, "{:>4}. {} — {}", i + 1, t.task_id, t.title);
            }
        }
        out.write_all(s.as_bytes())
    }
}
/// `health`, or `doctor` with runner versions and lock state.
pub struct Health {
    pub report: crate::control::health::HealthReport,
    pub doctor: bool,
}

impl Render for Health {
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        write_json(out, &self.report)
    }

    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let (r, doctor) = (&self.report, self.doctor);
        use crate::control::health::CheckStatus;
        let mut s = String::new();
        if doctor {
            let ready = r.bootstrap_ready && r.execution_ready;
            let _ = writeln!(
                s,
                "{}",
                if ready {
                    "PASS: ready to run"
                } else {
                    "FAIL: not ready"
                }
            );
        } else {
            let _ = writeln!(s, "status: {}", serde_name(&r.status));
        }
        for c in &r.checks {
            let label = match c.status {
                CheckStatus::Pass => "PASS",
                CheckStatus::Warn => "WARN",
                CheckStatus::Fail => "FAIL",
            };
            // A message may be a located diagnostic of several lines: its
            // first line stands by the check, the rest indented under it,
            // each detail on a line of its own.
            let mut lines = c.message.lines().filter(|l| !l.trim().is_empty());
            let _ = writeln!(
                s,
                "{label} {:<22} {}",
                c.check_id,
                lines.next().unwrap_or("")
            );
            for l in lines.chain(c.details.iter().flat_map(|d| d.lines())) {
                let _ = writeln!(s, "       {}", l.trim_start());
            }
        }
        if doctor {
            for p in &r.runner_prerequisites {
                let version = p
                    .version
                    .as_deref()
                    .map(|v| format!(" ({v})"))
                    .unwrap_or_default();
                let login = match p.logged_in {
                    Some(true) => "; logged in",
                    Some(false) => "; NOT logged in",
                    None => "",
                };
                let _ = writeln!(s, "runner {}: {}{version}{login}", p.runner, p.message);
                for w in &p.warnings {
                    let _ = writeln!(s, "       {w}");
                }
                if !p.available {
                    let _ = writeln!(
                        s,
                        "       hint: install `{}` or point [runners.{}] command at it",
                        p.executable, p.runner
                    );
                }
            }
        }
        out.write_all(s.as_bytes())?;
        Ok(())
    }
}
/// One research family's line in `research`: its items, readiness, next
/// item and refused files.
fn family_lines(s: &mut String, f: &crate::control::research::FamilyScan) {
    let first = f
        .first_item
        .as_ref()
        .map(|i| {
            format!(
                " — next: {} ({})",
                i.title,
                i.path
                    .as_deref()
                    .map_or("automatic".to_string(), |p| format!("agents/{p}"))
            )
        })
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "  {:<9} {} item(s){}{}",
        f.family.as_str(),
        f.item_count,
        if f.ready && !f.enabled {
            " [ready, not enabled]"
        } else if f.ready {
            " [ready]"
        } else {
            ""
        },
        first
    );
    for rej in &f.rejected {
        let _ = writeln!(s, "            refused {}: {}", rej.path, rej.reason);
    }
}

impl Render for crate::control::research::ResearchReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let r = self;
        let enabled: Vec<&str> = r.enabled_families.iter().map(|f| f.as_str()).collect();
        let mut s = format!(
            "Research mode: {} ({})\nResearch status: {}\nEnabled families: {}\n",
            crate::defs::serde_name(&r.configured_mode),
            r.enabled_reason,
            r.status,
            if enabled.is_empty() {
                "none".to_string()
            } else {
                enabled.join(", ")
            }
        );
        if let Some(p) = &r.plan_problem {
            let _ = writeln!(s, "Plan: {p}");
        }
        for f in &r.queue_families {
            family_lines(&mut s, f);
        }
        match &r.active_run {
            Some(a) => {
                let _ = writeln!(s, "Active research run: {}", a.run_id);
            }
            None => s.push_str("Active research run: none\n"),
        }
        if r.deferred_breadcrumb_count > 0 {
            let _ = writeln!(
                s,
                "Deferred requests: {} (agents/.deferred/)",
                r.deferred_breadcrumb_count
            );
        }
        let a = &r.audit_summary.counts;
        let _ = writeln!(
            s,
            "Audits: {} ({} pass, {} fail, {} blocked)",
            a.total, a.pass, a.fail, a.blocked
        );
        let c = &r.completion_state;
        let _ = writeln!(
            s,
            "Completion: decision {}; AUTONOMY_COMPLETE {}{}",
            c.latest_decision.as_deref().unwrap_or("none"),
            if c.marker_present {
                "present"
            } else {
                "absent"
            },
            if c.marker_present && !c.marker_honored {
                format!(" but not obeyed ({})", c.reason)
            } else {
                String::new()
            }
        );
        out.write_all(s.as_bytes())
    }

    sorted_json!();
}

impl Render for crate::control::research::ResearchHistory {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut s = String::new();
        if self.runs.is_empty() {
            s.push_str("no research runs\n");
        }
        for r in &self.runs {
            let item = r.item.as_ref().map_or(String::new(), |i| {
                format!("{} `{}`", i.family.as_str(), i.title)
            });
            let effects = r
                .effects
                .as_ref()
                .map(|e| e.summary().join(", "))
                .filter(|e| !e.is_empty());
            let _ = writeln!(
                s,
                "{}  {}  {}{}",
                r.run_id,
                r.state,
                item,
                effects.map(|e| format!("  [{e}]")).unwrap_or_default()
            );
        }
        out.write_all(s.as_bytes())
    }

    sorted_json!();
}

impl Render for crate::control::usage::UsageReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let line = |key: &str, x: &crate::store::ledger::Spend| {
            format!(
                "{key:<48} {:>10} {:>12} {:>6} {:>10}\n",
                format!("${:.4}", x.usd),
                x.tokens,
                x.invocations,
                format!("{:.1}s", x.wall_ms / 1000.0)
            )
        };
        let by = crate::defs::serde_name(&self.by);
        let mut s = format!(
            "{by:<48} {:>10} {:>12} {:>6} {:>10}\n",
            "usd", "tokens", "calls", "wall"
        );
        for r in &self.rows {
            s.push_str(&line(&r.key, &r.spend));
            if !r.commits.is_empty() {
                let short: Vec<&str> = r.commits.iter().map(|c| c.get(..12).unwrap_or(c)).collect();
                let _ = writeln!(s, "  commits {}", short.join(" "));
            }
        }
        s.push_str(&line("total", &self.total));
        if self.total.unpriced > 0 {
            let _ = writeln!(
                s,
                "{} attempt(s) reported tokens but no cost and their model has no [prices.<model>] entry: their USD is not counted",
                self.total.unpriced
            );
        }
        out.write_all(s.as_bytes())
    }

    sorted_json!();
}
impl Render for crate::store::diagnostics::Bundle {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut s = format!("{}\n", self.path);
        let _ = writeln!(s, "  run: {}", self.run_id.as_deref().unwrap_or("-"));
        let _ = writeln!(s, "  why: {}", self.reason.as_deref().unwrap_or("-"));
        let _ = writeln!(
            s,
            "  files: {}; redacted in: {}",
            self.files,
            if self.redacted.is_empty() {
                "none".to_string()
            } else {
                self.redacted.join(", ")
            }
        );
        out.write_all(s.as_bytes())
    }

    sorted_json!();
}

impl Render for crate::control::diagnostics::BundleList {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut s = String::new();
        if self.bundles.is_empty() {
            s.push_str("no diagnostics bundles\n");
        }
        for b in &self.bundles {
            let _ = writeln!(
                s,
                "{}  {}  {}",
                b.created_at.as_deref().unwrap_or(""),
                b.id,
                b.reason.as_deref().unwrap_or("")
            );
        }
        out.write_all(s.as_bytes())
    }

    sorted_json!();
}

impl Render for crate::control::publish::SyncReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut s = format!(
            "staging repo {}{}\n",
            self.selection.staging_repo_dir,
            if self.created_staging_dir {
                " (created)"
            } else {
                ""
            }
        );
        for e in &self.entries {
            let _ = writeln!(s, "  {:<16} {} ({} file(s))", e.action, e.path, e.files);
        }
        for w in &self.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        out.write_all(s.as_bytes())
    }

    sorted_json!();
}

impl Render for crate::control::publish::Preflight {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut s = self.status.clone();
        if let Some(r) = &self.skip_reason {
            let _ = write!(s, " ({r})");
        }
        let _ = writeln!(
            s,
            "\nbranch {}; origin {}; {} changed path(s)",
            self.branch.as_deref().unwrap_or("(detached or none)"),
            if self.origin_configured {
                "configured"
            } else {
                "missing"
            },
            self.changed_paths.len()
        );
        if let Some(url) = &self.origin_push_url {
            let _ = writeln!(s, "push goes to {url}");
        }
        if self.repo_hooks_run {
            s.push_str(
                "the staging repository's own hooks will run ([publish] run_repo_hooks = true)\n",
            );
        }
        out.write_all(s.as_bytes())
    }

    sorted_json!();
}

impl Render for crate::control::publish::CommitReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut s = format!("{}\n", self.marker);
        if let Some(sha) = &self.commit_sha {
            let _ = writeln!(s, "commit {sha}");
        }
        out.write_all(s.as_bytes())
    }

    sorted_json!();
}

#[cfg(test)]
mod tests {
    #[test]
    fn payload_values_print_as_v020_printed_them() {
        let v = serde_json::json!(["a", "it's", true, null, 2, {"k": "v"}]);
        assert_eq!(
            super::python_str(&v),
            r#"['a', "it's", True, None, 2, {'k': 'v'}]"#
        );
    }
}
