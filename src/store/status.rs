//! Plane status files (`agents/status.md`, `agents/research_status.md`):
//! exactly one `### MARKER` line each (spec §4.1).

use crate::defs::layout::Layout;
use std::path::{Path, PathBuf};

use crate::defs::marker::Marker;
use crate::defs::stage_kind::Plane;

use super::atomic;

pub fn path(agents: &Path, plane: Plane) -> PathBuf {
    Layout::of(agents).status(plane)
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("{}: status files must contain exactly one authoritative marker line, found {found:?}", .path.display())]
    Malformed { path: PathBuf, found: String },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Reads the marker token (without `### `). A missing file reads as `IDLE`.
pub fn read(agents: &Path, plane: Plane) -> Result<Marker, StatusError> {
    let path = path(agents, plane);
    let text = match super::safe::read_text(&path, 64 * 1024) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Marker::idle()),
        Err(source) => return Err(StatusError::Io { path, source }),
    };
    parse(&text).ok_or_else(|| StatusError::Malformed {
        path,
        found: text.chars().take(80).collect(),
    })
}

/// The token of a status file's text, if it holds exactly one marker line,
/// read by the one marker-line parser ([`Marker::of_line`]) that stage
/// output is read with, so `###IDLE` is refused here as it is there.
pub fn parse(text: &str) -> Option<Marker> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let marker = Marker::of_line(lines.next()?.trim())?;
    if lines.next().is_some() {
        return None;
    }
    Some(marker)
}

/// Writes `### <marker>` atomically. Status files are derived state (runs
/// resume from their fsynced transition history), so the write does not wait
/// for the disk.
pub fn write(agents: &Path, plane: Plane, marker: &Marker) -> Result<(), StatusError> {
    let path = path(agents, plane);
    atomic::write_volatile(&path, format!("### {marker}\n").as_bytes())
        .map_err(|source| StatusError::Io { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_marker_line() {
        assert_eq!(parse("### QA_RUNNING\n").unwrap(), "QA_RUNNING");
        assert_eq!(parse("\n###   IDLE  \n\n").unwrap(), "IDLE");
        assert_eq!(parse("### A\n### B\n"), None);
        assert_eq!(parse("QA_RUNNING\n"), None);
        assert_eq!(parse("### qa\n"), None);
        // The same rule as stage output: a space after the hashes.
        assert_eq!(parse("###IDLE\n"), None);
        for text in ["### QA_COMPLETE", "###QA_COMPLETE", "#### QA_COMPLETE"] {
            assert_eq!(
                parse(text),
                text.lines().rev().find_map(Marker::of_line),
                "{text}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path(), Plane::Execution).unwrap(), "IDLE");
        write(
            dir.path(),
            Plane::Execution,
            &Marker::from_plan("QA_COMPLETE"),
        )
        .unwrap();
        assert_eq!(read(dir.path(), Plane::Execution).unwrap(), "QA_COMPLETE");
    }
}
