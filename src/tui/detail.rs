//! The run-detail view's lines: a pure function of the run's provenance as
//! the snapshot loaded it (no [`App`](super::app::App)), so that the app can
//! bound its scrolling by them and the view draw them.

use ratatui::text::Line;

use crate::control::runs::Provenance;

/// Lines of plain text.
pub(super) fn plain(lines: Vec<String>) -> Vec<Line<'static>> {
    lines.into_iter().map(Line::from).collect()
}

/// The run-detail view: what the run was, the plan it followed, and each
/// transition with its stage result.
pub fn detail(detail: &Option<Result<Provenance, String>>) -> Vec<Line<'static>> {
    let p = match detail {
        None => return plain(vec!["loading…".into()]),
        Some(Err(e)) => return plain(vec![e.clone()]),
        Some(Ok(p)) => p,
    };
    let mut out = Vec::new();
    if let Some(m) = &p.run {
        out.push(format!(
            "{} {} loop `{}`: {}{}",
            m.plane.as_str(),
            m.task_title.as_deref().unwrap_or("(no task)"),
            m.loop_id,
            m.state,
            m.terminal_class
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default()
        ));
        out.push(format!(
            "started {}  finished {}",
            m.started_at,
            m.finished_at.as_deref().unwrap_or("-")
        ));
        if let Some(g) = &m.git {
            out.extend(g.lines());
        }
    }
    let f = &p.frozen_plan;
    out.push(format!(
        "plan {} mode {} hash {} ({})",
        f.plan_id,
        f.mode_id,
        f.content_hash.get(..12).unwrap_or(&f.content_hash),
        if f.verified { "verified" } else { "CHANGED" }
    ));
    out.push(format!("run dir: {}", p.run_dir));
    for t in &p.transitions {
        use crate::store::runs::TransitionEvent as E;
        let node = t.node.as_deref().unwrap_or("-");
        let line = match t.event {
            E::StageFinished | E::StageFaulted => {
                let usage = t
                    .usage
                    .as_ref()
                    .map(|u| format!(" {}tok", u.input + u.output))
                    .unwrap_or_default();
                format!(
                    "{:>3} {node}#{} → {} [{}] {:.1}s{usage}{}",
                    t.seq,
                    t.attempt.unwrap_or(0),
                    t.outcome
                        .as_ref()
                        .map_or("-".to_string(), |o| o.to_string()),
                    t.class.map_or("-".to_string(), |c| c.to_string()),
                    t.duration_ms.unwrap_or(0.0) / 1000.0,
                    t.failure
                        .as_deref()
                        .map(|f| format!(" ({f})"))
                        .unwrap_or_default()
                )
            }
            E::StageStarted => format!(
                "{:>3} {node}#{} started ({})",
                t.seq,
                t.attempt.unwrap_or(0),
                t.bound.as_ref().map_or("-", |b| b.runner.as_str())
            ),
            other => format!(
                "{:>3} {other}{}",
                t.seq,
                t.next
                    .as_ref()
                    .map(|n| format!(" → {}", n.id()))
                    .unwrap_or_default()
            ),
        };
        out.push(line);
        if !t.artifacts.is_empty() {
            // Named inside the run directory, which the header gives.
            let names: Vec<&str> = t
                .artifacts
                .iter()
                .map(|a| a.rsplit('/').next().unwrap_or(a))
                .collect();
            out.push(format!("      {}", names.join(", ")));
        }
    }
    plain(out)
}
