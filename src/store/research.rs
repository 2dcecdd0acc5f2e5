//! The research plane's files: the work items each family takes in (ideas,
//! incidents, audit requests), the audit record (`audit_summary.json`,
//! `audit_history.md`, `reports/completion_decision.json`), and the one
//! journaled transaction that applies a research run's terminal effects
//! exactly once.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::defs::layout::{self, Layout, StopMarker, TaskStore};
use crate::defs::research::{AuditVerdict, ResearchFamily};

pub use super::audit_summary::{
    archive_bytes, audit_summary, AuditCounts, AuditOutcome, AuditSummary,
};
use super::audit_summary::{next_summary, Audited};
use super::cards::{slug, Card, StoreFile};
use super::journal::FileWrite;
use super::queue::{Queue, QueueError, Result};

const BACKLOG: &str = TaskStore::Backlog.file_name();
const BACKBURNER: &str = TaskStore::Backburner.file_name();

/// The largest idea, incident or audit request read.
pub const ITEM_LIMIT: u64 = 1 << 20;

/// The work item a research run is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WorkItem {
    pub family: ResearchFamily,
    /// File stem (or a generated id for an automatic audit).
    pub id: String,
    pub title: String,
    /// The item's file relative to `agents/`, when it has one.
    pub path: Option<String>,
    /// The spec id cards made from this item carry (`SPEC-<id>`).
    pub spec_id: String,
    /// For an incident: the frozen batch it holds back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
}

/// A file in a research intake directory that cannot be taken in; it is
/// reported and left where it is (nothing reads it again as work).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Rejected {
    pub path: String,
    pub reason: String,
}

/// The intake directory of a family, relative to `agents/`.
pub fn intake_dir(family: ResearchFamily) -> &'static str {
    match family {
        ResearchFamily::Goalspec => layout::IDEAS_RAW,
        ResearchFamily::Incident => layout::INCIDENTS_INCOMING,
        ResearchFamily::Audit => layout::AUDIT_INCOMING,
    }
}

/// An id safe in paths and file names: the stem itself when it is plain,
/// else its slug and 8 hex digits of the stem's SHA-256 (so two names that
/// slug alike, `日本` and `中国`, never share an id and never overwrite
/// each other's spec).
fn item_id(stem: &str) -> String {
    let plain = !stem.is_empty()
        && stem.len() <= 96
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if plain {
        return stem.to_string();
    }
    let hash = crate::defs::config::sha256_hex(stem.as_bytes());
    let base: String = slug(stem).chars().take(86).collect();
    format!("{}-{}", base.trim_end_matches('-'), &hash[..8])
}

/// The items waiting in a family's intake directory, oldest name first, and
/// the files refused (not regular, too large, not UTF-8, empty).
pub fn pending(agents: &Path, family: ResearchFamily) -> (Vec<WorkItem>, Vec<Rejected>) {
    let dir = Layout::of(agents).rel(intake_dir(family));
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect(),
        Err(_) => return (Vec::new(), Vec::new()),
    };
    names.sort();
    let (mut items, mut rejected) = (Vec::new(), Vec::new());
    for name in names {
        let rel = format!("{}/{name}", intake_dir(family));
        if name
            .chars()
            .any(|c| c.is_control() || crate::defs::text::is_unsafe(c))
        {
            rejected.push(Rejected {
                path: format!("agents/{rel}"),
                reason: "the file name holds control characters (a line break could become a card heading); rename it".into(),
            });
            continue;
        }
        match read_item(agents, family, &rel, &name) {
            Ok(item) => items.push(item),
            Err(reason) => rejected.push(Rejected {
                path: format!("agents/{rel}"),
                reason,
            }),
        }
    }
    (items, rejected)
}

fn read_item(
    agents: &Path,
    family: ResearchFamily,
    rel: &str,
    name: &str,
) -> std::result::Result<WorkItem, String> {
    let path = Layout::of(agents).rel(rel);
    let text =
        super::safe::read_confined(&[agents], &path, ITEM_LIMIT).map_err(|e| e.to_string())?;
    if text.trim().is_empty() {
        return Err("empty file".into());
    }
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    let id = item_id(stem);
    let title = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| crate::defs::text::clean_line(l.trim_start_matches('#')))
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| crate::defs::text::clean_line(stem))
        .chars()
        .take(120)
        .collect();
    let batch_id = (family == ResearchFamily::Incident)
        .then(|| {
            text.lines().find_map(|l| {
                l.split_once("**Frozen batch:**")
                    .map(|(_, v)| v.trim().to_string())
                    .filter(|v| !v.is_empty())
            })
        })
        .flatten();
    Ok(WorkItem {
        family,
        spec_id: format!("SPEC-{id}"),
        id,
        title,
        path: Some(rel.to_string()),
        batch_id,
    })
}

