//! Definitions every layer shares: the authoring formats (the serde types of
//! stage kinds, loops, modes and `millrace.toml`, their generated JSON
//! Schemas, bounded YAML loading), located diagnostics, and the record types
//! that both `store` and `runner` write.
//!
//! This layer knows nothing about graphs, plans or the file system layout of a
//! workspace; everything to its right builds on these types.

pub mod clock;
pub mod config;
pub mod diag;
pub mod layout;
pub mod loop_def;
pub mod marker;
pub mod mode;
pub mod records;
pub mod research;
pub mod runner_kind;
pub mod schema;
pub mod stage_kind;
pub mod text;
pub mod yaml;

/// The serialised name of a unit enum variant (`needs_research`), for
/// messages and records that spell enums the way the files do.
pub fn serde_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
