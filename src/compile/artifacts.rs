//! Declared artifacts: checks that each stage kind declares its artifacts
//! soundly (names, path templates, schemas), and proves for each loop that
//! every artifact a stage reads (`inputs`) or a terminal effect consumes is
//! produced on every path that reaches it.
//!
//! The proof is a forward "must be available" dataflow over the routing
//! table: an artifact is available after a node on the outcomes that
//! require it; at a join, only what every incoming path made available is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};

use crate::defs::diag::{did_you_mean, Diagnostics};
use crate::defs::loop_def::Effect;
use crate::defs::stage_kind::{ArtifactDecl, ArtifactFormat, OutcomeClass, StageKind};

use super::graph::CheckedLoop;
use super::plan::Target;
use super::registry::{Registry, ResolvedLoop};

/// Values an artifact path template may use.
pub struct PathVars<'a> {
    pub run_id: &'a str,
    pub item_id: &'a str,
    pub spec_id: &'a str,
}

/// Renders an artifact path template to a path relative to `agents/`,
/// refusing anything that would leave it.
pub fn render_path(template: &str, vars: &PathVars<'_>) -> Result<String, String> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_fuel(Some(100_000));
    let rendered = env
        .render_str(
            template,
            minijinja::context! {
                run => minijinja::context! { id => vars.run_id },
                item => minijinja::context! { id => vars.item_id, spec_id => vars.spec_id },
            },
        )
        .map_err(|e| format!("path template `{template}` does not render: {e}"))?;
    let path = Path::new(&rendered);
    let confined =
        !rendered.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    if !confined {
        return Err(format!(
            "path `{rendered}` must be relative to agents/ and stay inside it"
        ));
    }
    Ok(rendered)
}

/// Checks every stage kind's artifact declarations.
pub fn check_kinds(reg: &Registry, diags: &mut Diagnostics) {
    for item in reg.stage_kinds.values() {
        let kind = &item.def;
        let mut names = BTreeSet::new();
        for (i, a) in kind.artifacts.iter().enumerate() {
            let at = item.origin.child("artifacts").child(&i.to_string());
            let mut bad = |field: &str, why: String| {
                diags.push(reg.error(
                    &at.child(field),
                    "artifact.invalid",
                    format!("artifact `{}` of stage kind `{}`: {why}", a.name, kind.id),
                ));
            };
            if !names.insert(a.name.as_str()) {
                bad("name", "declared twice".into());
            }
            let sample = PathVars {
                run_id: "run",
                item_id: "item",
                spec_id: "SPEC-item",
            };
            if let Err(e) = render_path(&a.path, &sample) {
                bad("path", e);
            }
            match (&a.schema, a.format) {
                (Some(schema), ArtifactFormat::Json) => {
                    if let Err(e) = jsonschema::validator_for(schema) {
                        bad(
                            "schema",
                            format!("the schema is not a valid JSON Schema: {e}"),
                        );
                    }
                }
                (Some(_), f) => bad(
                    "schema",
                    format!(
                        "only `json` artifacts take a schema, not `{}`",
                        crate::defs::serde_name(&f)
                    ),
                ),
                (None, _) => {}
            }
            if a.min_cards.is_some() && a.format != ArtifactFormat::TaskCards {
                bad(
                    "min_cards",
                    "only `task_cards` artifacts take `min_cards`".into(),
                );
            }
            for m in a.required_on.iter().chain(a.expect.keys()) {
                if kind.outcome(m).is_none() {
                    bad(
                        "required_on",
                        format!("`{m}` is not an outcome of the stage kind"),
                    );
                }
            }
            if !a.expect.is_empty() && a.format != ArtifactFormat::Json {
                bad("expect", "only `json` artifacts take `expect`".into());
            }
        }
    }
}

/// Whether `a` must be produced when `kind` ends with `marker`.
fn required(kind: &StageKind, a: &ArtifactDecl, marker: &str) -> bool {
    if a.required_on.is_empty() {
        kind.outcome(marker).map(|o| o.class) == Some(OutcomeClass::Success)
    } else {
        a.required_on.iter().any(|m| m == marker)
    }
}

/// What the dataflow proof works over: the loop's stage kinds by node and
/// the artifacts they declare, and (once computed) the artifacts certainly
/// available at each target.
struct Flow<'a> {
    reg: &'a Registry,
    lp: &'a ResolvedLoop,
    kinds: BTreeMap<&'a str, &'a StageKind>,
    declared: BTreeMap<&'a str, &'a ArtifactDecl>,
    /// Must-available sets at each target; absent: not reached.
    avail: BTreeMap<Target, BTreeSet<String>>,
}

/// Proves the loop's inputs and effects are produced upstream.
pub fn check_loop(
    reg: &Registry,
    lp: &ResolvedLoop,
    checked: &CheckedLoop,
    diags: &mut Diagnostics,
) {
    let kinds: BTreeMap<&str, &StageKind> = lp
        .nodes
        .iter()
        .filter_map(|(id, n)| {
            reg.stage_kinds
                .get(&n.def.stage)
                .map(|k| (id.as_str(), &k.def))
        })
        .collect();
    let declared: BTreeMap<&str, &ArtifactDecl> = kinds
        .values()
        .flat_map(|k| k.artifacts.iter().map(|a| (a.name.as_str(), a)))
        .collect();
    let uses_artifacts = !declared.is_empty()
        || kinds.values().any(|k| !k.inputs.is_empty())
        || lp.terminals.values().any(|t| !t.def.effects.is_empty());
    if !uses_artifacts {
        return;
    }
    let mut flow = Flow {
        reg,
        lp,
        kinds,
        declared,
        avail: BTreeMap::new(),
    };
    flow.available(&edges(checked));
    flow.check_inputs(diags);
    flow.check_effects(diags);
}