/// An audit the runtime starts on its own (no request file).
pub fn automatic_audit() -> WorkItem {
    let stamp = crate::defs::clock::now_stamp();
    WorkItem {
        family: ResearchFamily::Audit,
        id: format!("completion-{stamp}"),
        title: "Completion audit".into(),
        path: None,
        spec_id: format!("SPEC-AUDIT-{stamp}"),
        batch_id: None,
    }
}

/// `reports/completion_decision.json`, when it holds a JSON object.
pub fn completion_decision(agents: &Path) -> Option<Value> {
    let text = super::safe::read_confined(
        &[agents],
        &Layout::of(agents).rel(layout::COMPLETION_DECISION),
        super::safe::RECORD_LIMIT,
    )
    .ok()?;
    serde_json::from_str::<Value>(&text)
        .ok()
        .filter(Value::is_object)
}

/// One change a research run's terminal state makes.
#[derive(Debug, Clone)]
pub enum EffectOp {
    /// Cards into the backlog, at the front (behind earlier front cards of
    /// the same transaction) or the back.
    AppendCards { cards: Vec<Card>, front: bool },
    /// The frozen batch back into the backlog behind the front cards.
    ThawBatch { batch_id: String },
    /// The audit decision, recorded everywhere it is read.
    WriteDecision { decision: Value },
    /// An audit that ended without a decision (blocked).
    AuditBlocked,
    /// The item's file moved (archived, finished or parked when blocked).
    MoveItem { from: String, to_dir: String },
}

/// What the effects did (also `runs/<id>/effects.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EffectsApplied {
    pub run_id: String,
    pub applied_at: String,
    pub appended: Vec<String>,
    pub thawed: Vec<String>,
    pub batch_id: Option<String>,
    pub decision: Option<AuditVerdict>,
    pub moved: Vec<String>,
    pub backlog_depth: usize,
    /// True when a replay found the effects already applied.
    #[serde(default)]
    pub replayed: bool,
}

impl EffectsApplied {
    /// The mutations, as a run's `queue_mutations` records them.
    pub fn summary(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.appended.is_empty() {
            out.push(format!("append_cards:{}", self.appended.len()));
        }
        if let Some(b) = &self.batch_id {
            out.push(format!("thaw_batch:{b}"));
        }
        if let Some(d) = &self.decision {
            out.push(format!("write_decision:{d}"));
        }
        out.extend(self.moved.iter().map(|m| format!("move_item:{m}")));
        out
    }
}

/// The effects record of run `run_id`, if its effects were applied.
pub fn applied(agents: &Path, run_id: &str) -> Option<EffectsApplied> {
    let path = Layout::of(agents).rel(Layout::run_effects_rel(run_id));
    let text = super::safe::read_text(&path, super::safe::RECORD_LIMIT).ok()?;
    serde_json::from_str(&text).ok()
}

