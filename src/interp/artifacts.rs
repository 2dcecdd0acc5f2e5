//! A run's declared artifacts: where each one lives for this run, what the
//! stage is told about them (prompt and environment), and the check that
//! turns a claimed success without a valid artifact into a task failure.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::compile::artifacts::{render_path, PathVars};
use crate::compile::plan::StageKindPlan;
use crate::defs::stage_kind::{ArtifactDecl, ArtifactFormat};
use crate::store::cards::{heading_kind, Card, Fence, Heading, StoreFile};

use super::driver::Driver;

/// The largest artifact read.
pub const ARTIFACT_LIMIT: u64 = 8 << 20;

/// One artifact as a stage's prompt sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactView {
    pub name: String,
    /// Absolute path.
    pub path: String,
    pub format: ArtifactFormat,
    pub description: Option<String>,
    /// Outcome markers on which it must exist.
    pub required_on: Vec<String>,
}

impl Driver<'_> {
    /// `(spec id, item id)` of the run, for cards and paths.
    pub(super) fn artifact_vars(&self) -> (String, String) {
        let (item, spec) = self.path_vars();
        (spec, item)
    }

    /// The values artifact path templates render with.
    fn path_vars(&self) -> (String, String) {
        match (&self.meta.item, &self.task) {
            (Some(item), _) => (item.id.clone(), item.spec_id.clone()),
            (None, Some(t)) => (
                t.id.clone(),
                t.spec_id
                    .clone()
                    .unwrap_or_else(|| format!("SPEC-{}", t.id)),
            ),
            (None, None) => {
                let id = self.meta.task_id.clone().unwrap_or_default();
                (id.clone(), format!("SPEC-{id}"))
            }
        }
    }

    /// Where artifact `decl` lives for this run.
    pub(super) fn artifact_path(&self, decl: &ArtifactDecl) -> Result<PathBuf, String> {
        let (item_id, spec_id) = self.path_vars();
        let rel = render_path(
            &decl.path,
            &PathVars {
                run_id: &self.dir.id,
                item_id: &item_id,
                spec_id: &spec_id,
            },
        )?;
        Ok(self.rt.agents.join(rel))
    }

    /// Every artifact the run's loop declares, by name.
    pub(super) fn loop_artifacts(&self) -> BTreeMap<String, ArtifactDecl> {
        let content = &self.plan.content;
        self.lp()
            .nodes
            .values()
            .flat_map(|n| content.kind_of(n).artifacts.iter())
            .map(|a| (a.name.clone(), a.clone()))
            .collect()
    }

    /// The stage's outputs and inputs, as the prompt shows them.
    pub(super) fn artifact_views(
        &self,
        kind: &StageKindPlan,
    ) -> (Vec<ArtifactView>, Vec<ArtifactView>) {
        let view = |a: &ArtifactDecl| ArtifactView {
            name: a.name.clone(),
            path: self
                .artifact_path(a)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|e| e),
            format: a.format,
            description: a.description.clone(),
            required_on: if a.required_on.is_empty() {
                kind.outcomes
                    .iter()
                    .filter(|o| o.class == crate::defs::stage_kind::OutcomeClass::Success)
                    .map(|o| o.marker.clone())
                    .collect()
            } else {
                a.required_on.clone()
            },
        };
        let outputs = kind.artifacts.iter().map(view).collect();
        let all = self.loop_artifacts();
        let inputs = kind
            .inputs
            .iter()
            .filter_map(|name| all.get(name))
            .map(view)
            .collect();
        (outputs, inputs)
    }

    /// The environment telling a scripted agent what it works on and where
    /// its artifacts go.
    pub(super) fn work_env(
        &self,
        outputs: &[ArtifactView],
        inputs: &[ArtifactView],
    ) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if let Some(item) = &self.meta.item {
            env.push(("MILLRACE_ITEM_FAMILY".into(), item.family.to_string()));
            env.push(("MILLRACE_ITEM_ID".into(), item.id.clone()));
            env.push(("MILLRACE_ITEM_TITLE".into(), item.title.clone()));
            env.push(("MILLRACE_SPEC_ID".into(), item.spec_id.clone()));
            if let Some(p) = &item.path {
                env.push((
                    "MILLRACE_ITEM_PATH".into(),
                    self.rt.agents.join(p).display().to_string(),
                ));
            }
        }
        let mut map = serde_json::Map::new();
        for a in outputs.iter().chain(inputs) {
            env.push((
                format!("MILLRACE_ARTIFACT_{}", a.name.to_ascii_uppercase()),
                a.path.clone(),
            ));
            map.insert(a.name.clone(), Value::String(a.path.clone()));
        }
        if !map.is_empty() {
            env.push(("MILLRACE_ARTIFACTS".into(), Value::Object(map).to_string()));
        }
        env
    }

    /// The first artifact `kind` owes for `outcome` that is missing or
    /// invalid, as a failure message.
    pub(super) fn check_artifacts(&self, kind: &StageKindPlan, outcome: &str) -> Option<String> {
        for decl in kind.artifacts_on(outcome) {
            let checked = self
                .artifact_path(decl)
                .and_then(|path| self.validate(decl, &path, outcome));
            if let Err(why) = checked {
                return Some(format!("artifact `{}`: {why}", decl.name));
            }
        }
        None
    }

    fn validate(&self, decl: &ArtifactDecl, path: &Path, outcome: &str) -> Result<(), String> {
        let shown = self.relative(path);
        let text = self.read_agent_file(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("missing: the stage ended with `{outcome}` but did not write {shown}")
            } else {
                format!("{shown}: {e}")
            }
        })?;
        match decl.format {
            ArtifactFormat::Markdown => {
                if text.trim().is_empty() {
                    return Err(format!("{shown} is empty"));
                }
                Ok(())
            }
            ArtifactFormat::TaskCards => {
                let cards = parse_cards(&text, decl.min_cards.unwrap_or(1) as usize)
                    .map_err(|e| format!("{shown}: {e}"))?;
                let ids: HashSet<String> = cards.iter().map(|c| c.id.clone()).collect();
                let taken = self
                    .rt
                    .queue
                    .ids_present(&ids)
                    .map_err(|e| format!("cannot check the task stores: {e}"))?;
                if !taken.is_empty() {
                    return Err(format!(
                        "{shown}: task id(s) already in the task stores: {}",
                        taken.join(", ")
                    ));
                }
                Ok(())
            }
            ArtifactFormat::Json => {
                let doc: Value =
                    serde_json::from_str(&text).map_err(|e| format!("{shown} is not JSON: {e}"))?;
                if let Some(schema) = &decl.schema {
                    let validator = jsonschema::validator_for(schema)
                        .map_err(|e| format!("its schema is invalid: {e}"))?;
                    let first = validator.iter_errors(&doc).next().map(|err| {
                        let at = err.instance_path().to_string();
                        format!(
                            "{shown} does not match its schema at `{}`: {err}",
                            if at.is_empty() { "/" } else { &at }
                        )
                    });
                    if let Some(why) = first {
                        return Err(why);
                    }
                }
                for (pointer, want) in decl.expect.get(outcome).into_iter().flatten() {
                    let got = doc.pointer(pointer).unwrap_or(&Value::Null);
                    if got != want {
                        return Err(format!(
                            "{shown}: `{pointer}` is {got} but the stage ended with `{outcome}`, which needs {want}"
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    /// An artifact's text: never through a symlink, never from outside the
    /// workspace (see [`crate::store::safe::read_confined`]).
    fn read_agent_file(&self, path: &Path) -> std::io::Result<String> {
        crate::store::safe::read_confined(&[&self.rt.root, &self.rt.agents], path, ARTIFACT_LIMIT)
    }

    /// The cards of a `task_cards` artifact (already validated).
    pub(super) fn read_cards(&self, decl: &ArtifactDecl) -> Result<Vec<Card>, String> {
        let path = self.artifact_path(decl)?;
        let text = self
            .read_agent_file(&path)
            .map_err(|e| format!("{}: {e}", self.relative(&path)))?;
        parse_cards(&text, 0)
    }

    /// The document of a `json` artifact (already validated).
    pub(super) fn read_json(&self, decl: &ArtifactDecl) -> Result<Value, String> {
        let path = self.artifact_path(decl)?;
        let text = self
            .read_agent_file(&path)
            .map_err(|e| format!("{}: {e}", self.relative(&path)))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", self.relative(&path)))
    }
}

/// Parses a task-card file strictly: every `## ` heading is a card heading
/// with a title, ids are unique, and there are at least `min` cards.
pub fn parse_cards(text: &str, min: usize) -> Result<Vec<Card>, String> {
    let mut first_line: BTreeMap<String, usize> = BTreeMap::new();
    let mut fence = Fence::default();
    for (i, line) in text.lines().enumerate() {
        let fenced = fence.feed(line) || fence.is_open();
        if let Some(c) = line.chars().find(|c| c.is_control() && *c != '\t') {
            // Escape sequences and stray line breaks never reach a store.
            return Err(format!(
                "line {}: control character U+{:04X}; cards hold text only",
                i + 1,
                c as u32
            ));
        }
        if line.trim_start().starts_with("<!-- research_recovery:") {
            // Would be read as the bounds of a frozen batch once queued.
            return Err(format!(
                "line {}: cards may not contain freeze markers (`<!-- research_recovery:…`)",
                i + 1
            ));
        }
        if fenced || !line.starts_with("## ") {
            continue;
        }
        match heading_kind(line) {
            Some(Heading::Card) => {}
            Some(Heading::Untitled) => {
                return Err(format!("line {}: card heading without a title", i + 1))
            }
            None => {
                return Err(format!(
                    "line {}: `{}` is not a card heading (expected `## YYYY-MM-DD - Title`)",
                    i + 1,
                    line.chars().take(60).collect::<String>()
                ))
            }
        }
    }
    if fence.is_open() {
        return Err(
            "a fenced code block (``` or ~~~) is never closed: every card after it would be read as its text".into(),
        );
    }
    let cards = StoreFile::parse(text).cards;
    for (i, c) in cards.iter().enumerate() {
        if let Some(first) = first_line.insert(c.id.clone(), i + 1) {
            return Err(format!(
                "cards {first} and {} have the same id `{}`",
                i + 1,
                c.id
            ));
        }
    }
    if cards.len() < min {
        return Err(format!(
            "{} card(s), at least {min} expected (`## YYYY-MM-DD - Title` headings)",
            cards.len()
        ));
    }
    Ok(cards)
}

#[cfg(test)]
mod tests {
    use super::parse_cards;

    #[test]
    fn card_files_are_parsed_strictly() {
        let ok = "# Cards\n\n## 2026-11-24 - One\nbody\n\n## 2026-11-24 - Two\n";
        assert_eq!(parse_cards(ok, 2).unwrap().len(), 2);
        assert!(parse_cards(ok, 3).unwrap_err().contains("at least 3"));
        let dup = "## 2026-11-24 - One\n\n## 2026-11-24 - One\n";
        assert!(parse_cards(dup, 1).unwrap_err().contains("same id"));
        let bad = "## 2026-11-24 - One\n\n## Notes\n";
        assert!(parse_cards("## 2026-11-24 - Bell\u{7}\n", 1)
            .unwrap_err()
            .contains("U+0007"));
        assert!(parse_cards(bad, 1).unwrap_err().starts_with("line 3:"));
        assert!(parse_cards("no cards\n", 1).is_err());
        let marker = "## 2026-11-24 - One\n<!-- research_recovery:freeze:end B -->\n";
        assert!(parse_cards(marker, 1)
            .unwrap_err()
            .contains("freeze markers"));
    }
}
