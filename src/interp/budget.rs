//! Budgets: before each stage starts, what the run, its task, the UTC day
//! and the stage kind have spent (from the transition histories, see
//! [`crate::store::ledger`]) plus what the next attempt may cost is held
//! against `[budget]` of the live config. At a cap the run pauses at that
//! stage boundary (`run.paused`, nothing routed, nothing lost); with the
//! cap raised the next start continues the same run at the same node.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use crate::defs::config::{Caps, Price};
use crate::defs::marker::Marker;
use crate::defs::records::usd;
use crate::store::cards::{file_slug, MAX_FILE_SLUG};
use crate::store::events::PlaneEvent;
use crate::store::ledger::{self, Spend};
use crate::store::runs::{Transition, TransitionEvent};

use super::driver::{Driver, StatusMode};
use super::progress::Accounts;
use super::InterpError;

/// The status of a plane paused by a budget cap.
pub const BUDGET_PAUSED: &str = "BUDGET_PAUSED";

/// Why a run paused before a stage.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct BudgetStop {
    pub run_id: String,
    /// The node the run waits at.
    pub node: String,
    /// The cap, as its config key (`budget.task.usd`).
    pub cap: String,
    pub limit: f64,
    pub spent: f64,
    /// What the next attempt may add: the largest attempt of the run so far
    /// (1 for invocations).
    pub next: f64,
    pub message: String,
}

impl std::fmt::Display for BudgetStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "run {} paused before `{}`: {}",
            self.run_id, self.node, self.message
        )
    }
}