impl Queue {
    /// Which of `ids` a card in the active, backlog, archive or backburner
    /// store already has (one streaming pass over each).
    pub fn ids_present(&self, ids: &std::collections::HashSet<String>) -> Result<Vec<String>> {
        let mut found = std::collections::BTreeSet::new();
        for store in [
            TaskStore::Active,
            TaskStore::Backlog,
            TaskStore::Archive,
            TaskStore::Backburner,
        ] {
            let path = Layout::of(self.agents()).store(store);
            super::stream::cards(&path, super::queue::STORE_LIMIT, |_, item| {
                if let super::stream::Item::Card(c) = item {
                    let id = c.view().task_id;
                    if ids.contains(&id) {
                        found.insert(id);
                    }
                }
                std::ops::ControlFlow::Continue(())
            })
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|source| QueueError::Io { path, source })?;
        }
        Ok(found.into_iter().collect())
    }

    /// Applies a research run's terminal effects as one journaled
    /// transaction that also writes `runs/<run_id>/effects.json`; when that
    /// record exists the effects were applied and nothing is done again.
    pub fn apply_effects(
        &self,
        run_id: &str,
        spec_id: &str,
        item_path: Option<&str>,
        ops: &[EffectOp],
    ) -> Result<EffectsApplied> {
        let _lock = self.lock()?;
        let record_rel = Layout::run_effects_rel(run_id);
        let record_path = Layout::of(self.agents()).rel(&record_rel);
        if let Ok(text) = super::safe::read_text(&record_path, super::safe::RECORD_LIMIT) {
            if let Ok(mut done) = serde_json::from_str::<EffectsApplied>(&text) {
                done.replayed = true;
                return Ok(done);
            }
        }
        let mut tx = EffectsTx {
            queue: self,
            out: EffectsApplied {
                run_id: run_id.to_string(),
                applied_at: crate::defs::clock::now_iso(),
                ..Default::default()
            },
            backlog: None,
            back: Vec::new(),
            front_len: 0,
            writes: Vec::new(),
        };
        for op in ops {
            match op {
                EffectOp::AppendCards { cards, front } => tx.append(cards, *front)?,
                EffectOp::ThawBatch { batch_id } => tx.thaw(batch_id, run_id, spec_id)?,
                EffectOp::WriteDecision { decision } => {
                    let verdict =
                        AuditVerdict::of_decision(decision["decision"].as_str().unwrap_or(""));
                    tx.writes
                        .extend(self.decision_writes(run_id, item_path, verdict, decision));
                    tx.out.decision = Some(verdict);
                }
                EffectOp::AuditBlocked => {
                    tx.writes.extend(self.decision_writes(
                        run_id,
                        item_path,
                        AuditVerdict::Blocked,
                        &json!({}),
                    ));
                    tx.out.decision = Some(AuditVerdict::Blocked);
                }
                EffectOp::MoveItem { from, to_dir } => tx.move_item(from, to_dir),
            }
        }
        let (mut writes, out) = tx.finish()?;
        writes.push(FileWrite::replace(
            &record_rel,
            serde_json::to_string_pretty(&out).expect("record serialises") + "\n",
        ));
        super::failpoint::hit("effects.apply").map_err(|source| QueueError::Io {
            path: record_path.clone(),
            source,
        })?;
        self.commit_writes("research_effects", writes)?;
        Ok(out)
    }

    /// The backlog, parsed once per transaction for a rewrite.
    fn backlog_for_rewrite<'a>(
        &self,
        slot: &'a mut Option<StoreFile>,
    ) -> Result<&'a mut StoreFile> {
        if slot.is_none() {
            *slot = Some(self.store_file(BACKLOG)?);
        }
        Ok(slot.as_mut().expect("just set"))
    }

    /// The writes recording an audit decision.
    fn decision_writes(
        &self,
        run_id: &str,
        item_path: Option<&str>,
        verdict: AuditVerdict,
        decision: &Value,
    ) -> Vec<FileWrite> {
        let agents = self.agents();
        let now = crate::defs::clock::now_iso();
        let mut writes = Vec::new();
        let reasons: Vec<String> = decision["reasons"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let audit = Audited {
            run_id,
            item_path,
            verdict,
            reason_count: reasons.len(),
            now: &now,
        };
        let summary = next_summary(agents, &audit);
        writes.push(FileWrite::replace(
            layout::AUDIT_SUMMARY,
            serde_json::to_string_pretty(&summary).expect("summary serialises") + "\n",
        ));
        writes.push(history_write(agents, run_id, verdict, &reasons, &now));
        if verdict == AuditVerdict::Blocked {
            return writes;
        }
        let counts = json!({
            "archived_tasks": self.archive_depth(),
            "backlog_tasks": 0,
            "audits": summary.counts.total,
        });
        let record = json!({
            "schema_version": 1,
            "decision": verdict,
            "reasons": reasons,
            "counts": counts,
            "run_id": run_id,
            "decided_at": now,
        });
        writes.push(FileWrite::replace(
            layout::COMPLETION_DECISION,
            serde_json::to_string_pretty(&record).expect("decision serialises") + "\n",
        ));
        let marker = StopMarker::AutonomyComplete.file_name();
        writes.push(FileWrite::Replace {
            path: marker.to_string(),
            contents: (verdict == AuditVerdict::Pass)
                .then(|| format!("completion decision PASS by run {run_id} at {now}\n")),
        });
        if let Some(from) = item_path {
            let name = Path::new(from)
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let dir = if verdict == AuditVerdict::Pass {
                layout::AUDIT_PASSED
            } else {
                layout::AUDIT_FAILED
            };
            if let Ok(text) =
                super::safe::read_confined(&[agents], &Layout::of(agents).rel(from), ITEM_LIMIT)
            {
                writes.push(FileWrite::replace(&format!("{dir}/{name}"), text));
                writes.push(FileWrite::Replace {
                    path: from.to_string(),
                    contents: None,
                });
            }
        }
        writes
    }
}

