//! Millrace: a runtime for long-running, governed coding-agent work.
pub mod compile;
pub mod spec;
