//! Quarantine and frozen batches (spec §3.4): the active task and the
//! backlog frozen into the backburner for research, the blocker entry,
//! incident and recovery latch; listing and thawing the batches.

use super::*;

impl Queue {
    /// Freezes the active task and the whole backlog for research (spec
    /// §3.4): freeze block in the backburner, blocker entry, incident file
    /// and recovery latch, in one journaled transaction.
    pub fn quarantine(&self, req: &QuarantineRequest) -> Result<QuarantineOutcome> {
        let _lock = self.lock()?;
        let (mut active_store, active) = self.read_active()?;
        let Some(card) = active.filter(|c| c.id == req.task_id) else {
            // A resumed run may quarantine again after a crash: a no-op.
            if let Some(done) = self.latch_for(&req.run_dir) {
                return Ok(done);
            }
            return Err(QueueError::Invalid(format!(
                "cannot quarantine `{}`: it is not the active task",
                req.task_id
            )));
        };
        let mut backlog = self.read_store(BACKLOG)?;
        let now = crate::defs::clock::now_iso();
        let batch_id = crate::defs::clock::now()
            .strftime("%Y%m%dT%H%M%SZ")
            .to_string();
        let handoff_id = format!("{}:needs_research:{batch_id}", req.run_id);
        let incident_name = format!(
            "INC-{}.md",
            &crate::defs::config::sha256_hex(format!("{}:{batch_id}", card.id).as_bytes())[..12]
        );
        let incident_path = format!("{}/{incident_name}", layout::INCIDENTS_INCOMING);
        let frozen: Vec<Card> = std::iter::once(card.clone())
            .chain(backlog.cards.drain(..))
            .collect();

        let mut block = vec![
            format!("<!-- research_recovery:freeze:start {batch_id} -->"),
            format!("<!-- frozen_at: {now} -->"),
            format!("<!-- incident_path: agents/{incident_path} -->"),
        ];
        block.extend(frozen.iter().map(|c| c.raw.clone()));
        block.push(format!("<!-- research_recovery:freeze:end {batch_id} -->"));
        let backburner = self.read_store(BACKBURNER)?.render();
        let backburner = format!("{}\n\n{}\n", backburner.trim_end(), block.join("\n\n"));

        let blocker = self.read_store(BLOCKER)?;
        let blocker_text = blocker_entry(
            &blocker,
            &card,
            req,
            &incident_path,
            &batch_id,
            frozen.len() - 1,
        );
        let incident = format!(
            "# Incident {incident_name}\n\n- **Task:** {}\n- **Run:** {}\n- **Stage:** {}\n- **Reason:** {}\n- **Frozen batch:** {batch_id}\n\n## Task card\n\n{}\n",
            card.id, req.run_id, req.stage, req.reason, card.raw
        );
        let active_text =
            crate::store::safe::read_text(&Layout::of(&self.agents).rel(ACTIVE), STORE_LIMIT)
                .unwrap_or_default();
        let latch = crate::store::latch::RecoveryLatch {
            state: crate::store::latch::LatchState::Frozen,
            batch_id: batch_id.clone(),
            frozen_at: now,
            run_dir: req.run_dir.clone(),
            fingerprint: crate::defs::config::sha256_hex(active_text.as_bytes()),
            failure_signature: "needs_research".into(),
            incident_path: format!("agents/{incident_path}"),
            stage: req.stage.clone(),
            reason: req.reason.clone(),
            frozen_backlog_cards: frozen.len() - 1,
            retained_backlog_cards: 0,
            quarantine_mode_requested: "full".into(),
            quarantine_mode_applied: "full".into(),
            quarantine_reason: "consult_handoff".into(),
            handoff_id: handoff_id.clone(),
            handoff: req.handoff.clone(),
            thawed_at: None,
            remediation_decision: None,
            other: Default::default(),
        };
        active_store.cards.clear();
        self.commit(
            "quarantine_task",
            vec![
                (BACKBURNER, backburner),
                (BLOCKER, blocker_text),
                (&incident_path, incident),
                (LATCH, latch.text()),
                (BACKLOG, backlog.render()),
                (ACTIVE, active_store.render()),
            ],
        )?;
        Ok(QuarantineOutcome {
            batch_id,
            handoff_id,
            frozen_backlog_cards: frozen.len() - 1,
            incident_path: format!("agents/{incident_path}"),
            latch_path: format!("agents/{LATCH}"),
        })
    }
}

