//! Workspace prompts that do not tell the agent which artifacts to write:
//! a v0.2.0 prompt (`agents/_goal_intake.md`, `_taskmaster.md`, …) knows
//! nothing of the files our stage kinds require, so every such stage would
//! fail its artifact check. A prompt that mentions none of its stage's
//! output artifacts (neither through the `artifact_contract` / `artifacts`
//! variables nor by the literal part of an artifact's path) gets the
//! artifact contract appended when it is rendered, and `plan validate`
//! warns that it does.

use crate::defs::diag::{Diagnostic, Diagnostics, Pos};
use crate::defs::stage_kind::ArtifactDecl;

use super::plan::PlanContent;

/// Whether `template` says nothing of `outputs`: they are not empty, the
/// template uses neither render variable that lists them, and no output's
/// path is named (its longest literal run, e.g. `artifacts/brief.md` of
/// `runs/{{ run.id }}/artifacts/brief.md`).
pub fn needs_contract(template: &str, outputs: &[ArtifactDecl]) -> bool {
    if outputs.is_empty()
        || template.contains("artifact_contract")
        || template.contains("artifacts")
    {
        return false;
    }
    !outputs
        .iter()
        .any(|a| literal_part(&a.path).is_some_and(|lit| template.contains(lit)))
}

/// The longest run of `path` outside `{{ … }}`, trimmed of slashes; none
/// when shorter than 4 characters (too common to count as a mention).
fn literal_part(path: &str) -> Option<&str> {
    let mut best = "";
    let mut rest = path;
    loop {
        let (lit, after) = match rest.find("{{") {
            Some(i) => (&rest[..i], rest[i..].find("}}").map(|j| &rest[i + j + 2..])),
            None => (rest, None),
        };
        let lit = lit.trim_matches('/');
        if lit.len() > best.len() {
            best = lit;
        }
        match after {
            Some(a) => rest = a,
            None => break,
        }
    }
    (best.len() >= 4).then_some(best)
}

/// Warns, once per prompt file and stage kind, where the contract will be
/// appended.
pub fn check(plan: &PlanContent, diags: &mut Diagnostics) {
    let loops = plan
        .planes
        .values()
        .chain(plan.research.values())
        .chain(plan.large.as_ref());
    let mut seen = std::collections::BTreeSet::new();
    for node in loops.flat_map(|l| l.nodes.values()) {
        let kind = plan.kind_of(node);
        let Some(prompt) = plan.prompts.get(&node.prompt) else {
            continue;
        };
        if !needs_contract(&prompt.template, &kind.artifacts)
            || !seen.insert((prompt.source.clone(), node.stage_kind.clone()))
        {
            continue;
        }
        let names: Vec<String> = kind
            .artifacts
            .iter()
            .map(|a| format!("`{}`", a.name))
            .collect();
        diags.push(
            Diagnostic::warning(
                "prompt.artifact_contract",
                format!(
                    "prompt `{}` of stage `{}` names none of the artifacts the stage must write ({}): millrace appends the artifact contract (paths, format, the outcomes that require them) when it renders the prompt",
                    node.prompt,
                    node.stage_kind,
                    names.join(", ")
                ),
            )
            .at(prompt.source.clone(), Pos::START)
            .with_hint("write `{{ artifact_contract }}` where the prompt should say it, or name each artifact's path"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(path: &str) -> ArtifactDecl {
        serde_json::from_value(
            serde_json::json!({"name": "brief", "path": path, "format": "markdown"}),
        )
        .unwrap()
    }

    #[test]
    fn a_prompt_that_names_no_output_needs_the_contract() {
        let out = [decl("runs/{{ run.id }}/artifacts/brief.md")];
        assert!(needs_contract("Write a brief of the idea.", &out));
        assert!(!needs_contract("Write it to artifacts/brief.md", &out));
        assert!(!needs_contract("{{ artifact_contract }}", &out));
        assert!(!needs_contract(
            "{% for a in artifacts.outputs %}{% endfor %}",
            &out
        ));
        assert!(!needs_contract("Anything.", &[]));
        assert_eq!(literal_part("specs/{{ item.spec_id }}.md"), Some("specs"));
        assert_eq!(literal_part("{{ run.id }}.md"), None);
    }
}
