//! One pass over a store file in constant memory: its lines, or its cards
//! one at a time. Read paths over large backlogs (depth, the first card,
//! lint, the duplicate-id check of `add-task`) use these instead of reading
//! the whole file, so their memory does not grow with the backlog.
//!
//! The file is opened as [`safe::open_regular`] opens it (a fifo or a
//! device is refused without blocking) and must be UTF-8: the first bad
//! byte is an `InvalidData` error naming its line.

use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::Path;

use super::cards::{parse_heading, CardRef};
use super::safe;

const CHUNK: usize = 256 << 10;

/// Calls `f(line_number, line)` for each line of `path` (1-based, without
/// its line ending) until it breaks. A missing file has no lines.
pub fn lines(
    path: &Path,
    limit: u64,
    mut f: impl FnMut(usize, &str) -> ControlFlow<()>,
) -> io::Result<()> {
    let file = match safe::open_regular(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut reader = file.take(limit);
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
    let mut line_no = 0;
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
            let line = line_no
                + 1
                + buf[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count();
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line {line}: not UTF-8"),
            )
        })?;
        for line in text.split_inclusive('\n') {
            line_no += 1;
            if f(line_no, line.trim_end_matches(['\n', '\r'])).is_break() {
                return Ok(());
            }
        }
        if eof {
            return Ok(());
        }
        buf.drain(..upto);
    }
}

/// Calls `f(heading_line, card)` for each card of `path` in order, holding
/// one card at a time, until it breaks; `each_line` sees every line first
/// (for lints that look at lines, in the same pass).
pub fn cards(
    path: &Path,
    limit: u64,
    mut each_line: impl FnMut(usize, &str),
    mut f: impl FnMut(usize, CardRef<'_>) -> ControlFlow<()>,
) -> io::Result<()> {
    let mut card = String::new();
    let mut heading_line = 0;
    let mut stopped = false;
    let mut emit = |card: &str, line: usize| -> ControlFlow<()> {
        match super::cards::scan(card).1.first() {
            Some(c) => f(line, *c),
            None => ControlFlow::Continue(()),
        }
    };
    lines(path, limit, |n, line| {
        each_line(n, line);
        if line.starts_with("##") && parse_heading(line).is_some() {
            if heading_line > 0 && emit(&card, heading_line).is_break() {
                stopped = true;
                return ControlFlow::Break(());
            }
            card.clear();
            heading_line = n;
        }
        if heading_line > 0 {
            card.push_str(line);
            card.push('\n');
        }
        ControlFlow::Continue(())
    })?;
    if !stopped && heading_line > 0 {
        let _ = emit(&card, heading_line);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_cards_cross_chunk_boundaries_and_name_a_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.md");
        let mut text = String::from("# Task Backlog\n\n");
        for i in 0..20_000 {
            text.push_str(&format!(
                "## 2026-11-23 - Task ünïcode {i}\n- **Task-ID:** T-{i}\n\nbody\n\n"
            ));
        }
        std::fs::write(&path, &text).unwrap();
        let mut n = 0;
        lines(&path, u64::MAX, |_, _| {
            n += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(n, text.lines().count());
        let mut ids = Vec::new();
        cards(
            &path,
            u64::MAX,
            |_, _| {},
            |line, c| {
                ids.push((line, c.view().task_id));
                ControlFlow::Continue(())
            },
        )
        .unwrap();
        assert_eq!(ids.len(), 20_000);
        assert_eq!(ids[0], (3, "T-0".to_string()));
        assert_eq!(ids[19_999], (3 + 5 * 19_999, "T-19999".to_string()));
        let mut first = None;
        cards(
            &path,
            u64::MAX,
            |_, _| {},
            |_, c| {
                first = Some(c.title.to_string());
                ControlFlow::Break(())
            },
        )
        .unwrap();
        assert_eq!(first.as_deref(), Some("Task ünïcode 0"));

        std::fs::write(&path, b"## 2026-11-23 - A\nok\nbad \xff\n").unwrap();
        let err = lines(&path, u64::MAX, |_, _| ControlFlow::Continue(())).unwrap_err();
        assert_eq!(err.to_string(), "line 3: not UTF-8");
        assert!(lines(&dir.path().join("missing"), 10, |_, _| {
            ControlFlow::Continue(())
        })
        .is_ok());
    }
}