/// A batch of cards a quarantine froze into the backburner (the failed task
/// first, then the backlog it held back).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct FrozenBatch {
    pub batch_id: String,
    pub frozen_at: Option<String>,
    /// The incident that explains why (`agents/ideas/incidents/…`).
    pub incident_path: Option<String>,
    pub task_ids: Vec<String>,
}

/// What `queue thaw` did.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Thawed {
    pub batch_id: String,
    /// The cards returned to the front of the backlog, in order.
    pub task_ids: Vec<String>,
    pub backlog_depth: usize,
}

const FREEZE_START: &str = "<!-- research_recovery:freeze:start ";
const FREEZE_END: &str = "<!-- research_recovery:freeze:end ";

/// One freeze block of the backburner: (batch id, first line, last line).
pub(in crate::store) fn freeze_blocks(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(id) = l.trim().strip_prefix(FREEZE_START) else {
            continue;
        };
        let id = id.trim_end_matches("-->").trim().to_string();
        let end_marker = format!("{FREEZE_END}{id} -->");
        if let Some(j) = lines[i..].iter().position(|m| m.trim() == end_marker) {
            out.push((id, i, i + j));
        }
    }
    out
}

/// The batch of the block at lines `from..=to` of `text`.
pub(in crate::store) fn batch_of(
    text: &str,
    id: &str,
    from: usize,
    to: usize,
) -> (FrozenBatch, Vec<Card>) {
    let lines: Vec<&str> = text.lines().collect();
    let comment = |key: &str| {
        lines[from..=to].iter().find_map(|l| {
            l.trim()
                .strip_prefix(&format!("<!-- {key}: "))
                .map(|v| v.trim_end_matches("-->").trim().to_string())
        })
    };
    let inner = lines[from + 1..to]
        .iter()
        .filter(|l| !l.trim_start().starts_with("<!--"))
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    let cards = StoreFile::parse(&format!("# frozen\n\n{inner}\n")).cards;
    let batch = FrozenBatch {
        batch_id: id.to_string(),
        frozen_at: comment("frozen_at"),
        incident_path: comment("incident_path"),
        task_ids: cards.iter().map(|c| c.id.clone()).collect(),
    };
    (batch, cards)
}

