//! JSON Schemas generated from the authoring types, and validation of parsed
//! YAML against them before typed deserialisation.
//!
//! The schemas are checked in under `schemas/` (editors use them through the
//! `# yaml-language-server: $schema=…` line of every packaged file); a test
//! fails when the checked-in copies drift from the Rust types.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::config::Config;
use super::diag::{did_you_mean, Diagnostic};
use super::loop_def::LoopDef;
use super::mode::ModeDef;
use super::stage_kind::StageKind;
use super::yaml::{pointer_push, YamlDoc};

/// The authored document kinds, each with one schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DocKind {
    StageKind,
    Loop,
    Mode,
    Config,
}

impl DocKind {
    pub const ALL: [DocKind; 4] = [
        DocKind::StageKind,
        DocKind::Loop,
        DocKind::Mode,
        DocKind::Config,
    ];

    /// File name under `schemas/`.
    pub fn schema_file(self) -> &'static str {
        match self {
            DocKind::StageKind => "stage-kind.schema.json",
            DocKind::Loop => "loop.schema.json",
            DocKind::Mode => "mode.schema.json",
            DocKind::Config => "config.schema.json",
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            DocKind::StageKind => "stage kind",
            DocKind::Loop => "loop",
            DocKind::Mode => "mode",
            DocKind::Config => "config",
        }
    }

    /// The JSON Schema generated from the Rust type.
    pub fn schema(self) -> Value {
        let schema = match self {
            DocKind::StageKind => schemars::schema_for!(StageKind),
            DocKind::Loop => schemars::schema_for!(LoopDef),
            DocKind::Mode => schemars::schema_for!(ModeDef),
            DocKind::Config => schemars::schema_for!(Config),
        };
        serde_json::to_value(schema).expect("schema serialises")
    }

    /// Pretty JSON text as written to `schemas/`.
    pub fn schema_text(self) -> String {
        let mut text = serde_json::to_string_pretty(&self.schema()).expect("schema serialises");
        text.push('\n');
        text
    }

    fn validator(self) -> &'static jsonschema::Validator {
        static VALIDATORS: OnceLock<Vec<jsonschema::Validator>> = OnceLock::new();
        let all = VALIDATORS.get_or_init(|| {
            DocKind::ALL
                .iter()
                .map(|k| jsonschema::validator_for(&k.schema()).expect("generated schema is valid"))
                .collect()
        });
        &all[DocKind::ALL
            .iter()
            .position(|k| *k == self)
            .expect("listed")]
    }
}

/// Validates `doc` against the schema of `kind`, then deserialises it.
/// All schema violations are returned at once, each located in `file`.
pub fn load<T: DeserializeOwned>(
    kind: DocKind,
    file: &str,
    doc: &YamlDoc,
) -> Result<T, Vec<Diagnostic>> {
    let validator = kind.validator();
    let mut diags = Vec::new();
    for err in validator.iter_errors(&doc.value) {
        let pointer = err.instance_path().as_str().to_string();
        match err.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed = allowed_properties(kind, &pointer);
                for key in unexpected {
                    let at = doc.key_pos(&pointer_push(&pointer, key));
                    let mut d = Diagnostic::error(
                        "schema.unknown_field",
                        format!("unknown field `{key}` in {}", describe(kind, &pointer)),
                    )
                    .at(file, at);
                    d = match did_you_mean(key, allowed.iter().map(String::as_str)) {
                        Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                        None if !allowed.is_empty() => {
                            d.with_hint(format!("expected one of: {}", allowed.join(", ")))
                        }
                        None => d,
                    };
                    diags.push(d);
                }
            }
            _ => {
                let at = doc.pos(&pointer);
                // For "any of" errors the useful part is what was expected.
                let expected = matches!(
                    err.kind(),
                    ValidationErrorKind::AnyOf { .. } | ValidationErrorKind::OneOfNotValid { .. }
                )
                .then(|| expected_at(kind, &pointer))
                .flatten();
                let message = match &expected {
                    Some(e) => format!(
                        "{} at {}: expected {e}, found {}",
                        kind.noun(),
                        display_pointer(&pointer),
                        short(&err.instance().to_string())
                    ),
                    None => format!(
                        "{} at {}: {}",
                        kind.noun(),
                        display_pointer(&pointer),
                        short(&err.to_string())
                    ),
                };
                diags.push(
                    Diagnostic::error("schema.violation", message)
                        .at(file, at)
                        .with_hint(format!("the schema is schemas/{}", kind.schema_file())),
                );
            }
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    // Deserialise from a borrowed value: cloning a large document costs more
    // than the typed conversion itself.
    T::deserialize(&doc.value).map_err(|err| {
        vec![Diagnostic::error("schema.violation", format!("{}: {err}", kind.noun())).in_file(file)]
    })
}

/// The schema node that describes the value at `pointer` (with `$ref`s
/// resolved), and the `$defs` to resolve its children.
fn schema_at(kind: DocKind, pointer: &str) -> Option<(Value, Value)> {
    let schema = kind.schema();
    let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
    let mut node = deref(&schema, &defs);
    for seg in pointer.split('/').skip(1) {
        let next = node
            .get("properties")
            .and_then(|p| p.get(seg))
            .or_else(|| node.get("items"))
            .or_else(|| node.get("additionalProperties").filter(|v| v.is_object()))
            .cloned()?;
        node = deref(&next, &defs);
    }
    Some((node, defs))
}

