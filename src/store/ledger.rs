//! The usage ledger: what every stage attempt spent, read from the runs'
//! transition histories. Usage is part of each fsynced `stage.finished`
//! (or `stage.faulted`) record, so the ledger is exactly the sum of the
//! histories: it survives `kill -9` by construction and is never counted
//! twice.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::defs::config::Price;
use crate::defs::records::Usage;

use super::runs::{self, RunDir, Transition, TransitionEvent};

/// What some stage attempts spent together.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Spend {
    /// Reported by the runner, else computed from `[prices]`; attempts with
    /// neither add nothing (see `unpriced`).
    pub usd: f64,
    /// Input plus output tokens.
    pub tokens: u64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    /// Stage attempts (agent invocations).
    pub invocations: u64,
    pub wall_ms: f64,
    /// Attempts that reported tokens but no cost, with no price for their
    /// model, or whose usage is unknown: their USD is not in `usd`.
    pub unpriced: u64,
    /// Attempts cut off (timeout, stall, stop) before their CLI reported
    /// the whole call: their figures are what the events showed, a floor.
    #[serde(default)]
    pub partial: u64,
    /// Attempts whose runner reported usage that was refused as invalid
    /// (negative, not a number, absurd): their spend is unknown, and a cap
    /// on USD or tokens cannot be shown to hold.
    #[serde(default)]
    pub invalid: u64,
}

impl Spend {
    /// Adds one attempt.
    pub fn add(
        &mut self,
        usage: Option<&Usage>,
        model: Option<&str>,
        wall_ms: f64,
        prices: &BTreeMap<String, Price>,
    ) {
        self.invocations = self.invocations.saturating_add(1);
        self.wall_ms += finite(wall_ms);
        let Some(u) = usage else { return };
        self.partial = self.partial.saturating_add(u64::from(u.partial));
        if u.invalid.is_some() {
            self.unpriced = self.unpriced.saturating_add(1);
            self.invalid = self.invalid.saturating_add(1);
            return;
        }
        self.input_tokens = self.input_tokens.saturating_add(u.input);
        self.cached_input_tokens = self.cached_input_tokens.saturating_add(u.cached_input);
        self.output_tokens = self.output_tokens.saturating_add(u.output);
        self.reasoning_tokens = self.reasoning_tokens.saturating_add(u.reasoning_output);
        let tokens = u.input.saturating_add(u.output);
        self.tokens = self.tokens.saturating_add(tokens);
        match (u.cost_usd, model.and_then(|m| prices.get(m))) {
            (Some(c), _) => self.usd += finite(c),
            (None, Some(p)) => self.usd += finite(p.cost(u)),
            (None, None) if tokens > 0 || u.partial => self.unpriced += 1,
            _ => {}
        }
    }

    pub fn merge(&mut self, o: &Spend) {
        self.usd += finite(o.usd);
        self.tokens = self.tokens.saturating_add(o.tokens);
        self.input_tokens = self.input_tokens.saturating_add(o.input_tokens);
        self.cached_input_tokens = self
            .cached_input_tokens
            .saturating_add(o.cached_input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(o.output_tokens);
        self.reasoning_tokens = self.reasoning_tokens.saturating_add(o.reasoning_tokens);
        self.invocations = self.invocations.saturating_add(o.invocations);
        self.wall_ms += finite(o.wall_ms);
        self.unpriced = self.unpriced.saturating_add(o.unpriced);
        self.partial = self.partial.saturating_add(o.partial);
        self.invalid = self.invalid.saturating_add(o.invalid);
    }

    /// One attempt's spend.
    pub fn of(t: &Transition, prices: &BTreeMap<String, Price>) -> Spend {
        let mut s = Spend::default();
        let model = t.bound.as_ref().and_then(|b| b.model.as_deref());
        s.add(
            t.usage.as_ref(),
            model,
            t.duration_ms.unwrap_or(0.0),
            prices,
        );
        s
    }
}

/// A non-negative finite figure (a hand-edited record's `-1e308` or NaN
/// never credits a sum); anything else is 0.
fn finite(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 {
        v
    } else {
        0.0
    }
}

/// Whether a transition record is a stage attempt that spent: a finished
/// or faulted one, or one a stop cut off (its `run.interrupted` record
/// carries the attempt's bound parameters).
pub fn is_attempt(t: &Transition) -> bool {
    match t.event {
        TransitionEvent::StageFinished | TransitionEvent::StageFaulted => true,
        TransitionEvent::RunInterrupted => t.bound.is_some(),
        _ => false,
    }
}

/// One stage attempt, as the ledger lists it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Entry {
    pub run_id: String,
    pub task_id: Option<String>,
    pub node: String,
    pub stage_kind: String,
    pub runner: String,
    pub model: Option<String>,
    /// `YYYY-MM-DD` (UTC) the attempt ended.
    pub day: String,
    pub timestamp: String,
    pub spend: Spend,
}

