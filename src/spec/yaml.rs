//! Bounded YAML loading with positions.
//!
//! A YAML file becomes a [`YamlDoc`]: a `serde_json::Value` (what JSON Schema
//! validation and typed deserialisation consume) plus a map from JSON pointer
//! to line and column, so that every later diagnostic — a schema violation, an
//! unknown stage kind, an unreachable node — can point at the exact place.
//!
//! Parsing is bounded: files over [`MAX_FILE_BYTES`] are refused before they
//! are read into the parser, alias expansion and node counts are capped (alias
//! bombs fail fast), and duplicate keys are errors rather than silently won by
//! the last one.

use std::collections::HashMap;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::{Location, Spanned};

use super::diag::{Diagnostic, Pos};

/// Largest YAML file we agree to parse (1 MiB): a 1,000-node loop is ~150 KiB.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// Most YAML nodes one file may expand to, aliases included.
const MAX_NODES: usize = 250_000;
/// Most events replayed through aliases in one file.
const MAX_ALIAS_REPLAY: usize = 20_000;

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
// A located diagnostic is the cold path; boxing it would only add noise.
#[allow(clippy::result_large_err)]
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
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    options.strict_booleans = true;
    options.with_snippet = false;
    options.alias_limits.max_total_replayed_events = MAX_ALIAS_REPLAY;
    options.alias_limits.max_alias_expansions_per_anchor = 1_000;
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = MAX_NODES;
    budget.max_depth = 64;
    options.budget = Some(budget);

    let root: Spanned<Node> = match serde_saphyr::from_str_with_options(text, options) {
        Ok(root) => root,
        Err(err) => return Err(yaml_error(file, &err)),
    };
    let mut doc = YamlDoc {
        value: Value::Null,
        positions: HashMap::new(),
        key_positions: HashMap::new(),
    };
    doc.value = lower(root, String::new(), &mut doc);
    Ok(doc)
}

fn yaml_error(file: &str, err: &serde_saphyr::Error) -> Diagnostic {
    let text = err.to_string();
    // serde-saphyr appends " at line X column Y"; we print the location ourselves.
    let message = match text.find(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text.clone(),
    };
    let lower_msg = message.to_ascii_lowercase();
    let (code, hint) = if lower_msg.contains("duplicate") {
        (
            "yaml.duplicate_key",
            Some("each key may appear once per mapping"),
        )
    } else if lower_msg.contains("alias") || lower_msg.contains("budget") {
        (
            "yaml.limit",
            Some("anchors and aliases are expanded with a bound; inline the values instead"),
        )
    } else {
        ("yaml.syntax", None)
    };
    let mut d = Diagnostic::error(code, format!("invalid YAML: {message}")).in_file(file);
    if let Some(loc) = err.location() {
        d = d.at(file, to_pos(loc));
    }
    if let Some(h) = hint {
        d = d.with_hint(h);
    }
    d
}

fn to_pos(loc: Location) -> Pos {
    Pos {
        line: loc.line().max(1),
        column: loc.column().max(1),
    }
}

fn lower(node: Spanned<Node>, pointer: String, doc: &mut YamlDoc) -> Value {
    doc.positions
        .insert(pointer.clone(), to_pos(node.referenced));
    match node.value {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Int(i) => Value::Number(i.into()),
        Node::UInt(u) => Value::Number(u.into()),
        Node::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Node::Str(s) => Value::String(s),
        Node::Seq(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| lower(item, pointer_push(&pointer, &i.to_string()), doc))
                .collect(),
        ),
        Node::Map(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                let child = pointer_push(&pointer, &key.value);
                doc.key_positions
                    .insert(child.clone(), to_pos(key.referenced));
                let v = lower(value, child, doc);
                map.insert(key.value, v);
            }
            Value::Object(map)
        }
    }
}

/// A YAML node as the deserializer sees it, with spans on every child.
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
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
    fn oversized_files_are_refused_before_parsing() {
        let text = "a: 1\n".repeat(MAX_FILE_BYTES / 4);
        let err = parse("big.yaml", &text).unwrap_err();
        assert_eq!(err.code, "yaml.too_large");
    }
}