/// Keys the schema allows in the object at `pointer`, for hints.
fn allowed_properties(kind: DocKind, pointer: &str) -> Vec<String> {
    let Some((node, _)) = schema_at(kind, pointer) else {
        return Vec::new();
    };
    let mut keys: Vec<String> = node
        .get("properties")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

/// What the schema accepts at `pointer`, in words, when it is a choice
/// (`a number of at least 0, or an object with `config``).
fn expected_at(kind: DocKind, pointer: &str) -> Option<String> {
    let (node, defs) = schema_at(kind, pointer)?;
    let choices = node
        .get("anyOf")
        .or_else(|| node.get("oneOf"))?
        .as_array()?;
    let words: Vec<String> = choices
        .iter()
        .map(|c| describe_schema(&deref(c, &defs)))
        .collect();
    Some(words.join(", or "))
}

fn describe_schema(s: &Value) -> String {
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        let v: Vec<String> = values
            .iter()
            .map(|v| format!("`{}`", v.as_str().unwrap_or("?")))
            .collect();
        return format!("one of {}", v.join(", "));
    }
    if let Some(c) = s.get("const") {
        return match c.as_str() {
            Some(text) => format!("`{text}`"),
            None => format!("`{c}`"),
        };
    }
    let ty = s.get("type").and_then(Value::as_str).unwrap_or("a value");
    match ty {
        "integer" | "number" => {
            let min = s.get("minimum").and_then(Value::as_f64);
            let max = s.get("maximum").and_then(Value::as_f64);
            match (min, max) {
                (Some(lo), Some(hi)) => format!("a whole number from {lo} to {hi}"),
                (Some(lo), None) => format!("a whole number of at least {lo}"),
                _ => "a number".to_string(),
            }
        }
        "object" => {
            let keys: Vec<String> = s
                .get("properties")
                .and_then(Value::as_object)
                .map(|m| m.keys().map(|k| format!("`{k}`")).collect())
                .unwrap_or_default();
            if keys.is_empty() {
                "an object".to_string()
            } else {
                format!("an object with {}", keys.join(", "))
            }
        }
        "string" => "a string".to_string(),
        "array" => "a list".to_string(),
        "boolean" => "true or false".to_string(),
        other => other.to_string(),
    }
}

fn deref(node: &Value, defs: &Value) -> Value {
    let mut cur = node.clone();
    for _ in 0..8 {
        let Some(r) = cur.get("$ref").and_then(Value::as_str) else {
            break;
        };
        let Some(name) = r.strip_prefix("#/$defs/") else {
            break;
        };
        cur = defs.get(name).cloned().unwrap_or(Value::Null);
    }
    cur
}

fn describe(kind: DocKind, pointer: &str) -> String {
    if pointer.is_empty() {
        format!("{} definition", kind.noun())
    } else {
        format!("{} at {}", kind.noun(), display_pointer(pointer))
    }
}

/// `/edges/3/to` → `edges[3].to`.
pub fn display_pointer(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.chars().all(|c| c.is_ascii_digit()) && !seg.is_empty() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    if out.is_empty() {
        "top level".to_string()
    } else {
        out
    }
}

fn short(message: &str) -> String {
    const MAX: usize = 200;
    if message.chars().count() <= MAX {
        message.to_string()
    } else {
        let cut: String = message.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defs::yaml;

    fn load_loop(text: &str) -> Result<LoopDef, Vec<Diagnostic>> {
        let doc = yaml::parse("l.yaml", text).unwrap();
        load(DocKind::Loop, "l.yaml", &doc)
    }

    #[test]
    fn unknown_fields_are_reported_at_the_key_with_a_suggestion() {
        let errs = load_loop("id: a\nplane: execution\nnodez: {}\n").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].code, "schema.unknown_field");
        assert_eq!((errs[0].line, errs[0].column), (Some(3), Some(1)));
        assert_eq!(errs[0].hint.as_deref(), Some("did you mean `nodes`?"));
    }

    #[test]
    fn unknown_fields_in_nested_nodes_are_found() {
        let errs =
            load_loop("id: a\nplane: execution\nnodes:\n  b:\n    stage: builder\n    modle: x\n")
                .unwrap_err();
        assert_eq!(errs[0].code, "schema.unknown_field", "{errs:?}");
        assert_eq!(errs[0].line, Some(6));
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let errs = load_loop("id: A-bad\nplane: sideways\n").unwrap_err();
        assert!(errs.len() >= 2, "{errs:?}");
        assert!(errs.iter().all(|e| e.code == "schema.violation"));
        assert_eq!(errs[0].line, Some(1));
    }

    #[test]
    fn display_pointer_reads_like_a_path() {
        assert_eq!(display_pointer("/edges/3/to"), "edges[3].to");
        assert_eq!(display_pointer(""), "top level");
    }
}
