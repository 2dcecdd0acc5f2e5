//! Status and outcome markers: the `### MARKER` tokens that stages emit, that
//! status files hold and that routing keys on (spec §4.1, §6.2).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// A marker token, `[A-Z][A-Z0-9_]*` (without the `### `).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Marker(String);

impl Marker {
    /// The marker of an idle plane.
    pub fn idle() -> Marker {
        Marker("IDLE".into())
    }

    /// A marker from its token; `None` when it is not `[A-Z][A-Z0-9_]*`.
    pub fn parse(token: &str) -> Option<Marker> {
        is_marker(token).then(|| Marker(token.to_string()))
    }

    /// A marker taken from a compiled plan, whose markers the compiler has
    /// already checked.
    pub fn from_plan(token: &str) -> Marker {
        debug_assert!(is_marker(token), "{token}");
        Marker(token.to_string())
    }

    /// The token of a `### MARKER` line (a whole line, one space or more
    /// after the hashes).
    pub fn of_line(line: &str) -> Option<Marker> {
        let rest = line.strip_prefix("###")?;
        if !rest.starts_with(char::is_whitespace) {
            return None;
        }
        Marker::parse(rest.trim())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `[A-Z][A-Z0-9_]*`.
pub fn is_marker(token: &str) -> bool {
    let mut chars = token.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

impl fmt::Display for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for Marker {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Marker {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Marker {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl<'de> Deserialize<'de> for Marker {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Marker, D::Error> {
        let s = String::deserialize(d)?;
        Marker::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("`{s}` is not a marker ([A-Z][A-Z0-9_]*)"))
        })
    }
}

impl schemars::JsonSchema for Marker {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Marker".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "pattern": "^[A-Z][A-Z0-9_]*$" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_whole_upper_case_tokens() {
        assert_eq!(Marker::of_line("### QA_COMPLETE").unwrap(), "QA_COMPLETE");
        assert_eq!(Marker::of_line("### BLOCKED   ").unwrap(), "BLOCKED");
        for bad in ["###QA", "## QA", "### qa", "### 1A", "text ### QA", "### "] {
            assert_eq!(Marker::of_line(bad), None, "{bad}");
        }
        assert!(serde_json::from_str::<Marker>("\"nope\"").is_err());
        assert_eq!(serde_json::to_string(&Marker::idle()).unwrap(), "\"IDLE\"");
    }
}