/// `audit_history.md` with the decision and its reasons appended.
fn history_write(
    agents: &Path,
    run_id: &str,
    verdict: AuditVerdict,
    reasons: &[String],
    now: &str,
) -> FileWrite {
    let mut entry = format!("## {now} — {verdict} (run {run_id})\n");
    for r in reasons {
        entry.push_str(&format!("- {}\n", r.replace('\n', " ")));
    }
    let history = Layout::of(agents).rel(layout::AUDIT_HISTORY);
    let old = super::safe::read_text(&history, super::queue::STORE_LIMIT)
        .unwrap_or_else(|_| "# Audit history\n".to_string());
    FileWrite::replace(
        layout::AUDIT_HISTORY,
        format!("{}\n\n{entry}", old.trim_end()),
    )
}

/// Cuts freeze block `batch_id` out of the backburner's text: the rest of
/// the text and the block's cards, or `None` when there is no such block.
fn cut_block(text: &str, batch_id: &str) -> Option<(String, Vec<Card>)> {
    let (id, from, to) = super::queue::freeze_blocks(text)
        .into_iter()
        .find(|b| b.0 == batch_id)?;
    let (_, cards) = super::queue::batch_of(text, &id, from, to);
    let lines: Vec<&str> = text.lines().collect();
    let mut rest: Vec<&str> = lines[..from].to_vec();
    rest.extend_from_slice(&lines[to + 1..]);
    let mut rest = rest.join("\n").trim_end().to_string();
    rest.push('\n');
    Some((rest, cards))
}

/// `card` with `- **Spec-ID:** <spec_id>` and `- **Source:** <source>`
/// added after its heading when it names no spec.
pub fn stamp(card: &Card, spec_id: &str, source: &str) -> Card {
    if card.spec_id.is_some() {
        return card.clone();
    }
    let (heading, body) = card.raw.split_once('\n').unwrap_or((&card.raw, ""));
    let mut raw = format!("{heading}\n- **Spec-ID:** {spec_id}\n- **Source:** {source}");
    let body = body.trim_matches('\n');
    if !body.is_empty() {
        raw.push('\n');
        raw.push_str(body);
    }
    Card::from_raw(raw).unwrap_or_else(|| card.clone())
}

/// One research run's effects being gathered into a single journaled
/// transaction: the backlog is parsed (once) only when cards go to its
/// front; cards for its end are appended without reading it.
struct EffectsTx<'q> {
    queue: &'q Queue,
    out: EffectsApplied,
    backlog: Option<StoreFile>,
    /// Cards for the end of the backlog.
    back: Vec<Card>,
    /// Cards placed at the front so far (they keep their order).
    front_len: usize,
    writes: Vec<FileWrite>,
}