/// The loop's edges: (from node, outcome, target), threshold exhaustion
/// included.
fn edges(checked: &CheckedLoop) -> Vec<(&str, &str, Target)> {
    let mut edges: Vec<(&str, &str, Target)> = Vec::new();
    for (node, outcomes) in &checked.routes {
        for (outcome, route) in outcomes {
            for c in &route.candidates {
                edges.push((node, outcome, c.target.clone()));
            }
            for r in &route.resume_targets {
                edges.push((node, outcome, Target::Node(r.clone())));
            }
        }
    }
    for t in &checked.thresholds {
        for c in &t.count {
            edges.push((&c.node, &c.on, t.exhausted.clone()));
        }
    }
    edges
}

impl Flow<'_> {
    /// The must-available sets: a fixpoint over the edges, intersecting
    /// at each join, from empty sets at the entries.
    fn available(&mut self, edges: &[(&str, &str, Target)]) {
        let (lp, kinds, avail) = (self.lp, &self.kinds, &mut self.avail);
        for entry in lp.entry.values() {
            avail.insert(Target::Node(entry.def.clone()), BTreeSet::new());
        }
        loop {
            let mut changed = false;
            for (from, outcome, to) in edges {
                let Some(mut out) = avail.get(&Target::Node(from.to_string())).cloned() else {
                    continue;
                };
                if let Some(kind) = kinds.get(from) {
                    for a in &kind.artifacts {
                        if required(kind, a, outcome) {
                            out.insert(a.name.clone());
                        }
                    }
                }
                let merged = match avail.get(to) {
                    None => out,
                    Some(prev) => prev.intersection(&out).cloned().collect(),
                };
                if avail.get(to) != Some(&merged) {
                    avail.insert(to.clone(), merged);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn missing(
        &self,
        diags: &mut Diagnostics,
        origin: &super::registry::Origin,
        what: String,
        name: &str,
    ) {
        let mut d = self.reg.error(origin, "artifact.missing_producer", what);
        d = if self.declared.contains_key(name) {
            d.with_hint("some path reaches here without the stage that produces it ending on an outcome that requires it")
        } else {
            match did_you_mean(name, self.declared.keys().copied()) {
                Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                None => d.with_hint("no stage kind of this loop declares it under `artifacts`"),
            }
        };
        diags.push(d);
    }

    /// Every input a node reads is available on every path to it.
    fn check_inputs(&self, diags: &mut Diagnostics) {
        let (lp, kinds, avail) = (self.lp, &self.kinds, &self.avail);
        for (id, node) in &lp.nodes {
            let Some(kind) = kinds.get(id.as_str()) else {
                continue;
            };
            let Some(here) = avail.get(&Target::Node(id.clone())) else {
                continue;
            };
            for input in &kind.inputs {
                if !here.contains(input) {
                    self.missing(
                        diags,
                        &node.origin,
                        format!("node `{id}` reads artifact `{input}`, which is not produced on every path to it"),
                        input,
                    );
                }
            }
        }
    }

    /// Every terminal effect acts on its family's entry and consumes an
    /// artifact of its format that is available on every path to it.
    fn check_effects(&self, diags: &mut Diagnostics) {
        let (reg, lp, declared, avail) = (self.reg, self.lp, &self.declared, &self.avail);
        for (id, t) in &lp.terminals {
            let here = avail.get(&Target::Terminal(id.clone()));
            for (i, effect) in t.def.effects.iter().enumerate() {
                let origin = t.origin.child("effects").child(&i.to_string());
                let needs_entry = match effect {
                    Effect::ThawBatch | Effect::ArchiveIncident => Some("incident"),
                    Effect::ArchiveIdea => Some("idea"),
                    Effect::WriteDecision { .. } => Some("audit"),
                    Effect::AppendCards { .. } => None,
                };
                if let Some(entry) = needs_entry.filter(|e| !lp.entry.contains_key(*e)) {
                    diags.push(reg.error(
                        &origin,
                        "artifact.invalid",
                        format!(
                            "effect `{}` of terminal `{id}` needs a loop with an `{entry}` entry (the research family it acts on)",
                            effect.name()
                        ),
                    ));
                }
                let Some(name) = effect.artifact() else {
                    continue;
                };
                if here.is_some_and(|h| !h.contains(name)) || !declared.contains_key(name) {
                    self.missing(
                        diags,
                        &origin,
                        format!(
                            "effect `{}` of terminal `{id}` consumes artifact `{name}`, which is not produced on every path to it",
                            effect.name()
                        ),
                        name,
                    );
                    continue;
                }
                let format = declared[name].format;
                let wanted = match effect {
                    Effect::AppendCards { .. } => ArtifactFormat::TaskCards,
                    _ => ArtifactFormat::Json,
                };
                if format != wanted {
                    diags.push(reg.error(
                        &origin,
                        "artifact.invalid",
                        format!(
                            "effect `{}` needs a `{}` artifact; `{name}` is `{}`",
                            effect.name(),
                            crate::defs::serde_name(&wanted),
                            crate::defs::serde_name(&format)
                        ),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_paths_stay_inside_agents() {
        let vars = PathVars {
            run_id: "r1",
            item_id: "idea",
            spec_id: "SPEC-idea",
        };
        assert_eq!(
            render_path("runs/{{ run.id }}/artifacts/brief.md", &vars).unwrap(),
            "runs/r1/artifacts/brief.md"
        );
        assert_eq!(
            render_path("specs/{{ item.spec_id }}.md", &vars).unwrap(),
            "specs/SPEC-idea.md"
        );
        for bad in ["../x.md", "/etc/passwd", "runs/../../x", "", "{{ nope }}"] {
            assert!(render_path(bad, &vars).is_err(), "{bad}");
        }
    }
}