/// Every stage attempt of run `run_id`.
pub fn run_entries(agents: &Path, run_id: &str, prices: &BTreeMap<String, Price>) -> Vec<Entry> {
    let Some(dir) = RunDir::open_any(agents, run_id) else {
        return Vec::new();
    };
    let task_id = dir.meta().ok().and_then(|m| m.task_id);
    dir.history()
        .unwrap_or_default()
        .iter()
        .filter(|t| is_attempt(t))
        .map(|t| Entry {
            run_id: run_id.to_string(),
            task_id: task_id.clone(),
            node: t.node.clone().unwrap_or_default(),
            stage_kind: t.stage_kind.clone().unwrap_or_default(),
            runner: t
                .bound
                .as_ref()
                .map(|b| b.runner.clone())
                .unwrap_or_default(),
            model: t.bound.as_ref().and_then(|b| b.model.clone()),
            day: t.timestamp.chars().take(10).collect(),
            timestamp: t.timestamp.clone(),
            spend: Spend::of(t, prices),
        })
        .collect()
}

/// The UTC date (`YYYY-MM-DD`) a run id's stamp names.
fn run_day(run_id: &str) -> Option<String> {
    let d = run_id.get(..8)?;
    d.chars()
        .all(|c| c.is_ascii_digit())
        .then(|| format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..8]))
}

/// Every stage attempt of runs started on or after `since` (`YYYY-MM-DD`;
/// all runs when `None`), oldest run first, filtered by `keep_run`.
pub fn entries(
    agents: &Path,
    since: Option<&str>,
    prices: &BTreeMap<String, Price>,
    keep_run: impl Fn(&str) -> bool,
) -> Vec<Entry> {
    let mut ids = runs::list(agents).unwrap_or_default();
    ids.reverse();
    ids.into_iter()
        .filter(|id| match (since, run_day(id)) {
            (Some(s), Some(d)) => d.as_str() >= s,
            _ => true,
        })
        .filter(|id| keep_run(id))
        .flat_map(|id| run_entries(agents, &id, prices))
        .filter(|e| since.is_none_or(|s| e.day.as_str() >= s))
        .collect()
}

/// `.runtime/spend_day.json`: what each finished run spent on one UTC day.
/// Derived from the histories (a finished run's never change), so a lost or
/// stale index only costs a recount.
#[derive(Debug, Default, Serialize, serde::Deserialize)]
struct DayIndex {
    day: String,
    runs: BTreeMap<String, Spend>,
}

/// What every run but `own` spent on `day` (`YYYY-MM-DD`): finished runs
/// from the day index, the others (and finished ones it lacks) from their
/// histories, which then join the index. Constant work per run already
/// indexed, instead of a read of every history of the day.
pub fn day_spend(agents: &Path, day: &str, own: &str, prices: &BTreeMap<String, Price>) -> Spend {
    let path = crate::defs::layout::Layout::of(agents)
        .runtime_dir()
        .join("spend_day.json");
    let mut index: DayIndex = super::safe::read_text(&path, 64 << 20)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .filter(|i: &DayIndex| i.day == day)
        .unwrap_or_else(|| DayIndex {
            day: day.to_string(),
            runs: BTreeMap::new(),
        });
    let since = day_before(day);
    let mut total = Spend::default();
    let mut changed = false;
    for id in runs::list(agents).unwrap_or_default() {
        if id == own || run_day(&id).is_some_and(|d| d.as_str() < since.as_str()) {
            continue;
        }
        if let Some(s) = index.runs.get(&id) {
            total.merge(s);
            continue;
        }
        let mut s = Spend::default();
        for e in run_entries(agents, &id, prices)
            .into_iter()
            .filter(|e| e.day == day)
        {
            s.merge(&e.spend);
        }
        total.merge(&s);
        let finished = RunDir::open_any(agents, &id)
            .and_then(|d| d.meta().ok())
            .is_some_and(|m| m.finished_at.is_some());
        if finished {
            index.runs.insert(id, s);
            changed = true;
        }
    }
    if changed {
        let text = serde_json::to_string(&index).expect("index serialises");
        if let Err(e) = super::atomic::write_volatile(&path, text.as_bytes()) {
            tracing::debug!("cannot write {}: {e}", path.display());
        }
    }
    total
}

/// The UTC day before `day` (`YYYY-MM-DD`), for scanning runs that may
/// have spent on `day` after starting the day before.
pub fn day_before(day: &str) -> String {
    day.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.yesterday().ok())
        .map_or_else(|| day.to_string(), |d| d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_comes_from_the_runner_else_the_price_table() {
        let prices: BTreeMap<String, Price> = [(
            "m".to_string(),
            Price {
                input_per_mtok: 2.0,
                cached_input_per_mtok: Some(1.0),
                output_per_mtok: 10.0,
            },
        )]
        .into_iter()
        .collect();
        let u = Usage {
            input: 1_000_000,
            cached_input: 500_000,
            output: 100_000,
            ..Usage::default()
        };
        let mut s = Spend::default();
        s.add(Some(&u), Some("m"), 10.0, &prices);
        assert!((s.usd - (1.0 + 0.5 + 1.0)).abs() < 1e-9, "{}", s.usd);
        s.add(
            Some(&Usage {
                cost_usd: Some(0.2),
                ..u.clone()
            }),
            Some("m"),
            5.0,
            &prices,
        );
        assert!((s.usd - 2.7).abs() < 1e-9);
        s.add(Some(&u), Some("unknown"), 0.0, &prices);
        assert_eq!((s.invocations, s.unpriced, s.tokens), (3, 1, 3_300_000));
        assert_eq!(
            run_day("20261124T141350479237Z__x").as_deref(),
            Some("2026-11-24")
        );
        assert_eq!(day_before("2026-03-01"), "2026-02-28");
    }
}
