//! Bounded YAML loading with positions.
//!
//! A YAML file becomes a [`YamlDoc`]: a `serde_json::Value` (what JSON Schema
//! validation and typed deserialisation consume) plus a map from JSON pointer
//! to line and column, so that every later diagnostic — a schema violation, an
//! unknown stage kind, an unreachable node — can point at the exact place.
//!
//! The tree is built in one pass over the event stream of serde-saphyr's
//! parser (`granit_parser`), which is three times faster than deserialising
//! through `Spanned` wrappers and lets us enforce the bounds ourselves: files
//! over [`MAX_FILE_BYTES`] are refused before parsing, the number of nodes
//! (alias expansions included, checked *before* an alias is copied) and the
//! nesting depth are capped, and duplicate keys are errors rather than
//! silently won by the last one. Scalars resolve by the YAML 1.2 core schema
//! with strict booleans (`on`/`yes` stay strings).

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use serde_saphyr::granit_parser::{Event, Marker, Parser, ScalarStyle, Tag};

use super::diag::{Diagnostic, Pos};

/// Largest YAML file we agree to parse (1 MiB): a 1,000-node loop is ~200 KiB.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// Most YAML nodes one file may expand to, aliases included.
const MAX_NODES: usize = 250_000;
/// Deepest nesting of collections.
const MAX_DEPTH: usize = 64;

/// A parsed YAML document and where each of its values came from.
#[derive(Debug, Clone)]
pub struct YamlDoc {
    pub value: Value,
    positions: HashMap<String, Pos>,
    key_positions: HashMap<String, Pos>,
}

impl YamlDoc {
    /// Position of the value at `pointer` (RFC 6901), or of its nearest
    /// ancestor that has one.
    pub fn pos(&self, pointer: &str) -> Pos {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.positions.get(p) {
                return *pos;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return Pos::START,
            }
        }
    }

    /// Position of the mapping key that names the value at `pointer`; falls
    /// back to the value's position.
    pub fn key_pos(&self, pointer: &str) -> Pos {
        self.key_positions
            .get(pointer)
            .copied()
            .unwrap_or_else(|| self.pos(pointer))
    }
}

/// Appends one reference token to a JSON pointer, escaping `~` and `/`.
pub fn pointer_push(base: &str, token: &str) -> String {
    let mut s = String::with_capacity(base.len() + token.len() + 1);
    s.push_str(base);
    s.push('/');
    for c in token.chars() {
        match c {
            '~' => s.push_str("~0"),
            '/' => s.push_str("~1"),
            c => s.push(c),
        }
    }
    s
}

/// Parses `text` (the contents of `file`) into a [`YamlDoc`].
pub fn parse(file: &str, text: &str) -> Result<YamlDoc, Diagnostic> {
    if text.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::error(
            "yaml.too_large",
            format!(
                "file is {} bytes; the limit is {} bytes",
                text.len(),
                MAX_FILE_BYTES
            ),
        )
        .in_file(file)
        .with_hint("split the definition into smaller files"));
    }
    let mut b = Builder {
        file,
        doc: YamlDoc {
            value: Value::Null,
            positions: HashMap::new(),
            key_positions: HashMap::new(),
        },
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        documents: 0,
        root: None,
    };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            Diagnostic::error("yaml.syntax", format!("invalid YAML: {}", e.info()))
                .at(file, to_pos(e.marker()))
        })?;
        b.event(event, to_pos(&span.start))?;
    }
    b.doc.value = b.root.unwrap_or(Value::Null);
    Ok(b.doc)
}

fn to_pos(m: &Marker) -> Pos {
    Pos::new(m.line(), m.col() + 1)
}

struct Frame {
    pointer: String,
    anchor: usize,
    /// Nodes in this collection, for the budget of its aliases.
    size: usize,
    kind: FrameKind,
}

enum FrameKind {
    Seq(Vec<Value>),
    /// A mapping and the key waiting for its value.
    Map(Map<String, Value>, Option<String>),
}

struct Builder<'a> {
    file: &'a str,
    doc: YamlDoc,
    stack: Vec<Frame>,
    /// Anchored values with their node counts.
    anchors: HashMap<usize, (Value, usize)>,
    nodes: usize,
    documents: usize,
    root: Option<Value>,
}

