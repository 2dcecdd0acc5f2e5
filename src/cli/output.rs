//! The one output path: every command returns a value that implements
//! [`Render`], and [`Output::print`] writes it as text or JSON to a buffered
//! stdout. JSON is what v0.2.0 prints (sorted keys, two-space indent) and
//! is written straight to the stream: large lists go element by element, so
//! no command builds its whole output in memory. A write error (a full disk,
//! a closed pipe) is returned, never ignored.

use std::io::{self, Write};

use clap::ValueEnum;
use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};

use crate::control::ControlError;

/// How a command prints its result (`--format`; `--json` is `--format json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
    /// Graphviz (`plan show` only).
    Dot,
    /// Mermaid (`plan show` only).
    Mermaid,
}

/// A command's result, printable as text and as JSON.
pub trait Render {
    fn text(&self, out: &mut dyn Write) -> io::Result<()>;
    fn json(&self, out: &mut dyn Write) -> io::Result<()>;
}

/// Buffered stdout with the chosen format. Not locked for the whole
/// command: `--monitor` prints from the run thread.
pub struct Output {
    pub format: Format,
    out: io::BufWriter<io::Stdout>,
}

impl Output {
    pub fn new(format: Format) -> Output {
        Output {
            format,
            out: io::BufWriter::with_capacity(64 << 10, io::stdout()),
        }
    }

    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// Prints `value` in the chosen format; a failed write is the
    /// command's failure ([`ControlError::Output`]).
    pub fn print(&mut self, value: &dyn Render) -> Result<(), ControlError> {
        match self.format {
            Format::Json => value.json(&mut self.out),
            // Text shows the data's control characters visibly.
            _ => value.text(&mut crate::defs::text::SafeWriter::new(&mut self.out)),
        }
        .map_err(ControlError::Output)
    }

    /// Writes text as it is (outputs with formats of their own).
    pub fn write_text(&mut self, text: &str) -> Result<(), ControlError> {
        self.out
            .write_all(crate::defs::text::terminal_safe(text).as_bytes())
            .map_err(ControlError::Output)
    }

    /// The raw writer, for outputs with formats of their own (`plan show`).
    pub fn writer(&mut self) -> &mut dyn Write {
        &mut self.out
    }

    pub fn flush(&mut self) -> Result<(), ControlError> {
        self.out.flush().map_err(ControlError::Output)
    }
}

fn pretty<W: Write>(
    out: W,
) -> serde_json::Serializer<W, serde_json::ser::PrettyFormatter<'static>> {
    serde_json::Serializer::with_formatter(
        out,
        serde_json::ser::PrettyFormatter::with_indent(b"  "),
    )
}

fn json_err(e: serde_json::Error) -> io::Error {
    match e.io_error_kind() {
        Some(kind) => io::Error::new(kind, e),
        None => io::Error::other(e),
    }
}

/// Writes `value` as sorted, indented JSON and a newline. The value is
/// sorted through `serde_json::Value`; types whose lists can be large
/// serialise them with [`SortedSeq`] instead.
pub fn write_json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    write_json_ordered(out, &Sorted(value))
}

/// Writes `value` as indented JSON and a newline, streaming: for values
/// whose fields are declared in sorted order and whose large lists are
/// [`SortedSeq`]s.
pub fn write_json_ordered<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    // The serializer writes token by token; a buffer of a concrete type
    // keeps those writes out of `dyn Write` calls.
    let mut buffered = io::BufWriter::with_capacity(64 << 10, out);
    value
        .serialize(&mut pretty(&mut buffered))
        .map_err(json_err)?;
    buffered.write_all(b"\n")?;
    buffered.flush()
}

/// Serialises like `T` with every object's keys sorted (through a
/// `serde_json::Value` of this one value).
pub struct Sorted<'a, T: ?Sized>(pub &'a T);

impl<T: Serialize + ?Sized> Serialize for Sorted<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_json::to_value(self.0)
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

/// A list streamed element by element, each element sorted on its own.
pub struct SortedSeq<'a, T>(pub &'a [T]);

impl<T: Serialize> Serialize for SortedSeq<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&Sorted(item))?;
        }
        seq.end()
    }
}
