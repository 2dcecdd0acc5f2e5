//! Editing `millrace.toml` in place: key positions from toml_edit spans,
//! the boundary of each key (startup-only or live), and `config set`'s
//! validated, format-preserving edit.

use super::*;

/// Calls `f` with the dotted key and value of every leaf of `v` (a
/// non-empty object is walked, anything else is a leaf) under `prefix`.
pub fn for_each_leaf(
    prefix: &str,
    v: &serde_json::Value,
    f: &mut dyn FnMut(String, &serde_json::Value),
) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                for_each_leaf(&key, v, f);
            }
        }
        other => f(prefix.to_string(), other),
    }
}

/// Where the dotted `key` is set in a parsed TOML document, or none when
/// the document does not set it.
pub fn toml_key_pos(doc: &toml_edit::Document<String>, key: &str) -> Option<Pos> {
    let mut item = doc.as_item();
    for part in key.split('.') {
        item = item.get(part)?;
    }
    let span = item
        .span()
        .or_else(|| item.as_value().and_then(|v| v.span()))?;
    Some(offset_to_pos(doc.raw(), span.start))
}

/// Locates the key `table.field` (or the table itself when `field` is
/// empty) in TOML text, from toml_edit's spans; the start of the file when
/// the text does not parse or lacks the key.
pub fn toml_pos(text: &str, table: &str, field: &str) -> Pos {
    let Ok(doc) = toml_edit::Document::parse(text) else {
        return Pos::START;
    };
    let mut current: &dyn toml_edit::TableLike = doc.as_table();
    let mut span = None;
    let segments = table.split('.').chain((!field.is_empty()).then_some(field));
    for seg in segments {
        let Some((key, item)) = current.get_key_value(seg) else {
            break;
        };
        span = key.span().or_else(|| item.span()).or(span);
        match item.as_table_like() {
            Some(t) => current = t,
            None => break,
        }
    }
    span.map_or(Pos::START, |r| offset_to_pos(text, r.start))
}

/// When a changed config field takes effect in a running daemon (spec §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Boundary {
    /// At once (poll interval, inter-task delay).
    LiveImmediate,
    /// Before the next stage. Runs follow frozen plans, so in practice: at
    /// the next run.
    StageBoundary,
    /// At the next cycle (run).
    CycleBoundary,
    /// Only at daemon start; refused while a daemon runs.
    StartupOnly,
}

impl Boundary {
    pub fn of(key: &str) -> Boundary {
        let starts = |p: &str| key == p || key.starts_with(&format!("{p}."));
        if starts("paths") {
            Boundary::StartupOnly
        } else if matches!(
            key,
            "engine.poll_interval_seconds"
                | "engine.inter_task_delay_seconds"
                | "engine.stop_grace_seconds"
        ) {
            Boundary::LiveImmediate
        } else if key == "engine.mode"
            || starts("execution")
            || starts("stages")
            || starts("runners")
            || starts("plan")
        {
            Boundary::StageBoundary
        } else {
            Boundary::CycleBoundary
        }
    }
}

impl Config {
    /// The value at a dotted key, as JSON; `None` for unknown keys.
    pub fn get(&self, key: &str) -> Option<serde_json::Value> {
        let value = serde_json::to_value(self).ok()?;
        key.split('.')
            .try_fold(&value, |v, seg| v.get(seg))
            .cloned()
    }
}

/// Sets `key` to `value` in the TOML `text` of a config, keeping the rest of
/// the file (comments, order) as it is. The value is read as a TOML literal
/// (`2`, `true`, `"x"`, `["a", "b"]`), else as a string. The result is parsed
/// and checked before it is returned, so a bad key or value never reaches
/// the file.
pub fn set_in_text(text: &str, key: &str, value: &str) -> Result<(String, Config), String> {
    let segments: Vec<&str> = key.split('.').collect();
    if segments.len() < 2 || segments.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "unknown config key: {key} (keys look like `engine.poll_interval_seconds`)"
        ));
    }
    let known = Config::default();
    // Sections with optional or user-named tables, keys left out of the
    // defaults when unset, and v0.2.0's sections (which load whole): the
    // typed parse of the result checks them.
    let dynamic = matches!(
        segments[0],
        "stages"
            | "runners"
            | "budget"
            | "prices"
            | "notify"
            | "publish"
            | "git"
            | "diagnostics"
            | "sizing"
            | "routing"
            | "policies"
            | "boundaries"
    );
    if !dynamic && known.get(key).is_none() {
        let mut prefix = String::new();
        for seg in &segments {
            if !prefix.is_empty() {
                prefix.push('.');
            }
            prefix.push_str(seg);
            if known.get(&prefix).is_none() {
                return Err(format!("unknown config key segment: {seg} (in {key})"));
            }
        }
        return Err(format!("unknown config key: {key}"));
    }
    let new_text = edit_toml(text, &segments, value)?;
    let config = Config::parse("millrace.toml", &new_text)
        .map_err(|d| format!("invalid value for {key}: {}", d.message))?;
    Ok((new_text, config))
}

/// The TOML value of `value`: a TOML literal (`2`, `true`, `"x"`,
/// `["a", "b"]`), else the text as a string.
fn literal(value: &str) -> toml_edit::Value {
    format!("v = {value}")
        .parse::<toml_edit::DocumentMut>()
        .ok()
        .and_then(|doc| doc.get("v").and_then(|i| i.as_value()).cloned())
        .map(|mut v| {
            v.decor_mut().clear();
            v
        })
        .unwrap_or_else(|| toml_edit::Value::from(value))
}