impl Driver<'_> {
    /// Counts a recorded attempt, once the accounts exist.
    pub(super) fn account(&mut self, t: &Transition) {
        if !ledger::is_attempt(t) {
            return;
        }
        let prices = self.rt.config.prices.clone();
        if let Some(a) = self.accounts.as_mut() {
            a.add(
                t.stage_kind.as_deref().unwrap_or(""),
                &Spend::of(t, &prices),
            );
        }
    }

    /// The accounts, read from the histories the first time a cap is
    /// checked (never when no budget is set).
    fn accounts(&mut self) -> &Accounts {
        if self.accounts.is_none() {
            let prices: BTreeMap<String, Price> = self.rt.config.prices.clone();
            let mut a = Accounts::default();
            for e in ledger::run_entries(&self.rt.agents, &self.dir.id, &prices) {
                a.add(&e.stage_kind, &e.spend);
            }
            let own = self.dir.id.clone();
            let budget = &self.rt.config.budget;
            if let (Some(task), Some(_)) = (&self.meta.task_id, &budget.task) {
                let suffix = format!("__{}", file_slug(task, MAX_FILE_SLUG));
                for e in ledger::entries(&self.rt.agents, None, &prices, |id| {
                    id != own && id.ends_with(&suffix)
                }) {
                    a.task_prior.merge(&e.spend);
                }
            }
            if budget.day.is_some() {
                let today = crate::defs::clock::now_iso()
                    .chars()
                    .take(10)
                    .collect::<String>();
                a.day_prior = ledger::day_spend(&self.rt.agents, &today, &own, &prices);
            }
            self.accounts = Some(a);
        }
        self.accounts.as_ref().expect("just set")
    }

    /// The first cap the next attempt of `node_id` could pass, if any.
    pub(super) fn budget_stop(&mut self, node_id: &str) -> Option<BudgetStop> {
        if let Some(stop) = self.usage_policy_stop(node_id) {
            return Some(stop);
        }
        let budget = self.rt.config.budget.clone();
        if budget.is_empty() {
            return None;
        }
        let kind = self
            .lp()
            .nodes
            .get(node_id)
            .map(|n| n.stage_kind.clone())
            .unwrap_or_default();
        let run_id = self.dir.id.clone();
        let has_task = self.meta.task_id.is_some();
        let a = self.accounts();
        let mut task = a.run;
        task.merge(&a.task_prior);
        let mut day = a.run;
        day.merge(&a.day_prior);
        let kind_spent = a.by_kind.get(&kind).copied().unwrap_or_default();
        let scopes: Vec<(String, Option<&Caps>, Spend)> = vec![
            ("budget.run".into(), budget.run.as_ref(), a.run),
            (
                "budget.task".into(),
                budget.task.as_ref().filter(|_| has_task),
                task,
            ),
            ("budget.day".into(), budget.day.as_ref(), day),
            (
                format!("budget.stage.{kind}"),
                budget.stage.get(&kind),
                kind_spent,
            ),
        ];
        let largest = a.largest;
        scopes.into_iter().find_map(|(scope, caps, spent)| {
            cap_stop(&scope, caps?, &spent, &largest, node_id, &run_id)
        })
    }

    /// v0.2.0's usage policy (`[policies.usage]`, spec §10.1) on the same
    /// pause: with `enabled`, a sampled usage figure (provider `env`: the
    /// first of `USAGE_SAMPLER_ORCH_CURRENT`, `ORCH_WEEKLY_USAGE_CURRENT`,
    /// `WEEKLY_USAGE_CURRENT`; `command`: the number `orch_command` prints)
    /// held against `execution.remaining_threshold` (pause at or below) or
    /// `consumed_threshold` (pause at or above). No sample: continue.
    fn usage_policy_stop(&self, node_id: &str) -> Option<BudgetStop> {
        let usage = self.rt.config.policies.as_ref()?.get("usage")?;
        if usage.get("enabled")? != &serde_json::Value::Bool(true)
            || self.plane() != crate::defs::stage_kind::Plane::Execution
        {
            return None;
        }
        let t = usage.get("execution")?;
        let num = |k: &str| {
            t.get(k)
                .and_then(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()))
        };
        let (key, limit, remaining) = match (
            num("remaining_threshold"),
            num("consumed_threshold"),
            num("legacy_threshold"),
        ) {
            (Some(r), _, _) => ("remaining_threshold", r, true),
            (None, Some(c), _) => ("consumed_threshold", c, false),
            (None, None, Some(l)) => ("legacy_threshold", l, true),
            _ => return None,
        };
        let sample: f64 = match usage
            .get("provider")
            .and_then(|p| p.as_str())
            .unwrap_or("codex")
        {
            "env" => [
                "USAGE_SAMPLER_ORCH_CURRENT",
                "ORCH_WEEKLY_USAGE_CURRENT",
                "WEEKLY_USAGE_CURRENT",
            ]
            .iter()
            .find_map(|k| std::env::var(k).ok()?.trim().parse().ok())?,
            "command" => {
                let cmd = usage.get("orch_command")?.as_str()?;
                let out = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(cmd)
                    .output()
                    .ok()?;
                String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .find_map(|w| w.parse().ok())?
            }
            // The codex app-server sampler is not implemented (`health` says so).
            _ => return None,
        };
        let stop = if remaining {
            sample <= limit
        } else {
            sample >= limit
        };
        stop.then(|| BudgetStop {
            run_id: self.dir.id.clone(),
            node: node_id.to_string(),
            cap: format!("policies.usage.execution.{key}"),
            limit,
            spent: sample,
            next: 0.0,
            message: format!(
                "policies.usage.execution.{key}: usage sample {sample} is {} the threshold {limit} (usage_budget_threshold); raise the threshold or wait for the quota, then start again",
                if remaining { "at or below" } else { "at or above" }
            ),
        })
    }

    /// Records the pause (replay ignores it: the run resumes at the node),
    /// sets BUDGET_PAUSED and reports it.
    pub(super) fn budget_paused(&mut self, stop: BudgetStop) -> InterpError {
        let recorded = self.record(Transition {
            node: Some(stop.node.clone()),
            failure: Some(stop.message.clone()),
            route_reason: Some(format!("budget cap {} reached", stop.cap)),
            ..self.transition(TransitionEvent::RunPaused)
        });
        if let Err(e) = recorded {
            return e;
        }
        let ctx =
            json!({"run_id": self.dir.id, "node_id": stop.node, "task_id": self.meta.task_id});
        if let Err(e) = self.set_status(&Marker::from_plan(BUDGET_PAUSED), StatusMode::Raw, &ctx) {
            return e;
        }
        self.emit(
            PlaneEvent::BudgetExhausted,
            json!({"run_id": self.dir.id, "node_id": stop.node, "cap": stop.cap, "limit": stop.limit, "spent": stop.spent, "next": stop.next, "message": stop.message}),
        );
        InterpError::Budget(Box::new(stop))
    }
}

