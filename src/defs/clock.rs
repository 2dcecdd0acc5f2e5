//! The one clock: "now" and "today" for every layer.
//!
//! Every wall-clock read in millrace goes through [`now`]; nothing else calls
//! `Timestamp::now` or `SystemTime::now` (`tests/layers.rs` checks). Elapsed
//! times and deadlines use `std::time::Instant`, which no pin changes.
//!
//! **Today is the UTC date, everywhere**: card ids and headings, the prompt's
//! `today`, usage days, `--since today`, budget windows, batch ids and blocker
//! headings. v0.2.0 used the machine's local date for card headings and UTC
//! for the rest, so an id depended on where and when it was made; ours does
//! not (the README's differences section says so).
//!
//! **The test hook** is one environment variable the binary honours,
//! `MILLRACE_NOW`:
//! - `2026-11-24T12:00:00Z` — the process's clock reads that instant at its
//!   first read and advances with the monotonic clock from there;
//! - `2026-11-24T12:00:00Z@1764000000.25` — that instant is pinned to the
//!   given real Unix time (seconds), and the clock advances with the real
//!   clock, so every process one test starts shares one clock that never
//!   goes backwards between them.
//!
//! A malformed value is refused at startup ([`check_env`]) rather than
//! silently ignored. Unit tests pin the clock of their own thread with
//! [`pin`].

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::Instant;

use jiff::{civil::Date, tz::TimeZone, SignedDuration, Timestamp};

/// The environment variable that pins the clock.
pub const ENV: &str = "MILLRACE_NOW";

/// Where "now" comes from in this process.
#[derive(Debug, Clone, Copy)]
enum Source {
    System,
    /// The real clock shifted by a fixed amount.
    Shifted(SignedDuration),
    /// A fixed instant at process start, advanced by the monotonic clock.
    Started(Timestamp, Instant),
}

/// `MILLRACE_NOW` could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{ENV}={value:?} is not a pinned time: {reason} (expected e.g. 2026-11-24T12:00:00Z or 2026-11-24T12:00:00Z@1764000000.25)")]
pub struct ClockError {
    value: String,
    reason: String,
}

fn parse(value: &str) -> Result<Source, ClockError> {
    let err = |reason: String| ClockError {
        value: value.to_string(),
        reason,
    };
    let (at, anchor) = match value.split_once('@') {
        Some((at, anchor)) => (at, Some(anchor)),
        None => (value, None),
    };
    let at: Timestamp = at.trim().parse().map_err(|e| err(format!("{e}")))?;
    match anchor {
        None => Ok(Source::Started(at, Instant::now())),
        Some(anchor) => {
            let secs: f64 = anchor
                .trim()
                .parse()
                .map_err(|_| err(format!("`{anchor}` is not a number of seconds")))?;
            if !secs.is_finite() {
                return Err(err(format!("`{anchor}` is not a finite number")));
            }
            let real = SignedDuration::try_from_secs_f64(secs).map_err(|e| err(format!("{e}")))?;
            let shift = at.as_duration() - real;
            Ok(Source::Shifted(shift))
        }
    }
}

fn source() -> Source {
    static SOURCE: OnceLock<Source> = OnceLock::new();
    *SOURCE.get_or_init(|| match std::env::var(ENV) {
        Ok(v) if !v.trim().is_empty() => parse(&v).unwrap_or(Source::System),
        _ => Source::System,
    })
}

/// Refuses a malformed `MILLRACE_NOW` (called once at startup).
pub fn check_env() -> Result<(), ClockError> {
    match std::env::var(ENV) {
        Ok(v) if !v.trim().is_empty() => parse(&v).map(|_| ()),
        _ => Ok(()),
    }
}

thread_local! {
    static PINNED: Cell<Option<Timestamp>> = const { Cell::new(None) };
}

/// Pins this thread's clock to `at` until the guard drops (unit tests).
pub fn pin(at: Timestamp) -> Pin {
    let before = PINNED.with(|p| p.replace(Some(at)));
    Pin { before }
}

/// Restores the thread's clock when dropped; see [`pin`].
#[must_use = "the pin lasts as long as the guard"]
pub struct Pin {
    before: Option<Timestamp>,
}

impl Drop for Pin {
    fn drop(&mut self) {
        PINNED.with(|p| p.set(self.before));
    }
}

/// The current instant.
pub fn now() -> Timestamp {
    if let Some(at) = PINNED.with(Cell::get) {
        return at;
    }
    #[allow(clippy::disallowed_methods)]
    let real = Timestamp::now();
    match source() {
        Source::System => real,
        Source::Shifted(shift) => real.checked_add(shift).unwrap_or(real),
        Source::Started(at, origin) => {
            let elapsed = SignedDuration::try_from(origin.elapsed()).unwrap_or_default();
            at.checked_add(elapsed).unwrap_or(at)
        }
    }
}

/// Today's date, in UTC.
pub fn today() -> Date {
    now().to_zoned_datetime(TimeZone::UTC).date()
}

/// Today as `2026-11-24` (card headings and ids, the prompt's `today`).
pub fn today_str() -> String {
    today().strftime("%Y-%m-%d").to_string()
}

/// UTC ISO-8601 with microseconds and `Z`: `2026-11-23T23:41:59.868262Z`,
/// the format v0.2.0 writes.
pub fn now_iso() -> String {
    iso(now())
}

/// `at` as UTC ISO-8601 with microseconds and `Z`.
pub fn iso(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Compact UTC stamp for ids: `20261123T234159868262Z`.
pub fn now_stamp() -> String {
    now().strftime("%Y%m%dT%H%M%S%6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn formats_follow_the_pinned_clock() {
        let _pin = pin(at("2040-02-29T23:59:30.5Z"));
        assert_eq!(now_iso(), "2040-02-29T23:59:30.500000Z");
        assert_eq!(now_stamp(), "20400229T235930500000Z");
        assert_eq!(today_str(), "2040-02-29");
    }

    #[test]
    fn a_pin_is_undone_by_its_guard() {
        {
            let _pin = pin(at("2001-01-01T00:00:00Z"));
            assert_eq!(today_str(), "2001-01-01");
        }
        assert_ne!(today_str(), "2001-01-01");
    }

    #[test]
    fn an_anchored_pin_shifts_the_real_clock() {
        let Source::Shifted(shift) = parse("2026-11-24T12:00:00Z@1000").unwrap() else {
            panic!("not shifted");
        };
        let real = Timestamp::from_second(1000).unwrap();
        assert_eq!(real + shift, at("2026-11-24T12:00:00Z"));
    }

    #[test]
    fn a_plain_pin_starts_there_and_advances() {
        let Source::Started(start, _) = parse("2026-11-24T12:00:00Z").unwrap() else {
            panic!("not started");
        };
        assert_eq!(start, at("2026-11-24T12:00:00Z"));
    }

    #[test]
    fn malformed_pins_are_refused_with_the_value() {
        for bad in [
            "tomorrow",
            "2026-11-24T12:00:00Z@soon",
            "2026-11-24T12:00:00Z@inf",
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }
}
