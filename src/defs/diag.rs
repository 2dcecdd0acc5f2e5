//! Located diagnostics: the one error currency of loading and compiling.
//!
//! Every problem found in an input file becomes a [`Diagnostic`] that names the
//! file, line and column, says what was expected and, where useful, carries a
//! `hint:`. Phases collect diagnostics instead of stopping at the first one, so
//! a user sees every problem of a broken overlay at once.

use std::fmt;

use serde::Serialize;

/// A 1-based line and column inside a source file.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, column: 1 };

    /// From 1-based counts; saturates on files too big to matter.
    pub fn new(line: usize, column: usize) -> Pos {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).max(1);
        Pos {
            line: clamp(line),
            column: clamp(column),
        }
    }
}

/// How bad a diagnostic is. Only errors make compilation fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// Every diagnostic code, sorted. Each has a fixture under
/// `tests/fixtures/diagnostics/<code>.fixture` whose located message is
/// snapshot-tested, and docs/authoring.md lists them.
pub const CODES: &[&str] = &[
    "artifact.invalid",
    "artifact.missing_producer",
    "budget.unpriced",
    "config.invalid",
    "config.unknown_stage_kind",
    "graph.dead_edge",
    "graph.dead_end",
    "graph.duplicate_edge",
    "graph.fact_type",
    "graph.illegal_outcome",
    "graph.name_clash",
    "graph.no_entry",
    "graph.plane_mismatch",
    "graph.unbounded_cycle",
    "graph.unhandled_outcome",
    "graph.unknown_fact",
    "graph.unknown_stage_kind",
    "graph.unknown_target",
    "graph.unreachable",
    "graph.unused_terminal",
    "io.read",
    "mode.broken_loop",
    "mode.no_execution",
    "mode.plane_mismatch",
    "mode.unknown",
    "mode.unknown_loop",
    "mode.unknown_stage_kind",
    "override.not_allowed",
    "path.escape",
    "path.loop",
    "path.special",
    "prompt.artifact_contract",
    "prompt.include",
    "prompt.missing",
    "prompt.syntax",
    "prompt.unknown_variable",
    "registry.duplicate",
    "registry.extends_cycle",
    "registry.plane_mismatch",
    "registry.unknown_edge",
    "registry.unknown_loop",
    "registry.unknown_node",
    "resume.duplicate",
    "resume.no_edge",
    "runner.model_family",
    "runner.unknown",
    "schema.unknown_field",
    "schema.violation",
    "stage.failure_outcome",
    "threshold.bad_limit",
    "threshold.bad_reset",
    "threshold.double_count",
    "threshold.duplicate",
    "threshold.reset_cycle",
    "yaml.complex_key",
    "yaml.duplicate_key",
    "yaml.limit",
    "yaml.multiple_documents",
    "yaml.syntax",
    "yaml.tag",
    "yaml.too_large",
];

/// One problem in one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable machine-readable class, e.g. `yaml.syntax`, `graph.unreachable`.
    pub code: &'static str,
    pub message: String,
    /// Display path of the file (`packaged:loops/execution/standard.yaml` or a
    /// path relative to the workspace); `None` for problems without a file.
    pub file: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        debug_assert!(CODES.contains(&code), "unlisted diagnostic code {code}");
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            file: None,
            line: None,
            column: None,
            hint: None,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        debug_assert!(CODES.contains(&code), "unlisted diagnostic code {code}");
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    pub fn at(mut self, file: impl Into<String>, pos: Pos) -> Self {
        self.file = Some(file.into());
        self.line = Some(pos.line);
        self.column = Some(pos.column);
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Sort key: by file, then position, then message, so output is stable.
    fn sort_key(&self) -> (Option<&str>, u32, u32, &str) {
        (
            self.file.as_deref(),
            self.line.unwrap_or(0),
            self.column.unwrap_or(0),
            &self.message,
        )
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{label}[{}]: {}", self.code, self.message)?;
        if let Some(file) = &self.file {
            write!(f, "\n  --> {file}")?;
            if let (Some(line), Some(col)) = (self.line, self.column) {
                write!(f, ":{line}:{col}")?;
            }
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  = hint: {hint}")?;
        }
        Ok(())
    }
}

/// An ordered collection of diagnostics gathered across phases.
#[derive(Debug, Default, Clone, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.0.extend(other);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.0.len() - self.error_count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    /// Sorts by location and drops exact duplicates (the same problem can be
    /// seen from two loops that share a stage kind).
    pub fn finish(mut self) -> Self {
        self.0.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        self.0.dedup();
        self
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.0
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Suggests the closest known name for a misspelt one (edit distance ≤ 2).
pub fn did_you_mean<'a>(
    unknown: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (edit_distance(unknown, k), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let known = ["builder", "qa", "update"];
        assert_eq!(did_you_mean("buidler", known), Some("builder"));
        assert_eq!(did_you_mean("zzzzzz", known), None);
    }

    #[test]
    fn display_names_file_line_column_and_hint() {
        let d = Diagnostic::error("graph.unreachable", "node `x` is unreachable")
            .at("loops/a.yaml", Pos { line: 3, column: 5 })
            .with_hint("add an edge to it");
        assert_eq!(
            d.to_string(),
            "error[graph.unreachable]: node `x` is unreachable\n  --> loops/a.yaml:3:5\n  = hint: add an edge to it"
        );
    }
}
