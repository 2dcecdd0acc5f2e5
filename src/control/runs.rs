//! Run inspection: `run-provenance`, `plan show --run`, `plan diff`.

use serde::Serialize;
use serde_json::Value;

use crate::compile::plan::{Fingerprint, FrozenPlan};
use crate::store::runs::{RunDir, RunMeta, Transition};

use super::{ControlError, Result, Workspace};

fn open(ws: &Workspace, run_id: &str) -> Result<RunDir> {
    RunDir::open_any(&ws.agents, run_id).ok_or_else(|| ControlError::NotFound {
        message: format!("run provenance not found: {run_id}"),
        hint: Some(format!(
            "runs live under {}/runs/; `millrace status` shows the last one",
            ws.agents.display()
        )),
    })
}

/// The frozen plan a run followed.
pub fn plan(ws: &Workspace, run_id: &str) -> Result<FrozenPlan> {
    let dir = open(ws, run_id)?;
    if dir.format == crate::store::runs::RunFormat::V020 {
        return Err(ControlError::Rejected(format!(
            "run {run_id} was written by Millrace v0.2.0: its frozen plan ({}) is not a millrace plan and cannot be shown or diffed as one; `millrace run-provenance {run_id}` shows what maps",
            ws.relative(&dir.path.join(crate::store::v020::V020_PLAN))
        )));
    }
    dir.plan()
        .map_err(|e| ControlError::record(run_id, "cannot load plan.json")(Box::new(e)))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Provenance {
    pub run_id: String,
    pub run_dir: String,
    pub transition_history_path: String,
    pub run: Option<RunMeta>,
    pub frozen_plan: PlanIdentity,
    pub transitions: Vec<Transition>,
    /// v0.2.0's keys beside ours.
    #[serde(flatten)]
    pub compat: ProvenanceCompat,
}

/// What v0.2.0's `run-provenance --json` also reported. For a v0.2.0 run
/// its own records are given verbatim (`runtime_history`,
/// `compile_snapshot`); for ours the selection its frozen plan made.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ProvenanceCompat {
    /// Always `["frozen_plan"]`: runs route on their frozen plan.
    pub routing_modes: Vec<String>,
    /// The frozen plan's file (`plan.json`; v0.2.0's
    /// `resolved_snapshot.json`).
    pub snapshot_path: String,
    /// A v0.2.0 run's `resolved_snapshot.json`, verbatim.
    pub compile_snapshot: Option<Value>,
    /// A v0.2.0 run's `transition_history.jsonl` records, verbatim.
    pub runtime_history: Option<Vec<Value>>,
    /// What the run's plan selected (a v0.2.0 run's: read from its
    /// `frozen_run_plan.json`).
    pub selection: Option<super::selection::Selection>,
    /// A v0.2.0 run's policy-hook records, counted; null for ours (millrace
    /// records no policy hooks) and for a v0.2.0 run without any.
    pub policy_hooks: Option<super::policy_v020::PolicyHooks>,
    /// A v0.2.0 run's latest policy evaluation, sensitive details redacted.
    pub latest_policy_evidence: Option<super::policy_v020::PolicyEvidence>,
    /// What the current config would select for the next run.
    pub current_preview: Option<super::selection::Selection>,
    pub current_preview_error: Option<String>,
    pub current_preview_explanation: crate::interp::size_report::SelectionExplanation,
    /// Which size of loop the run was compiled with.
    pub selection_explanation: crate::interp::size_report::SelectionExplanation,
    /// Whether the active task would run integration now.
    pub integration_policy: Option<super::status_compat::IntegrationPolicy>,
}

/// The size of loop run `dir` was compiled with: its plan's execution
/// loop (a v0.2.0 run's: its loop's name).
fn frozen_size(
    dir: &RunDir,
    frozen: Option<&FrozenPlan>,
) -> crate::interp::size_report::SelectionExplanation {
    use crate::defs::loop_def::TaskSize;
    let large = match frozen {
        Some(p) => p
            .content
            .planes
            .get(&crate::defs::stage_kind::Plane::Execution)
            .is_some_and(|l| l.size == TaskSize::Large),
        None => dir.meta().is_ok_and(|m| m.loop_id.contains("large")),
    };
    let size = if large { "LARGE" } else { "SMALL" };
    crate::interp::size_report::SelectionExplanation {
        selected_size: size.into(),
        route_decision: if large {
            "selected_large"
        } else {
            "selected_small"
        }
        .into(),
        route_reason: format!("the frozen run was compiled with the {size} execution loop"),
        large_profile_decision: if large {
            "large_loop"
        } else {
            "not_applicable"
        }
        .into(),
        large_profile_reason: None,
    }
}

