//! The backlog's depth and untitled headings, counted in one constant-memory
//! pass and remembered against the file's identity (in memory and in
//! `.runtime/backlog_depth.json`), so reads that only need the depth do not
//! walk a large backlog again; and whether a store holds any card at all.

use super::*;

impl Queue {
    /// Number of backlog cards, the first one (the only one built, from
    /// the head of the file), and headings without a title.
    pub fn backlog_head(&self) -> Result<(usize, Option<TaskView>, Vec<String>)> {
        let _settled = self.settled()?;
        let (depth, untitled) = self.count_headings()?;
        let path = Layout::of(&self.agents).rel(BACKLOG);
        let lines = crate::store::stream::line_numbers(&path, &untitled)
            .map_err(|source| QueueError::Io { path, source })?;
        let warnings = lines
            .into_iter()
            .map(|n| format!("{BACKLOG} {}", crate::store::cards::untitled_warning(n)))
            .collect();
        let next = self.backlog_first()?.map(|h| h.card.view());
        Ok((depth, next, warnings))
    }

    /// Number of backlog cards: known when this queue or the depth index
    /// counted exactly this file (same inode, size and change time), else
    /// counted over the headings in one constant-memory pass.
    pub fn backlog_depth(&self) -> Result<usize> {
        Ok(self.backlog_count()?.depth)
    }

    /// Depth and untitled headings, from the memo or index when they were
    /// counted from exactly this file, else counted now.
    pub(super) fn backlog_count(&self) -> Result<Count> {
        let _settled = self.settled()?;
        let sig = self.backlog_sig();
        if let Some(count) = sig.and_then(|sig| self.known_depth(sig)) {
            return Ok(count);
        }
        let (depth, untitled) = self.count_headings()?;
        let count = Count {
            depth,
            untitled: untitled.len(),
        };
        if let Some(sig) = sig {
            self.remember_depth(sig, count);
        }
        Ok(count)
    }

    /// A warning per backlog heading without a title, with its line; cheap
    /// when there are none (the remembered count says so). Every command
    /// that reads the backlog reports these: such a heading is not a card,
    /// and its text is never run or archived with the card above it.
    pub fn untitled_warnings(&self) -> Result<Vec<String>> {
        if self.backlog_count()?.untitled == 0 {
            return Ok(Vec::new());
        }
        Ok(self.backlog_head()?.2)
    }

    /// The depth `.runtime/backlog_depth.json` records, if it was counted
    /// from exactly this file.
    pub(super) fn indexed_depth(&self, sig: FileSig) -> Option<Count> {
        let path = Layout::of(&self.agents).backlog_depth_index();
        let text = crate::store::safe::read_text(&path, 4096).ok()?;
        let index: DepthIndex = serde_json::from_str(&text).ok()?;
        let count = Count {
            depth: index.depth,
            untitled: index.untitled?,
        };
        (index.sig == sig).then_some(count)
    }

    /// Remembers `depth` for the backlog file `sig` names, in this queue
    /// and in the index other processes read (a cache: written without
    /// sync, and a failed write only costs the next reader a count).
    pub(super) fn remember_depth(&self, sig: FileSig, count: Count) {
        *self.memo.lock().unwrap_or_else(|p| p.into_inner()) = DepthMemo(Some((sig, count)));
        let path = Layout::of(&self.agents).backlog_depth_index();
        let index = DepthIndex {
            sig,
            depth: count.depth,
            untitled: Some(count.untitled),
        };
        let text = serde_json::to_string(&index).expect("index serialises");
        if let Err(e) = crate::store::atomic::write_volatile(&path, text.as_bytes()) {
            tracing::debug!("cannot write {}: {e}", path.display());
        }
    }

    /// The depth of the backlog file `sig` names, if this queue or the
    /// index knows it.
    pub(super) fn known_depth(&self, sig: FileSig) -> Option<Count> {
        let memo = self.memo.lock().unwrap_or_else(|p| p.into_inner()).0;
        match memo {
            Some((seen, depth)) if seen == sig => Some(depth),
            _ => self.indexed_depth(sig),
        }
    }

    pub(super) fn backlog_sig(&self) -> Option<FileSig> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(Layout::of(&self.agents).rel(BACKLOG))
            .ok()
            .map(|m| (m.dev(), m.ino(), m.len(), m.ctime(), m.ctime_nsec()))
    }

    /// Card headings of the backlog, and where the headings without a
    /// title are.
    pub(super) fn count_headings(&self) -> Result<(usize, Vec<u64>)> {
        use crate::store::cards::{heading_kind, Heading};
        let path = Layout::of(&self.agents).rel(BACKLOG);
        let (mut depth, mut untitled) = (0, Vec::new());
        let mut fence = crate::store::cards::Fence::default();
        crate::store::stream::chunks(&path, STORE_LIMIT, |offset, text| {
            for start in crate::store::stream::heading_starts(text, &mut fence) {
                let line = text[start..].lines().next().unwrap_or("");
                match heading_kind(line) {
                    Some(Heading::Card) => depth += 1,
                    Some(Heading::Untitled) => untitled.push(offset + start as u64),
                    None => {}
                }
            }
            std::ops::ControlFlow::Continue(())
        })
        .map_err(|source| QueueError::Io { path, source })?;
        Ok((depth, untitled))
    }
}

impl Queue {
    /// Whether the archive holds at least one card (reads up to the first).
    pub fn archive_has_cards(&self) -> bool {
        self.has_cards(TaskStore::Archive)
    }

    /// Whether `store` holds a card (read until the first one; fenced
    /// headings are not cards).
    pub fn has_cards(&self, store: TaskStore) -> bool {
        let path = Layout::of(&self.agents).rel(store.file_name());
        let mut found = false;
        let mut fence = crate::store::cards::Fence::default();
        let _ = crate::store::stream::chunks(&path, STORE_LIMIT, |_, text| {
            found = crate::store::stream::heading_starts(text, &mut fence)
                .into_iter()
                .any(|start| {
                    let line = text[start..].lines().next().unwrap_or("");
                    matches!(
                        crate::store::cards::heading_kind(line),
                        Some(crate::store::cards::Heading::Card)
                    )
                });
            if found {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        });
        found
    }
}