impl Builder<'_> {
    fn error(&self, code: &'static str, message: String, at: Pos) -> Diagnostic {
        Diagnostic::error(code, message).at(self.file, at)
    }

    fn count(&mut self, n: usize, at: Pos) -> Result<(), Diagnostic> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(self
                .error(
                    "yaml.limit",
                    format!("document expands to more than {MAX_NODES} nodes"),
                    at,
                )
                .with_hint(
                    "anchors and aliases are expanded with a bound; inline the values instead",
                ));
        }
        if let Some(top) = self.stack.last_mut() {
            top.size += n;
        }
        Ok(())
    }

    /// Pointer of the node about to be attached to the top frame, or an
    /// error when the node would be a mapping key that is not a scalar.
    fn child_pointer(&self, at: Pos) -> Result<String, Diagnostic> {
        match self.stack.last() {
            None => Ok(String::new()),
            Some(Frame {
                kind: FrameKind::Seq(items),
                pointer,
                ..
            }) => Ok(pointer_push(pointer, &items.len().to_string())),
            Some(Frame {
                kind: FrameKind::Map(_, Some(key)),
                pointer,
                ..
            }) => Ok(pointer_push(pointer, key)),
            Some(Frame {
                kind: FrameKind::Map(_, None),
                ..
            }) => Err(self.error(
                "yaml.complex_key",
                "mapping keys must be plain scalars".into(),
                at,
            )),
        }
    }

    fn attach(&mut self, value: Value) {
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame {
                kind: FrameKind::Seq(items),
                ..
            }) => items.push(value),
            Some(Frame {
                kind: FrameKind::Map(map, key),
                ..
            }) => {
                let key = key.take().expect("child_pointer checked the key");
                map.insert(key, value);
            }
        }
    }

    /// Definitions are plain data: only the YAML core schema's own tags
    /// (`!!str`, `!!int`…) are allowed, never an application tag such as
    /// `!!python/object`, which would otherwise be silently ignored.
    fn check_tag(&self, tag: Option<&Tag>, at: Pos) -> Result<(), Diagnostic> {
        match tag {
            Some(t) if !t.is_yaml_core_schema() => Err(self.error(
                "yaml.tag",
                format!("the tag `{t}` is not allowed; definitions are plain data"),
                at,
            )),
            _ => Ok(()),
        }
    }

    /// A scalar where a mapping expects a key is that key (true); a key
    /// the mapping already has is an error naming the first.
    fn key(&mut self, text: &str, at: Pos) -> Result<bool, Diagnostic> {
        let Some(Frame {
            kind: FrameKind::Map(map, key @ None),
            pointer,
            ..
        }) = self.stack.last_mut()
        else {
            return Ok(false);
        };
        let child = pointer_push(pointer, text);
        if map.contains_key(text) {
            let first = self
                .doc
                .key_positions
                .get(&child)
                .copied()
                .unwrap_or(Pos::START);
            return Err(self
                .error(
                    "yaml.duplicate_key",
                    format!("invalid YAML: duplicate mapping key `{text}`"),
                    at,
                )
                .with_hint(format!(
                    "each key may appear once per mapping; the first is at line {}",
                    first.line
                )));
        }
        *key = Some(text.to_string());
        self.doc.key_positions.insert(child, at);
        Ok(true)
    }

    /// A scalar: a mapping's key, or a value resolved and attached where
    /// the stack expects it.
    fn scalar(
        &mut self,
        text: &str,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<&Tag>,
        at: Pos,
    ) -> Result<(), Diagnostic> {
        if self.key(text, at)? {
            return Ok(());
        }
        self.check_tag(tag, at)?;
        let pointer = self.child_pointer(at)?;
        self.count(1, at)?;
        let value = resolve_scalar(text, style, tag);
        if anchor != 0 {
            self.anchors.insert(anchor, (value.clone(), 1));
        }
        self.doc.positions.insert(pointer, at);
        self.attach(value);
        Ok(())
    }

    fn event(&mut self, event: Event<'_>, at: Pos) -> Result<(), Diagnostic> {
        match event {
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(self.error(
                        "yaml.multiple_documents",
                        "a definition file holds one YAML document".into(),
                        at,
                    ));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.scalar(&text, style, anchor, tag.as_deref(), at)?
            }
            Event::SequenceStart(_, anchor, ref tag) | Event::MappingStart(_, anchor, ref tag) => {
                self.check_tag(tag.as_deref(), at)?;
                let pointer = self.child_pointer(at)?;
                self.count(1, at)?;
                if self.stack.len() >= MAX_DEPTH {
                    return Err(self.error(
                        "yaml.limit",
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                        at,
                    ));
                }
                self.doc.positions.insert(pointer.clone(), at);
                let kind = if matches!(event, Event::SequenceStart(..)) {
                    FrameKind::Seq(Vec::new())
                } else {
                    FrameKind::Map(Map::new(), None)
                };
                self.stack.push(Frame {
                    pointer,
                    anchor,
                    size: 1,
                    kind,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let frame = self.stack.pop().expect("parser balances collections");
                let value = match frame.kind {
                    FrameKind::Seq(items) => Value::Array(items),
                    FrameKind::Map(map, _) => Value::Object(map),
                };
                if let Some(parent) = self.stack.last_mut() {
                    parent.size += frame.size;
                }
                if frame.anchor != 0 {
                    self.anchors
                        .insert(frame.anchor, (value.clone(), frame.size));
                }
                self.attach(value);
            }
            Event::Alias(id) => {
                let pointer = self.child_pointer(at)?;
                let Some(&(_, size)) = self.anchors.get(&id) else {
                    return Err(self.error("yaml.syntax", "alias to an unknown anchor".into(), at));
                };
                // Count before copying, so an alias bomb fails before it grows.
                self.count(size, at)?;
                let value = self.anchors[&id].0.clone();
                self.doc.positions.insert(pointer, at);
                self.attach(value);
            }
            _ => {}
        }
        Ok(())
    }
}