/// `[budget] admission`: the worst case of a fresh run of `lp` for `task`
/// against what `[budget.task]` leaves. `Err` refuses the run (with
/// `admission = "worst_case"`); a warning is an event and the run starts.
pub(super) fn admit(
    rt: &super::Runtime,
    lp: &crate::compile::plan::LoopPlan,
    task: &crate::store::cards::Card,
) -> Result<(), InterpError> {
    use crate::defs::config::Admission;
    let budget = &rt.config.budget;
    let Some(cap) = budget.task.as_ref().and_then(|c| c.usd) else {
        return Ok(());
    };
    let worst = crate::compile::cost::worst_case(lp, &rt.config, lp.max_stage_runs);
    let suffix = format!("__{}", file_slug(&task.id, MAX_FILE_SLUG));
    let mut spent = Spend::default();
    for e in ledger::entries(&rt.agents, None, &rt.config.prices, |id| {
        id.ends_with(&suffix)
    }) {
        spent.merge(&e.spend);
    }
    let left = cap - spent.usd;
    let fits = worst.usd.is_some_and(|w| w <= left + 1e-9);
    if fits {
        return Ok(());
    }
    let why = match worst.usd {
        Some(w) => format!("its worst case is {} ({} stages × {}), {} of budget.task.usd is left", usd(w), worst.stage_runs, usd(worst.max_stage_usd.unwrap_or(0.0)), usd(left)),
        None => format!("its worst case is unbounded (no max_usd_per_stage for the runners of {}), {} of budget.task.usd is left", worst.uncapped_nodes.join(", "), usd(left)),
    };
    let payload = json!({"task_id": task.id, "loop_id": lp.loop_id, "worst_case_usd": worst.usd, "left_usd": left, "admission": budget.admission});
    rt.event(
        crate::store::events::EventKind::Plane(lp.plane, PlaneEvent::BudgetAdmission),
        payload,
    );
    if budget.admission == Admission::Warn {
        tracing::info!(task = %task.id, "{why}; starting anyway ([budget] admission = \"warn\")");
        return Ok(());
    }
    let entry = lp.entries.get("task").cloned().unwrap_or_default();
    Err(InterpError::Budget(Box::new(BudgetStop {
        run_id: String::new(),
        node: entry,
        cap: "budget.task.usd".into(),
        limit: cap,
        spent: spent.usd,
        next: worst.usd.unwrap_or(f64::INFINITY),
        message: format!(
            "task `{}` not started: {why} ([budget] admission = \"worst_case\")",
            task.id
        ),
    })))
}

/// A USD or token cap on `scope` when an attempt in it reported invalid
/// usage: the spend is unknown, so the cap cannot be shown to hold and the
/// run pauses rather than runs on.
fn invalid_stop(
    scope: &str,
    caps: &Caps,
    spent: &Spend,
    node_id: &str,
    run_id: &str,
) -> Option<BudgetStop> {
    if spent.invalid == 0 {
        return None;
    }
    let (metric, limit) = [("usd", caps.usd), ("tokens", caps.tokens.map(|t| t as f64))]
        .into_iter()
        .find_map(|(m, l)| l.map(|l| (m, l)))?;
    let (used, shown) = match metric {
        "usd" => (spent.usd, usd(limit)),
        _ => (spent.tokens as f64, format!("{limit:.0}")),
    };
    Some(BudgetStop {
        run_id: run_id.to_string(),
        node: node_id.to_string(),
        cap: format!("{scope}.{metric}"),
        limit,
        spent: used,
        next: 0.0,
        message: format!(
            "{scope}.{metric}: {} attempt(s) reported invalid usage (see the run's transitions), so what was spent is unknown and the cap {shown} cannot be shown to hold; check the runner, and to run on without this cap remove `{metric}` from `[{scope}]` in millrace.toml and start again, the run continues at `{node_id}`",
            spent.invalid
        ),
    })
}

/// The first of `caps` on `scope` that the next attempt of `node_id`
/// could pass, given what the scope `spent` and the largest attempt so far.
fn cap_stop(
    scope: &str,
    caps: &Caps,
    spent: &Spend,
    largest: &Spend,
    node_id: &str,
    run_id: &str,
) -> Option<BudgetStop> {
    if let Some(stop) = invalid_stop(scope, caps, spent, node_id, run_id) {
        return Some(stop);
    }
    let checks = [
        ("usd", caps.usd, spent.usd, largest.usd),
        (
            "tokens",
            caps.tokens.map(|t| t as f64),
            spent.tokens as f64,
            largest.tokens as f64,
        ),
        (
            "invocations",
            caps.invocations.map(|i| i as f64),
            spent.invocations as f64,
            1.0,
        ),
        (
            "wall_seconds",
            caps.wall_seconds.map(|w| w as f64),
            spent.wall_ms / 1000.0,
            largest.wall_ms / 1000.0,
        ),
    ];
    for (metric, limit, used, next) in checks {
        let Some(limit) = limit else { continue };

        // A little slack for float sums of dollars.
        if used + next > limit + 1e-9 {
            let show = |v: f64| {
                if metric == "usd" {
                    usd(v)
                } else {
                    format!("{v:.0}")
                }
            };
            let unknown = if metric == "usd" && spent.unpriced > 0 {
                format!(
                    " ({} attempt(s) of unknown cost not included: set [prices] for their models)",
                    spent.unpriced
                )
            } else {
                String::new()
            };
            let message = format!(
                "{scope}.{metric}: spent {}{unknown}, the next attempt may add {} (the largest so far), cap {}; raise it (`millrace config set {scope}.{metric} …`) and start again, the run continues at `{node_id}`",
                show(used),
                show(next),
                show(limit)
            );
            return Some(BudgetStop {
                run_id: run_id.to_string(),
                node: node_id.to_string(),
                cap: format!("{scope}.{metric}"),
                limit,
                spent: used,
                next,
                message,
            });
        }
    }
    None
}
