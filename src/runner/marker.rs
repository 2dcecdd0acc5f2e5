//! Outcome markers: a whole line `### MARKER` (spec §6.2).

/// The last marker line of `text`, if any.
pub fn last_marker(text: &str) -> Option<&str> {
    text.lines().rev().find_map(marker_of_line)
}

fn marker_of_line(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("###")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let token = rest.trim();
    crate::defs::stage_kind::is_marker(token).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::last_marker;

    #[test]
    fn last_whole_line_marker_wins() {
        assert_eq!(
            last_marker("### QA_RUNNING\nwork\n### QA_COMPLETE\n"),
            Some("QA_COMPLETE")
        );
        assert_eq!(last_marker("text ### QA_COMPLETE\n"), None);
        assert_eq!(last_marker("###QA_COMPLETE\n"), None);
        assert_eq!(last_marker("### qa_complete\n"), None);
        assert_eq!(
            last_marker("### BLOCKED   \ntrailing prose\n"),
            Some("BLOCKED")
        );
        assert_eq!(last_marker(""), None);
    }
}
