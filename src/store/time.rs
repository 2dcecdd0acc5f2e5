//! Timestamps in the formats v0.2.0 writes.

use jiff::{tz::TimeZone, Timestamp};

/// UTC ISO-8601 with microseconds and `Z`: `2026-11-23T23:41:59.868262Z`.
pub fn now_iso() -> String {
    Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// Compact UTC stamp for ids: `20261123T234159868262Z`.
pub fn now_stamp() -> String {
    Timestamp::now().strftime("%Y%m%dT%H%M%S%6fZ").to_string()
}

/// Local calendar date for card headings: `2026-11-23`.
pub fn local_date() -> String {
    Timestamp::now()
        .to_zoned_datetime(TimeZone::system())
        .strftime("%Y-%m-%d")
        .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        let iso = super::now_iso();
        assert_eq!(iso.len(), 27, "{iso}");
        assert!(iso.ends_with('Z'));
        let stamp = super::now_stamp();
        assert_eq!(stamp.len(), 22, "{stamp}");
        assert_eq!(super::local_date().len(), 10);
    }
}
