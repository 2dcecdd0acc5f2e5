//! Prompt template checks: every template must parse (minijinja) and use only
//! the documented render context, so a typo fails at compile time instead of
//! in the middle of a run.

use std::collections::BTreeMap;

use crate::defs::config::sha256_hex;
use crate::defs::diag::{did_you_mean, Diagnostic, Diagnostics, Pos};

use super::plan::PromptPlan;
use super::sources::{is_contained, Inputs};

/// Top-level variables of the prompt render context (docs/authoring.md).
pub const CONTEXT: [(&str, &str); 15] = [
    (
        "item",
        "research work item: family, id, title, spec_id, path, batch_id, body (the file's text); none for task runs",
    ),
    (
        "artifacts",
        "outputs and inputs of the stage: lists of {name, path, format, description, required_on}",
    ),
    (
        "artifact_contract",
        "ready-made paragraph naming the artifacts to read and to write, with paths and formats",
    ),
    ("today", "today's UTC date, YYYY-MM-DD (card headings)"),
    (
        "task",
        "active task: id, title, body, spec_id, date, fields (map); none for runs without a task",
    ),
    ("run", "id and dir of the run"),
    ("mode", "id of the mode"),
    ("loop", "id and plane of the loop"),
    ("node", "id of the node"),
    ("stage", "id, title and running_marker of the stage kind"),
    (
        "outcomes",
        "legal outcomes: list of {marker, class, description}",
    ),
    (
        "marker_contract",
        "ready-made paragraph telling the agent how to end (the `### MARKER` line)",
    ),
    ("attempt", "1-based attempt number of this node in the run"),
    ("counters", "threshold counters of the run, name → value"),
    (
        "previous",
        "earlier stage results of the run: list of {node, stage, outcome, summary}",
    ),
];

/// `paths` is listed separately to keep the table above readable.
pub const PATHS_VARIABLE: (&str, &str) = (
    "paths",
    "workspace, agents, run_dir, status_file, tasks_file, backlog_file",
);

pub fn context_names() -> impl Iterator<Item = &'static str> {
    CONTEXT
        .iter()
        .map(|(n, _)| *n)
        .chain(std::iter::once(PATHS_VARIABLE.0))
}

/// Resolves and checks prompt templates, caching per path.
#[derive(Default)]
pub struct PromptChecker {
    cache: BTreeMap<String, Option<PromptPlan>>,
}

impl PromptChecker {
    /// Resolves `rel`; `used_at` locates the definition that named it.
    pub fn check(
        &mut self,
        inputs: &Inputs,
        rel: &str,
        used_at: (&str, Pos),
        diags: &mut Diagnostics,
    ) -> Option<PromptPlan> {
        if !is_contained(rel) {
            diags.push(
                Diagnostic::error("path.escape", format!("prompt path `{rel}` escapes the prompt directory"))
                    .at(used_at.0, used_at.1)
                    .with_hint("prompt paths are relative to agents/prompts/ (or the packaged prompts) and may not use `..` to leave it"),
            );
            return None;
        }
        if let Some(cached) = self.cache.get(rel) {
            return cached.clone();
        }
        let result = check_uncached(inputs, rel, used_at, diags);
        self.cache.insert(rel.to_string(), result.clone());
        result
    }
}

/// Each variable the template uses must be in the documented render
/// context (or a global); each other one is an error where it is used.
fn check_variables(
    env: &minijinja::Environment<'_>,
    template: &minijinja::Template<'_, '_>,
    text: &str,
    display: &str,
    diags: &mut Diagnostics,
) {
    let globals: Vec<&str> = env.globals().map(|(n, _)| n).collect();
    let mut unknown: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !globals.contains(&v.as_str()) && !context_names().any(|n| n == v))
        .collect();
    unknown.sort();
    for var in unknown {
        let pos = find_use(text, &var);
        let mut d = Diagnostic::error(
            "prompt.unknown_variable",
            format!("prompt template uses `{var}`, which is not in the render context"),
        )
        .at(display.to_string(), pos);
        d = match did_you_mean(&var, context_names()) {
            Some(s) => d.with_hint(format!("did you mean `{s}`?")),
            None => d.with_hint(format!(
                "available: {}",
                context_names().collect::<Vec<_>>().join(", ")
            )),
        };
        diags.push(d);
    }
}

fn check_uncached(
    inputs: &Inputs,
    rel: &str,
    used_at: (&str, Pos),
    diags: &mut Diagnostics,
) -> Option<PromptPlan> {
    let Some(source) = inputs.prompt(rel) else {
        let known = inputs.prompts.iter().map(|(p, _)| p.as_str());
        let mut d = Diagnostic::error(
            "prompt.missing",
            format!("prompt template `{rel}` does not exist"),
        )
        .at(used_at.0, used_at.1);
        d = match did_you_mean(rel, known) {
            Some(s) => d.with_hint(format!("did you mean `{s}`?")),
            None => d.with_hint("put the template under agents/prompts/"),
        };
        diags.push(d);
        return None;
    };
    let display = source.display();
    let env = minijinja::Environment::new();
    let template = match env.template_from_named_str(rel, &source.text) {
        Ok(t) => t,
        Err(err) => {
            let line = err.line().unwrap_or(1);
            diags.push(
                Diagnostic::error(
                    "prompt.syntax",
                    format!(
                        "prompt template does not parse: {}",
                        err.detail().unwrap_or("syntax error")
                    ),
                )
                .at(display, Pos::new(line, 1)),
            );
            return None;
        }
    };
    // A frozen plan carries each prompt's own text: a template that pulls
    // in another would pass here and fail at every run.
    if let Some((pos, what)) = find_composition(&source.text) {
        diags.push(
            Diagnostic::error(
                "prompt.include",
                format!(
                    "prompt template uses `{what}`; prompts are frozen with the plan one file each"
                ),
            )
            .at(display, pos)
            .with_hint("inline the text, or use a macro defined in the same template"),
        );
        return None;
    }
    check_variables(&env, &template, &source.text, &display, diags);
    Some(PromptPlan {
        path: rel.to_string(),
        source: display,
        sha256: sha256_hex(source.text.as_bytes()),
        template: source.text.to_string(),
    })
}

/// The first `{% include %}`, `import`, `from` or `extends` tag, if any.
fn find_composition(text: &str) -> Option<(Pos, &'static str)> {
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        let mut offset = 0;
        while let Some(at) = rest.find("{%") {
            let after = rest[at + 2..].trim_start_matches(['-', '+', ' ', '\t']);
            for word in ["include", "import", "from", "extends"] {
                if after.starts_with(word)
                    && after[word.len()..].starts_with(|c: char| c.is_whitespace())
                {
                    let col = line[..offset + at].chars().count() + 1;
                    return Some((Pos::new(i + 1, col), word));
                }
            }
            offset += at + 2;
            rest = &rest[at + 2..];
        }
    }
    None
}

/// Best-effort location of a variable's first use inside `{{ }}` or `{% %}`.
fn find_use(text: &str, var: &str) -> Pos {
    for (i, line) in text.lines().enumerate() {
        let mut search = 0;
        while let Some(off) = line[search..].find(var) {
            let at = search + off;
            let before = line[..at].chars().last();
            let after = line[at + var.len()..].chars().next();
            let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            // `x.tsak` is an attribute, not a use of `tsak`; `tsak.body` is.
            if !ident(before)
                && before != Some('.')
                && !ident(after)
                && (line[..at].contains("{{") || line[..at].contains("{%"))
            {
                return Pos::new(i + 1, line[..at].chars().count() + 1);
            }
            search = at + var.len();
        }
    }
    Pos::START
}
