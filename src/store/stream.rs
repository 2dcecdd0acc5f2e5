//! One pass over a store file in constant memory: blocks of whole lines, or
//! its cards one at a time. Read paths over large backlogs (depth, the
//! first card, lint, the duplicate-id check of `add-task`) use these instead
//! of reading the whole file, so their memory does not grow with the
//! backlog.
//!
//! Places are byte offsets; [`line_numbers`] turns the few that end up in a
//! message into line numbers (counting lines on every pass would cost more
//! than the pass). The file is opened as [`safe::open_regular`] opens it (a
//! fifo or a device is refused without blocking) and must be UTF-8: the
//! first bad byte is an `InvalidData` error naming its line.

use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::Path;

use super::cards::{heading_kind, parse_heading, CardRef, Heading};
use super::safe;

const CHUNK: usize = 256 << 10;

/// Calls `f(offset, text)` for successive blocks of whole lines of `path`
/// (about 256 KiB each; `offset` is where `text` starts in the file) until
/// it breaks. A missing file has no blocks.
pub fn chunks(
    path: &Path,
    limit: u64,
    mut f: impl FnMut(u64, &str) -> ControlFlow<()>,
) -> io::Result<()> {
    let file = match safe::open_regular(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut reader = file.take(limit);
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
    let mut consumed = 0;
    loop {
        let kept = buf.len();
        buf.resize(kept + CHUNK, 0);
        let got = reader.read(&mut buf[kept..])?;
        buf.truncate(kept + got);
        let eof = got == 0;
        // Whole lines only; the last partial line waits for the next read.
        let upto = if eof {
            buf.len()
        } else {
            match buf.iter().rposition(|&b| b == b'\n') {
                Some(i) => i + 1,
                None => continue,
            }
        };
        let text = std::str::from_utf8(&buf[..upto]).map_err(|e| {
            let at = consumed + e.valid_up_to() as u64;
            let line = line_numbers(path, &[at]).map_or(0, |l| l[0]);
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line {line}: not UTF-8"),
            )
        })?;
        if !text.is_empty() && f(consumed, text).is_break() {
            return Ok(());
        }
        if eof {
            return Ok(());
        }
        consumed += upto as u64;
        buf.drain(..upto);
    }
}

pub use super::cards::{heading_starts, Fence};

/// The line of `text` starting at `start`, without its line ending.
fn line_from(text: &str, start: usize) -> &str {
    let rest = &text[start..];
    rest[..rest.find('\n').unwrap_or(rest.len())].trim_end_matches('\r')
}

/// What [`cards`] reports.
#[derive(Debug, Clone, Copy)]
pub enum Item<'a> {
    Card(CardRef<'a>),
    /// A heading without a title (read as part of the card above).
    Untitled,
}