/// The compat keys of run `dir`: `frozen` is the run's own plan (ours).
fn compat(ws: &Workspace, dir: &RunDir, frozen: Option<&FrozenPlan>) -> ProvenanceCompat {
    let (active, size) =
        super::selection::active_and_size(ws, &crate::store::queue::Queue::new(&ws.agents));
    let current = crate::engine::plan::show(ws, None);
    let v020 = dir.format == crate::store::runs::RunFormat::V020;
    let snapshot = dir.path.join(if v020 {
        "resolved_snapshot.json"
    } else {
        crate::store::runs::PLAN
    });
    let history = v020.then(|| crate::store::v020::records(&dir.path).unwrap_or_default());
    ProvenanceCompat {
        routing_modes: vec!["frozen_plan".into()],
        snapshot_path: ws.relative(&snapshot),
        compile_snapshot: v020
            .then(|| {
                crate::store::safe::read_text_nofollow(&snapshot, crate::store::safe::RECORD_LIMIT)
                    .ok()
            })
            .flatten()
            .and_then(|t| serde_json::from_str(&t).ok()),
        selection: match frozen {
            Some(p) => Some(super::selection::of(ws, p, Some(&dir.id), None)),
            None if v020 => v020_plan(dir).and_then(|p| super::selection_v020::of(&p, &dir.id)),
            None => None,
        },
        policy_hooks: history.as_deref().and_then(super::policy_v020::hooks),
        latest_policy_evidence: history
            .as_deref()
            .and_then(super::policy_v020::latest_evidence),
        runtime_history: history,
        current_preview: current
            .as_ref()
            .ok()
            .map(|p| super::selection::of(ws, p, None, active.as_ref())),
        integration_policy: current
            .as_ref()
            .ok()
            .and_then(|p| super::status_compat::integration_policy(ws, active.as_ref(), &size, p)),
        current_preview_error: current.err().map(|e| e.to_string()),
        current_preview_explanation: crate::interp::size_report::explain(&size),
        selection_explanation: frozen_size(dir, frozen),
    }
}