impl EffectsTx<'_> {
    fn append(&mut self, cards: &[Card], front: bool) -> Result<()> {
        self.out.appended.extend(cards.iter().map(|c| c.id.clone()));
        if !front {
            self.back.extend(cards.iter().cloned());
            return Ok(());
        }
        let b = self.queue.backlog_for_rewrite(&mut self.backlog)?;
        for c in cards {
            b.cards.insert(self.front_len, c.clone());
            self.front_len += 1;
        }
        Ok(())
    }

    /// Returns a frozen batch to the front of the backlog (behind cards
    /// already placed there), cuts it from the backburner and marks the
    /// recovery latch thawed.
    fn thaw(&mut self, batch_id: &str, run_id: &str, spec_id: &str) -> Result<()> {
        let agents = self.queue.agents().to_path_buf();
        let bb_path = Layout::of(&agents).rel(BACKBURNER);
        let text = super::safe::read_text(&bb_path, super::queue::STORE_LIMIT).unwrap_or_default();
        let Some((rest, cards)) = cut_block(&text, batch_id) else {
            tracing::warn!(batch = %batch_id, "no frozen batch to thaw (already thawed?)");
            return Ok(());
        };
        let b = self.queue.backlog_for_rewrite(&mut self.backlog)?;
        let known: std::collections::HashSet<String> =
            b.cards.iter().map(|c| c.id.clone()).collect();
        for c in cards.into_iter().filter(|c| !known.contains(&c.id)) {
            self.out.thawed.push(c.id.clone());
            b.cards.insert(self.front_len, c);
            self.front_len += 1;
        }
        self.out.batch_id = Some(batch_id.to_string());
        self.writes.push(FileWrite::replace(BACKBURNER, rest));
        let remediation = crate::store::latch::Remediation {
            run_id: run_id.to_string(),
            spec_id: spec_id.to_string(),
        };
        if let Some(latch) = crate::store::latch::RecoveryLatch::read(&agents)
            .and_then(|l| l.thawed(batch_id, Some(remediation)))
        {
            self.writes
                .push(FileWrite::replace(layout::RECOVERY_LATCH, latch.text()));
        }
        Ok(())
    }

    /// Moves an intake item to its archive folder (a vanished one is left).
    fn move_item(&mut self, from: &str, to_dir: &str) {
        let path = Layout::of(self.queue.agents()).rel(from);
        let Ok(text) = super::safe::read_confined(&[self.queue.agents()], &path, ITEM_LIMIT) else {
            return;
        };
        let name = Path::new(from)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let to = format!("{to_dir}/{name}");
        self.writes.push(FileWrite::replace(&to, text));
        self.writes.push(FileWrite::Replace {
            path: from.to_string(),
            contents: None,
        });
        self.out.moved.push(format!("agents/{to}"));
    }

    /// The backlog's write (a rewrite when it was parsed, else an append)
    /// and the record with the backlog's depth after it.
    fn finish(mut self) -> Result<(Vec<FileWrite>, EffectsApplied)> {
        match self.backlog.as_mut() {
            Some(b) => {
                b.cards.extend(self.back.iter().cloned());
                self.out.backlog_depth = b.cards.len();
                self.writes.push(FileWrite::replace(BACKLOG, b.render()));
            }
            None => {
                let depth_before = self.queue.backlog_depth_locked()?;
                if !self.back.is_empty() {
                    let (base_len, separator) = self.queue.append_point_of(BACKLOG)?;
                    let text: Vec<&str> = self.back.iter().map(|c| c.raw.as_str()).collect();
                    self.writes.push(FileWrite::Append {
                        path: BACKLOG.into(),
                        contents: format!("{separator}{}\n", text.join("\n\n")),
                        base_len,
                    });
                }
                self.out.backlog_depth = depth_before + self.back.len();
            }
        }
        Ok((self.writes, self.out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_read_in_name_order_and_bad_files_are_refused_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let agents = dir.path();
        let raw = agents.join(layout::IDEAS_RAW);
        std::fs::create_dir_all(&raw).unwrap();
        std::fs::write(raw.join("b.md"), "# Second idea\nbody").unwrap();
        std::fs::write(raw.join("a.md"), "First idea").unwrap();
        std::fs::write(raw.join("c.md"), [0xff, 0xfe, 0x00]).unwrap();
        std::fs::write(raw.join("d.md"), "  \n").unwrap();
        nix_fifo(&raw.join("e.md"));
        let (items, rejected) = pending(agents, ResearchFamily::Goalspec);
        let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(items[1].title, "Second idea");
        assert_eq!(items[1].spec_id, "SPEC-b");
        let refused: Vec<&str> = rejected.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            refused,
            [
                "agents/ideas/raw/c.md",
                "agents/ideas/raw/d.md",
                "agents/ideas/raw/e.md"
            ]
        );
        assert!(raw.join("c.md").exists(), "nothing is moved");
    }

    fn nix_fifo(path: &Path) {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    }

    #[test]
    fn stamping_adds_the_spec_once() {
        let card = Card::new("2026-11-24", "Do it", Some("body"), None);
        let stamped = stamp(&card, "SPEC-x", "agents/ideas/raw/x.md");
        assert_eq!(stamped.spec_id.as_deref(), Some("SPEC-x"));
        assert_eq!(stamped.id, card.id);
        assert!(stamped.raw.ends_with("body"));
        assert_eq!(stamp(&stamped, "SPEC-y", "z"), stamped);
    }

    #[test]
    fn a_freeze_block_is_cut_with_its_cards() {
        let text = "# Backburner\n\n<!-- research_recovery:freeze:start B1 -->\n\n<!-- frozen_at: x -->\n\n## 2026-11-24 - A\n\n## 2026-11-24 - B\n\n<!-- research_recovery:freeze:end B1 -->\n";
        let (rest, cards) = cut_block(text, "B1").unwrap();
        assert_eq!(rest, "# Backburner\n");
        assert_eq!(cards.len(), 2);
        assert!(cut_block(text, "B2").is_none());
    }
}
