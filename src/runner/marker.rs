//! Outcome markers: a whole line `### MARKER` (spec §6.2).

use crate::defs::marker::Marker;

/// The last marker line of `text`, if any.
pub fn last_marker(text: &str) -> Option<Marker> {
    text.lines().rev().find_map(Marker::of_line)
}

#[cfg(test)]
mod tests {
    use super::last_marker;

    #[test]
    fn last_whole_line_marker_wins() {
        let last = |t: &str| last_marker(t).map(|m| m.to_string());
        assert_eq!(
            last("### QA_RUNNING\nwork\n### QA_COMPLETE\n").as_deref(),
            Some("QA_COMPLETE")
        );
        assert_eq!(last("text ### QA_COMPLETE\n"), None);
        assert_eq!(last("###QA_COMPLETE\n"), None);
        assert_eq!(last("### qa_complete\n"), None);
        assert_eq!(
            last("### BLOCKED   \ntrailing prose\n").as_deref(),
            Some("BLOCKED")
        );
        assert_eq!(last_marker(""), None);
    }
}