impl Queue {
    /// Batches frozen by quarantines that are still in the backburner,
    /// oldest first.
    pub fn frozen_batches(&self) -> Result<Vec<FrozenBatch>> {
        let path = Layout::of(&self.agents).rel(BACKBURNER);
        let text = match crate::store::safe::read_text(&path, STORE_LIMIT) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(QueueError::Io { path, source }),
        };
        Ok(freeze_blocks(&text)
            .into_iter()
            .map(|(id, from, to)| batch_of(&text, &id, from, to).0)
            .collect())
    }

    /// Returns frozen batch `batch_id` (the only one when `None`) to the
    /// front of the backlog, in order, in one journaled transaction; the
    /// recovery latch records the thaw.
    pub fn thaw(&self, batch_id: Option<&str>) -> Result<Thawed> {
        let _lock = self.lock()?;
        let text =
            crate::store::safe::read_text(&Layout::of(&self.agents).rel(BACKBURNER), STORE_LIMIT)
                .unwrap_or_default();
        let blocks = freeze_blocks(&text);
        let ids = || {
            blocks
                .iter()
                .map(|b| b.0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (id, from, to) = match batch_id {
            Some(want) => blocks
                .iter()
                .find(|b| b.0 == want)
                .cloned()
                .ok_or_else(|| {
                    QueueError::Invalid(if blocks.is_empty() {
                        format!("no frozen batch `{want}`: nothing is frozen")
                    } else {
                        format!("no frozen batch `{want}`; frozen: {}", ids())
                    })
                })?,
            None if blocks.len() == 1 => blocks[0].clone(),
            None if blocks.is_empty() => {
                return Err(QueueError::Invalid("nothing is frozen".into()))
            }
            None => {
                return Err(QueueError::Invalid(format!(
                    "{} batches are frozen ({}); name the one to thaw",
                    blocks.len(),
                    ids()
                )))
            }
        };
        let (_, cards) = batch_of(&text, &id, from, to);
        let mut backlog = self.read_store(BACKLOG)?;
        let known: std::collections::HashSet<String> =
            backlog.cards.iter().map(|c| c.id.clone()).collect();
        let returning: Vec<Card> = cards
            .into_iter()
            .filter(|c| !known.contains(&c.id))
            .collect();
        let task_ids: Vec<String> = returning.iter().map(|c| c.id.clone()).collect();
        backlog.cards.splice(0..0, returning);
        let lines: Vec<&str> = text.lines().collect();
        let mut rest: Vec<&str> = lines[..from].to_vec();
        rest.extend_from_slice(&lines[to + 1..]);
        let mut backburner = rest.join("\n").trim_end().to_string();
        backburner.push('\n');
        let mut writes = vec![(BACKBURNER, backburner), (BACKLOG, backlog.render())];
        if let Some(latch) =
            crate::store::latch::RecoveryLatch::read(&self.agents).and_then(|l| l.thawed(&id, None))
        {
            writes.push((LATCH, latch.text()));
        }
        self.commit("thaw_batch", writes)?;
        Ok(Thawed {
            batch_id: id,
            task_ids,
            backlog_depth: backlog.cards.len(),
        })
    }

    /// The quarantine already recorded for `run_dir`, if the latch says so.
    pub(super) fn latch_for(&self, run_dir: &str) -> Option<QuarantineOutcome> {
        let latch = crate::store::latch::RecoveryLatch::read(&self.agents)?;
        (latch.run_dir == run_dir).then(|| QuarantineOutcome {
            batch_id: latch.batch_id,
            handoff_id: latch.handoff_id,
            frozen_backlog_cards: latch.frozen_backlog_cards,
            incident_path: latch.incident_path,
            latch_path: format!("agents/{LATCH}"),
        })
    }
}

/// The blocker ledger with a quarantine's entry first (newest first, right
/// after the preamble), as v0.2.0 writes it.
fn blocker_entry(
    blocker: &StoreFile,
    card: &Card,
    req: &QuarantineRequest,
    incident_path: &str,
    batch_id: &str,
    frozen_backlog: usize,
) -> String {
    let utc = crate::defs::clock::now()
        .strftime("%Y-%m-%d %H:%M:%S UTC")
        .to_string();
    let entry = [
            format!("## {utc} — {}", card.title),
            String::new(),
            "- **Status:** `### NEEDS_RESEARCH`".to_string(),
            format!("- **Stage blocked:** {}", req.stage),
            format!("- **Source task card:** {}", card.id),
            format!("- **Prompt artifact:** {}", req.prompt_artifact.as_deref().unwrap_or("(none)")),
            format!("- **Evidence:** Runs: {}", req.run_dir),
            format!("- **Root-cause summary:** {}", req.reason),
            format!("- **Deterministic next action:** resolve agents/{incident_path}, then thaw batch {batch_id}"),
            format!("- **Incident intake:** agents/{incident_path}"),
            format!("- **Notes:** froze the task and {} backlog card(s)", frozen_backlog),
        ]
        .join("\n");
    // Newest first, right after the preamble.
    let mut blocker_text = blocker.preamble.clone();
    blocker_text.push_str("\n\n");
    blocker_text.push_str(&entry);
    let rest = blocker.render();
    let rest = rest
        .strip_prefix(blocker.preamble.as_str())
        .unwrap_or(&rest)
        .trim();
    if !rest.is_empty() {
        blocker_text.push_str("\n\n");
        blocker_text.push_str(rest);
    }
    blocker_text.push('\n');
    blocker_text
}