/// Sets `segments` (a dotted key) in `text` with toml_edit, so comments,
/// layout, spacing in headers (`[ engine ]`), inline tables and multi-line
/// arrays stay as written. Missing tables are added.
fn edit_toml(text: &str, segments: &[&str], value: &str) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| format!("millrace.toml is not valid TOML: {e}"))?;
    let (leaf, tables) = segments.split_last().expect("at least two segments");
    let mut item = doc.as_item_mut();
    for (i, seg) in tables.iter().enumerate() {
        let here = tables[..=i].join(".");
        let table = item
            .as_table_like_mut()
            .ok_or_else(|| format!("cannot set a key under `{here}`: it is not a table"))?;
        if table.get(seg).is_none() {
            table.insert(seg, toml_edit::Item::Table(toml_edit::Table::new()));
        }
        item = table.get_mut(seg).expect("just inserted");
        if !item.is_table_like() {
            return Err(format!(
                "cannot set a key under `{here}`: it is a value, not a table"
            ));
        }
    }
    let table = item.as_table_like_mut().expect("checked above");
    match table.get_mut(leaf) {
        Some(existing) if existing.is_value() => {
            // Keep the comment and spacing around the old value.
            let decor = existing.as_value().map(|v| v.decor().clone());
            let mut new = literal(value);
            if let Some(d) = decor {
                *new.decor_mut() = d;
            }
            *existing = toml_edit::Item::Value(new);
        }
        Some(_) => return Err(format!("`{}` is a table, not a value", segments.join("."))),
        None => {
            table.insert(leaf, toml_edit::Item::Value(literal(value)));
        }
    }
    if let Some(inline) = item.as_inline_table_mut() {
        inline.fmt();
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod edit_tests {
    use super::*;

    const TEXT: &str = "# top\n[engine]\nmode = \"once\" # keep\npoll_interval_seconds = 60\n\n[execution]\nquickfix_max_attempts = 2\n";

    #[test]
    fn edits_in_place_keeps_comments_and_adds_tables() {
        let (t, c) = set_in_text(TEXT, "engine.poll_interval_seconds", "5").unwrap();
        assert!(
            t.contains("poll_interval_seconds = 5\n")
                && t.contains("# top")
                && t.contains("# keep"),
            "{t}"
        );
        assert_eq!(c.engine.poll_interval_seconds, 5);
        let (t, c) = set_in_text(&t, "stages.builder.timeout_seconds", "2").unwrap();
        assert!(t.contains("[stages.builder]\ntimeout_seconds = 2\n"), "{t}");
        assert_eq!(c.stages["builder"].timeout_seconds, Some(2));
        let (_, c) = set_in_text(TEXT, "execution.integration_mode", "always").unwrap();
        assert_eq!(c.execution.integration_mode, IntegrationMode::Always);
    }

    #[test]
    fn valid_toml_shapes_are_edited_in_place() {
        // Spaces in a header, an inline table, a multi-line array.
        let text = "[ engine ]\npoll_interval_seconds = 60 # poll\n\n[stages]\nqa = { model = \"o3\" }\n\n[runners.x]\nargs = [\n  \"a\",\n  \"b\",\n]\n";
        let (t, c) = set_in_text(text, "engine.poll_interval_seconds", "5").unwrap();
        assert!(
            t.starts_with("[ engine ]\npoll_interval_seconds = 5 # poll\n"),
            "{t}"
        );
        assert_eq!(c.engine.poll_interval_seconds, 5);
        let (t, c) = set_in_text(&t, "stages.qa.timeout_seconds", "9").unwrap();
        assert!(
            t.contains("qa = { model = \"o3\", timeout_seconds = 9 }"),
            "{t}"
        );
        assert_eq!(c.stages["qa"].timeout_seconds, Some(9));
        let (t, c) = set_in_text(&t, "runners.x.command", "[\"/bin/x\"]").unwrap();
        assert!(t.contains("args = [\n  \"a\",\n  \"b\",\n]"), "{t}");
        assert_eq!(c.runners["x"].command, ["/bin/x"]);
    }

    #[test]
    fn v020_sections_and_keys_unset_by_default_can_be_set() {
        let (_, c) = set_in_text(TEXT, "sizing.mode", "repo").unwrap();
        assert_eq!(c.sizing.unwrap()["mode"], "repo");
        let (_, c) = set_in_text(TEXT, "policies.usage.enabled", "true").unwrap();
        assert_eq!(c.policies.unwrap()["usage"]["enabled"], true);
        let (_, c) = set_in_text(TEXT, "notify.command", "[\"true\"]").unwrap();
        assert_eq!(c.notify.command, ["true"]);
        let (_, c) = set_in_text(TEXT, "publish.run_repo_hooks", "true").unwrap();
        assert!(c.publish.run_repo_hooks);
        assert!(set_in_text(TEXT, "publish.nonsense", "1").is_err());
    }

    #[test]
    fn bad_keys_and_values_are_refused() {
        assert_eq!(
            set_in_text(TEXT, "engine.nope", "1").unwrap_err(),
            "unknown config key segment: nope (in engine.nope)"
        );
        assert!(set_in_text(TEXT, "engine.poll_interval_seconds", "soon")
            .unwrap_err()
            .starts_with("invalid value"));
        assert!(set_in_text(TEXT, "nokey", "1").is_err());
    }

    #[test]
    fn boundaries() {
        assert_eq!(Boundary::of("paths.workspace"), Boundary::StartupOnly);
        assert_eq!(
            Boundary::of("engine.poll_interval_seconds"),
            Boundary::LiveImmediate
        );
        assert_eq!(Boundary::of("stages.qa.model"), Boundary::StageBoundary);
        assert_eq!(
            Boundary::of("watchers.debounce_seconds"),
            Boundary::CycleBoundary
        );
    }
}