/// YAML 1.2 core schema resolution with strict booleans.
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(tag) = tag {
        if tag.is_yaml_core_schema_tag("str") || !tag.is_yaml_core_schema() {
            return Value::String(text.to_string());
        }
    }
    if style != ScalarStyle::Plain {
        return Value::String(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = parse_int(text) {
        return n;
    }
    if looks_like_float(text) {
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

fn parse_int(text: &str) -> Option<Value> {
    let (neg, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(h) = digits.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = digits.strip_prefix("0o") {
        (8, o)
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        let n = i64::try_from(magnitude).ok()?;
        Some(Value::Number((-n).into()))
    } else {
        Some(Value::Number(magnitude.into()))
    }
}

fn looks_like_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let mut digits = 0;
    let mut dot = false;
    let mut exp = false;
    let mut prev = ' ';
    for c in body.chars() {
        match c {
            '0'..='9' => digits += 1,
            '.' if !dot && !exp => dot = true,
            'e' | 'E' if !exp && digits > 0 => exp = true,
            '-' | '+' if prev == 'e' || prev == 'E' => {}
            _ => return false,
        }
        prev = c;
    }
    digits > 0 && (dot || exp) && !matches!(prev, 'e' | 'E' | '-' | '+')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_positions_of_values_and_keys() {
        let doc = parse(
            "t.yaml",
            "id: a\nnodes:\n  builder:\n    stage: builder\non: [X, Y]\n",
        )
        .unwrap();
        assert_eq!(doc.value["nodes"]["builder"]["stage"], "builder");
        assert_eq!(
            doc.pos("/nodes/builder/stage"),
            Pos {
                line: 4,
                column: 12
            }
        );
        assert_eq!(doc.key_pos("/nodes/builder"), Pos { line: 3, column: 3 });
        assert_eq!(doc.pos("/on/1"), Pos { line: 5, column: 9 });
        // unknown pointers fall back to the nearest ancestor
        assert_eq!(
            doc.pos("/nodes/builder/stage/zzz"),
            Pos {
                line: 4,
                column: 12
            }
        );
    }

    #[test]
    fn yaml_11_booleans_stay_strings() {
        let doc = parse("t.yaml", "a: on\nb: yes\nc: true\nd: 3\ne: ~\n").unwrap();
        assert_eq!(doc.value["a"], "on");
        assert_eq!(doc.value["b"], "yes");
        assert_eq!(doc.value["c"], true);
        assert_eq!(doc.value["d"], 3);
        assert!(doc.value["e"].is_null());
    }

    #[test]
    fn duplicate_keys_are_located_errors() {
        let err = parse("t.yaml", "id: a\nid: b\n").unwrap_err();
        assert_eq!(err.code, "yaml.duplicate_key");
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = parse("t.yaml", "id: a\nnodes: [a, b\nx: 1\n").unwrap_err();
        assert_eq!(err.code, "yaml.syntax");
        assert!(err.line.is_some(), "{err}");
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
        let mut prev = "a";
        for n in names {
            text.push_str(&format!(
                "{n}: &{n} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
            prev = n;
        }
        let err = parse("bomb.yaml", &text).unwrap_err();
        assert_eq!(err.code, "yaml.limit", "{err}");
    }

    #[test]
    fn core_schema_scalars() {
        let doc = parse(
            "t.yaml",
            "a: 0x1f\nb: -3\nc: 1.5e3\nd: '7'\ne: 1.2.3\nf: .5\ng: !!str 12\n",
        )
        .unwrap();
        assert_eq!(doc.value["a"], 31);
        assert_eq!(doc.value["b"], -3);
        assert_eq!(doc.value["c"], 1500.0);
        assert_eq!(doc.value["d"], "7");
        assert_eq!(doc.value["e"], "1.2.3");
        assert_eq!(doc.value["f"], 0.5);
        assert_eq!(doc.value["g"], "12");
    }

    #[test]
    fn small_aliases_expand() {
        let doc = parse("t.yaml", "a: &x {k: 1}\nb: *x\nc: &s hi\nd: *s\n").unwrap();
        assert_eq!(doc.value["b"]["k"], 1);
        assert_eq!(doc.value["d"], "hi");
    }

    #[test]
    fn oversized_files_are_refused_before_parsing() {
        let text = "a: 1\n".repeat(MAX_FILE_BYTES / 4);
        let err = parse("big.yaml", &text).unwrap_err();
        assert_eq!(err.code, "yaml.too_large");
    }
}
