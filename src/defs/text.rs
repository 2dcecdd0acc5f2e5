//! Untrusted text on a terminal: card titles, idea names, event payloads
//! and agent output can hold escape sequences that retitle a window, blink,
//! move the cursor or rewrite a line. [`terminal_safe`] is the one
//! rendering of such text for a terminal: control characters (C0 except
//! tab and newline, DEL, C1) and bidirectional overrides are shown as
//! visible escapes (`\x1b`, `\u{9b}`), so ESC/CSI/OSC/DCS never reach the
//! terminal. [`SafeWriter`] applies it to a byte stream (the CLI's text
//! output and errors); [`cell_safe`] is the one-cell form the TUI uses.
//! `--json` output is not filtered: JSON escapes every control character.

use std::borrow::Cow;
use std::io::{self, Write};

/// Whether `c` must not reach a terminal as it is.
pub fn is_unsafe(c: char) -> bool {
    let u = c as u32;
    (u < 0x20 && c != '\n' && c != '\t')
        || (0x7f..=0x9f).contains(&u)
        || matches!(u, 0x202a..=0x202e | 0x2066..=0x2069)
}

/// `s` with every unsafe character shown as a visible escape.
pub fn terminal_safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_visible(&mut out, c);
    }
    Cow::Owned(out)
}

fn push_visible(out: &mut String, c: char) {
    use std::fmt::Write as _;
    if !is_unsafe(c) {
        out.push(c);
    } else if (c as u32) < 0x80 {
        let _ = write!(out, "\\x{:02x}", c as u32);
    } else {
        let _ = write!(out, "\\u{{{:x}}}", c as u32);
    }
}

/// `s` as one line of text for a heading, a title or a name: control
/// characters (line breaks included) and bidi overrides become spaces,
/// and the ends are trimmed.
pub fn clean_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if is_unsafe(c) || c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect::<String>()
        .trim()
        .to_string()
}

/// One terminal cell's symbol made safe: an unsafe character becomes its
/// Unicode control picture (`␛` for ESC) or `�`, so the layout holds.
pub fn cell_safe(symbol: &str) -> Option<String> {
    if !symbol.chars().any(is_unsafe) {
        return None;
    }
    Some(
        symbol
            .chars()
            .map(|c| match c as u32 {
                u if !is_unsafe(c) => char::from_u32(u).unwrap_or('\u{fffd}'),
                u @ 0..=0x1f => char::from_u32(0x2400 + u).unwrap_or('\u{fffd}'),
                0x7f => '\u{2421}',
                _ => '\u{fffd}',
            })
            .collect(),
    )
}

/// A writer that shows unsafe characters visibly and bytes that are not
/// UTF-8 as `\xNN`; a character split across writes is held until whole.
pub struct SafeWriter<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> SafeWriter<W> {
    pub fn new(inner: W) -> SafeWriter<W> {
        SafeWriter {
            inner,
            pending: Vec::new(),
        }
    }

    fn emit(&mut self, mut bytes: &[u8], last: bool) -> io::Result<()> {
        let mut out = String::new();
        loop {
            match std::str::from_utf8(bytes) {
                Ok(s) => {
                    out.push_str(&terminal_safe(s));
                    self.pending.clear();
                    break;
                }
                Err(e) => {
                    let (good, rest) = bytes.split_at(e.valid_up_to());
                    out.push_str(&terminal_safe(
                        std::str::from_utf8(good).expect("valid up to here"),
                    ));
                    match e.error_len() {
                        Some(n) => {
                            for b in &rest[..n] {
                                out.push_str(&format!("\\x{b:02x}"));
                            }
                            bytes = &rest[n..];
                        }
                        None if last => {
                            for b in rest {
                                out.push_str(&format!("\\x{b:02x}"));
                            }
                            self.pending.clear();
                            break;
                        }
                        None => {
                            self.pending = rest.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        self.inner.write_all(out.as_bytes())
    }
}

impl<W: Write> Write for SafeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut bytes = std::mem::take(&mut self.pending);
        bytes.extend_from_slice(buf);
        self.emit(&bytes, false)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let bytes = std::mem::take(&mut self.pending);
            self.emit(&bytes, true)?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for SafeWriter<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_shown_never_passed() {
        let hostile = "title\x1b]0;owned\x07 \x1b[5mblink\u{9b}2J\r\u{202e}x\ttab\nline";
        let safe = terminal_safe(hostile);
        assert!(!safe.chars().any(is_unsafe), "{safe}");
        assert_eq!(
            safe,
            "title\\x1b]0;owned\\x07 \\x1b[5mblink\\u{9b}2J\\x0d\\u{202e}x\ttab\nline"
        );
        assert!(matches!(terminal_safe("plain ✓"), Cow::Borrowed(_)));
        assert_eq!(cell_safe("\x1b").as_deref(), Some("\u{241b}"));
        assert_eq!(cell_safe("a"), None);
        assert_eq!(
            clean_line("a\n## 2026-01-01 - b\x1b"),
            "a ## 2026-01-01 - b"
        );
    }

    #[test]
    fn the_writer_holds_split_characters_and_shows_bad_bytes() {
        let mut out = Vec::new();
        {
            let mut w = SafeWriter::new(&mut out);
            let s = "é\x1b".as_bytes();
            w.write_all(&s[..1]).unwrap();
            w.write_all(&s[1..]).unwrap();
            w.write_all(b"\xff\n").unwrap();
            w.write_all(b"\xc2").unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "é\\x1b\\xff\n\\xc2");
    }
}
