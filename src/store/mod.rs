//! Durable workspace files: task stores and their lock and journal, status
//! files, the event log and run records. Every write is atomic; every queue
//! mutation holds the queue lock and goes through the journal, so a crash at
//! any instant leaves each card in exactly one store.

pub mod atomic;
pub mod audit_summary;
pub mod cards;
pub mod diagnostics;
pub mod event_docs;
pub mod event_kind;
pub mod events;
pub mod failpoint;
pub mod guard;
pub mod history;
pub mod journal;
pub mod latch;
pub mod ledger;
pub mod lock;
pub mod queue;
pub mod research;
pub mod run_records;
pub mod runs;
pub mod safe;
pub mod status;
pub mod stream;
pub mod v020;
pub mod workspace;
