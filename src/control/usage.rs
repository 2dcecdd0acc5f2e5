//! `usage`: the usage ledger summed by task, run, stage kind, runner or UTC
//! day. The ledger is the stage records of the runs' transition histories
//! (see [`crate::store::ledger`]).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::ledger::{self, Spend};

use super::{ControlError, Result, Workspace};

/// What `usage` groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum By {
    Task,
    Run,
    Stage,
    Runner,
    Day,
}

/// `usage --json`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct UsageReport {
    pub by: By,
    /// The first UTC day counted (`YYYY-MM-DD`), if limited.
    pub since: Option<String>,
    pub total: Spend,
    /// One row per group, in key order (days and runs: oldest first).
    pub rows: Vec<UsageRow>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct UsageRow {
    /// The task id, run id, stage kind, runner or day.
    pub key: String,
    pub spend: Spend,
    /// By task or run: the commits that hold the work (`[git] commit`),
    /// oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<String>,
}

/// The commits runs `ids` recorded, in run order.
fn commits_of(ws: &Workspace, ids: &std::collections::BTreeSet<String>) -> Vec<String> {
    ids.iter()
        .filter_map(|id| crate::store::runs::RunDir::open_any(&ws.agents, id))
        .filter_map(|d| d.meta().ok()?.git)
        .flat_map(|g| g.commits)
        .collect()
}

/// `since`: `YYYY-MM-DD`, `today`, or `<N>d` (the last N days).
fn since_day(since: &str) -> Result<String> {
    let today = crate::defs::clock::today();
    let bad = || {
        ControlError::Usage(format!(
            "--since takes YYYY-MM-DD, `today` or `<N>d` (e.g. `7d`), not `{since}`"
        ))
    };
    if since == "today" {
        return Ok(today.to_string());
    }
    if let Some(n) = since.strip_suffix('d') {
        let n: i64 = n.parse().map_err(|_| bad())?;
        if !(1..=3650).contains(&n) {
            return Err(bad());
        }
        let day = today
            .checked_sub(jiff::Span::new().days(n - 1))
            .map_err(|_| bad())?;
        return Ok(day.to_string());
    }
    since.parse::<jiff::civil::Date>().map_err(|_| bad())?;
    Ok(since.to_string())
}

pub fn usage(ws: &Workspace, by: By, since: Option<&str>) -> Result<UsageReport> {
    let since = since.map(since_day).transpose()?;
    let entries = ledger::entries(&ws.agents, since.as_deref(), &ws.config.prices, |_| true);
    let mut total = Spend::default();
    let mut groups: BTreeMap<String, Spend> = BTreeMap::new();
    let mut runs: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for e in entries {
        total.merge(&e.spend);
        let key = match by {
            By::Task => e.task_id.clone().unwrap_or_else(|| "(research)".into()),
            By::Run => e.run_id.clone(),
            By::Stage => e.stage_kind.clone(),
            By::Runner => e.runner.clone(),
            By::Day => e.day.clone(),
        };
        if matches!(by, By::Task | By::Run) {
            runs.entry(key.clone())
                .or_default()
                .insert(e.run_id.clone());
        }
        groups.entry(key).or_default().merge(&e.spend);
    }
    Ok(UsageReport {
        by,
        since,
        total,
        rows: groups
            .into_iter()
            .map(|(key, spend)| UsageRow {
                commits: runs
                    .get(&key)
                    .map(|r| commits_of(ws, r))
                    .unwrap_or_default(),
                key,
                spend,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_read_against_the_pinned_utc_day() {
        let _pin = crate::defs::clock::pin("2040-03-01T00:30:00Z".parse().unwrap());
        assert_eq!(since_day("today").unwrap(), "2040-03-01");
        assert_eq!(since_day("1d").unwrap(), "2040-03-01");
        // 2040 is a leap year.
        assert_eq!(since_day("2d").unwrap(), "2040-02-29");
        assert_eq!(since_day("2039-12-31").unwrap(), "2039-12-31");
        for bad in ["0d", "3651d", "yesterday", "2040-02-30", "7"] {
            let e = since_day(bad).unwrap_err();
            assert_eq!(e.kind(), crate::control::ErrorKind::Usage, "{bad}");
            assert!(e.to_string().contains(bad), "{e}");
        }
    }
}
