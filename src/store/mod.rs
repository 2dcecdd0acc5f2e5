//! Durable workspace files: atomic writes now; task stores, status files and
//! the event log as the runtime grows.

pub mod atomic;