/// A v0.2.0 run's `frozen_run_plan.json`, parsed.
fn v020_plan(dir: &RunDir) -> Option<Value> {
    let path = dir.path.join(crate::store::v020::V020_PLAN);
    let text =
        crate::store::safe::read_text_nofollow(&path, crate::store::safe::RECORD_LIMIT).ok()?;
    serde_json::from_str(&text).ok()
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PlanIdentity {
    pub plan_id: String,
    pub content_hash: String,
    /// The stored content still hashes to `content_hash`.
    pub verified: bool,
    pub mode_id: String,
    /// What the plan was compiled from; none for a v0.2.0 run.
    pub fingerprint: Option<Fingerprint>,
    /// Who froze the plan: `millrace`, or `v0.2.0` for a run Python
    /// Millrace v0.2.0 left (`frozen_run_plan.json`).
    pub source: String,
}

pub fn provenance(ws: &Workspace, run_id: &str) -> Result<Provenance> {
    let dir = open(ws, run_id)?;
    if dir.format == crate::store::runs::RunFormat::V020 {
        return v020_provenance(ws, &dir);
    }
    let plan_path = dir.path.join(crate::store::runs::PLAN);
    let text = crate::store::safe::read_text(&plan_path, crate::store::safe::RECORD_LIMIT)
        .map_err(ControlError::io(&dir.path))?;
    let plan = FrozenPlan::from_json(&text)
        .map_err(|e| ControlError::record(run_id, "plan.json is not a frozen plan")(e.into()))?;
    let transitions = dir.history().map_err(ControlError::io(&dir.path))?;
    let compat = compat(ws, &dir, Some(&plan));
    Ok(Provenance {
        run_id: run_id.to_string(),
        run_dir: ws.relative(&dir.path),
        transition_history_path: ws.relative(&dir.path.join(crate::store::runs::HISTORY)),
        run: dir.meta().ok(),
        frozen_plan: PlanIdentity {
            verified: plan.verify(),
            plan_id: plan.plan_id,
            content_hash: plan.content_hash,
            mode_id: plan.content.mode.id,
            fingerprint: Some(plan.fingerprint),
            source: "millrace".into(),
        },
        transitions,
        compat,
    })
}

/// A v0.2.0 run's provenance: its records mapped onto ours
/// ([`crate::store::v020`]); its plan hash is checked the way v0.2.0
/// computed it.
fn v020_provenance(ws: &Workspace, dir: &RunDir) -> Result<Provenance> {
    let meta = dir.meta().map_err(ControlError::io(&dir.path))?;
    let transitions = dir.history().map_err(ControlError::io(&dir.path))?;
    Ok(Provenance {
        run_id: dir.id.clone(),
        run_dir: ws.relative(&dir.path),
        transition_history_path: ws.relative(&dir.path.join(crate::store::runs::HISTORY)),
        frozen_plan: PlanIdentity {
            plan_id: meta.plan_id.clone(),
            content_hash: meta.content_hash.clone(),
            verified: crate::store::v020::plan_verifies(&dir.path),
            mode_id: meta.mode_id.clone(),
            fingerprint: None,
            source: "v0.2.0".into(),
        },
        run: Some(meta),
        transitions,
        compat: compat(ws, dir, None),
    })
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PlanDiff {
    pub a: String,
    pub b: String,
    pub a_plan_id: String,
    pub b_plan_id: String,
    pub identical: bool,
    pub changes: Vec<Change>,
    /// Input files whose hash differs (by layer and path).
    pub changed_inputs: Vec<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Change {
    /// Path into the plan content, e.g. `planes.execution.nodes.qa.model`.
    pub path: String,
    pub a: Option<Value>,
    pub b: Option<Value>,
}

/// What differs between the frozen plans of two runs.
pub fn diff(ws: &Workspace, a: &str, b: &str) -> Result<PlanDiff> {
    let (pa, pb) = (plan(ws, a)?, plan(ws, b)?);
    let va = serde_json::to_value(&pa.content).expect("plan serialises");
    let vb = serde_json::to_value(&pb.content).expect("plan serialises");
    let mut changes = Vec::new();
    diff_values("", &va, &vb, &mut changes);
    let inputs = |p: &FrozenPlan| {
        p.fingerprint
            .inputs
            .iter()
            .map(|i| (format!("{}:{}", i.layer.as_str(), i.path), i.sha256.clone()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (ia, ib) = (inputs(&pa), inputs(&pb));
    let mut changed_inputs: Vec<String> = ia
        .keys()
        .chain(ib.keys())
        .filter(|k| ia.get(*k) != ib.get(*k))
        .cloned()
        .collect();
    changed_inputs.sort();
    changed_inputs.dedup();
    if pa.fingerprint.config_hash != pb.fingerprint.config_hash {
        changed_inputs.insert(0, "config (millrace.toml)".into());
    }
    Ok(PlanDiff {
        a: a.to_string(),
        b: b.to_string(),
        identical: pa.content_hash == pb.content_hash,
        a_plan_id: pa.plan_id,
        b_plan_id: pb.plan_id,
        changes,
        changed_inputs,
    })
}

fn diff_values(path: &str, a: &Value, b: &Value, out: &mut Vec<Change>) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => {
            let keys: std::collections::BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
            for k in keys {
                match (ma.get(k), mb.get(k)) {
                    (Some(x), Some(y)) => diff_values(&join(k), x, y, out),
                    (x, y) => out.push(Change {
                        path: join(k),
                        a: x.cloned(),
                        b: y.cloned(),
                    }),
                }
            }
        }
        (Value::Array(xa), Value::Array(xb)) if xa.len() == xb.len() => {
            for (i, (x, y)) in xa.iter().zip(xb).enumerate() {
                diff_values(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ if a != b => out.push(Change {
            path: path.to_string(),
            a: Some(a.clone()),
            b: Some(b.clone()),
        }),
        _ => {}
    }
}

/// One run as a list shows it: what it ran, how it ended, what it spent.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RunSummary {
    pub meta: RunMeta,
    /// Wall time from start to finish; none while running.
    pub duration_seconds: Option<f64>,
    pub spend: crate::store::ledger::Spend,
}

impl RunSummary {
    pub fn finished(&self) -> bool {
        self.meta.finished_at.is_some()
    }
}

fn seconds_between(a: &str, b: &str) -> Option<f64> {
    let (a, b) = (
        a.parse::<jiff::Timestamp>().ok()?,
        b.parse::<jiff::Timestamp>().ok()?,
    );
    Some(b.duration_since(a).as_secs_f64())
}

/// Run `run_id` summarised; none when it has no readable `run.json`.
pub fn summary(ws: &Workspace, run_id: &str) -> Option<RunSummary> {
    let meta = RunDir::open_any(&ws.agents, run_id)?.meta().ok()?;
    let mut spend = crate::store::ledger::Spend::default();
    for e in crate::store::ledger::run_entries(&ws.agents, run_id, &ws.config.prices) {
        spend.merge(&e.spend);
    }
    Some(RunSummary {
        duration_seconds: meta
            .finished_at
            .as_deref()
            .and_then(|f| seconds_between(&meta.started_at, f)),
        meta,
        spend,
    })
}

/// The ids of the newest `limit` runs, newest first.
pub fn recent_ids(ws: &Workspace, limit: usize) -> Vec<String> {
    let mut ids = crate::store::runs::list(&ws.agents).unwrap_or_default();
    ids.truncate(limit);
    ids
}
