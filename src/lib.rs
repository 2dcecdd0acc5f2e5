//! Millrace: a runtime for long-running, governed coding-agent work.
pub mod cli;
pub mod compile;
pub mod control;
pub mod defs;
pub mod engine;
pub mod interp;
pub mod runner;
pub mod store;
pub mod tui;