/// Calls `f(offset, item)` for each card of `path` in order (and each
/// heading without a title, where it stands), holding at most one card
/// that spans two blocks, until it breaks. `offset` is where the heading
/// starts in the file.
pub fn cards(
    path: &Path,
    limit: u64,
    mut f: impl FnMut(u64, Item<'_>) -> ControlFlow<()>,
) -> io::Result<()> {
    // The card still open at the end of the previous block, and its offset.
    let mut open = String::new();
    let mut open_at = None;
    let mut stopped = false;
    let mut untitled = Vec::new();
    let mut fence = Fence::default();
    chunks(path, limit, |offset, text| {
        let mut card_start = None;
        for start in heading_starts(text, &mut fence) {
            match heading_kind(line_from(text, start)) {
                Some(Heading::Card) => {}
                Some(Heading::Untitled) => {
                    untitled.push(offset + start as u64);
                    continue;
                }
                None => continue,
            }
            // A new card closes the one before it.
            let closed = match (card_start, open_at.take()) {
                (Some(s), _) => emit(&mut f, offset + s as u64, &text[s..start]),
                (None, Some(at)) => {
                    open.push_str(&text[..start]);
                    emit(&mut f, at, &open)
                }
                (None, None) => ControlFlow::Continue(()),
            };
            // Untitled headings are reported in file order, before the
            // card after them.
            for at in untitled.drain(..) {
                if f(at, Item::Untitled).is_break() {
                    stopped = true;
                    return ControlFlow::Break(());
                }
            }
            if closed.is_break() {
                stopped = true;
                return ControlFlow::Break(());
            }
            card_start = Some(start);
        }
        match card_start {
            Some(s) => {
                open.clear();
                open.push_str(&text[s..]);
                open_at = Some(offset + s as u64);
            }
            None if open_at.is_some() => open.push_str(text),
            None => {}
        }
        ControlFlow::Continue(())
    })?;
    if !stopped && open_at.is_none_or(|at| emit(&mut f, at, &open).is_continue()) {
        for at in untitled {
            let _ = f(at, Item::Untitled);
        }
    }
    Ok(())
}

/// Hands the card whose text `card` starts at its heading line to `f`.
fn emit(
    f: &mut impl FnMut(u64, Item<'_>) -> ControlFlow<()>,
    at: u64,
    card: &str,
) -> ControlFlow<()> {
    let raw = card.trim_end_matches(['\n', '\r']);
    match raw.lines().next().and_then(parse_heading) {
        Some((date, title)) => f(at, Item::Card(CardRef { raw, date, title })),
        None => ControlFlow::Continue(()),
    }
}

/// Line numbers (1-based) of byte offsets of `path`, in one pass; for the
/// few places a message names.
pub fn line_numbers(path: &Path, offsets: &[u64]) -> io::Result<Vec<usize>> {
    let mut order: Vec<usize> = (0..offsets.len()).collect();
    order.sort_by_key(|&i| offsets[i]);
    let mut out = vec![0; offsets.len()];
    let Some(&last) = order.last() else {
        return Ok(out);
    };
    let mut head = Vec::new();
    safe::open_regular(path)?
        .take(offsets[last])
        .read_to_end(&mut head)?;
    let (mut line, mut pos) = (1, 0usize);
    for i in order {
        let to = (offsets[i] as usize).min(head.len());
        line += head[pos..to].iter().filter(|&&b| b == b'\n').count();
        pos = to;
        out[i] = line;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(path: &Path) -> Vec<(usize, String)> {
        let mut items = Vec::new();
        let mut offsets = Vec::new();
        cards(path, u64::MAX, |at, item| {
            offsets.push(at);
            items.push(match item {
                Item::Card(c) => c.view().task_id,
                Item::Untitled => "untitled".into(),
            });
            ControlFlow::Continue(())
        })
        .unwrap();
        let lines = line_numbers(path, &offsets).unwrap();
        lines.into_iter().zip(items).collect()
    }

    #[test]
    fn cards_cross_block_boundaries_and_keep_their_places() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.md");
        let mut text = String::from("# Task Backlog\n\n");
        for i in 0..20_000 {
            text.push_str(&format!(
                "## 2026-11-23 - Task ünïcode {i}\n- **Task-ID:** T-{i}\n\nbody\n\n"
            ));
            if i == 15_000 {
                text.push_str("## 2026-11-23 -\n\n");
            }
        }
        std::fs::write(&path, &text).unwrap();
        let all = collect(&path);
        assert_eq!(all.len(), 20_001);
        assert_eq!(all[0], (3, "T-0".to_string()));
        assert_eq!(all[15_000], (3 + 5 * 15_000, "T-15000".to_string()));
        assert_eq!(all[15_001], (3 + 5 * 15_001, "untitled".to_string()));
        assert_eq!(all[20_000], (5 + 5 * 19_999, "T-19999".to_string()));
        // Every card's text is whole, however the blocks fell.
        let mut bodies = 0;
        cards(&path, u64::MAX, |_, item| {
            if let Item::Card(c) = item {
                assert!(c.raw.contains("\n\nbody"), "{:?}", c.raw);
                bodies += 1;
            }
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(bodies, 20_000);
        let mut first = None;
        cards(&path, u64::MAX, |_, item| {
            if let Item::Card(c) = item {
                first = Some(c.title.to_string());
            }
            ControlFlow::Break(())
        })
        .unwrap();
        assert_eq!(first.as_deref(), Some("Task ünïcode 0"));
    }

    #[test]
    fn a_bad_byte_is_named_by_its_line_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.md");
        std::fs::write(&path, b"## 2026-11-23 - A\nok\nbad \xff\n").unwrap();
        let err = chunks(&path, u64::MAX, |_, _| ControlFlow::Continue(())).unwrap_err();
        assert_eq!(err.to_string(), "line 3: not UTF-8");
        let missing = dir.path().join("missing");
        assert!(chunks(&missing, 10, |_, _| ControlFlow::Continue(())).is_ok());
        assert!(collect(&missing).is_empty());
    }
}
