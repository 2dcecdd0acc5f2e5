//! Prompt rendering: the documented render context (docs/authoring.md)
//! and the marker contract every stage prompt ends with.

use crate::defs::layout::{Layout, TaskStore};
use std::collections::BTreeMap;
use std::path::Path;

use minijinja::{Environment, UndefinedBehavior};

use crate::compile::plan::{LoopPlan, NodePlan, StageKindPlan};
use crate::defs::stage_kind::ArtifactFormat;
use crate::store::cards::Card;
use crate::store::research::WorkItem;

use super::artifacts::ArtifactView;
pub use super::progress::PreviousStage;

/// Inputs of one render.
pub struct PromptInputs<'a> {
    pub workspace: &'a Path,
    pub agents: &'a Path,
    pub run_id: &'a str,
    pub run_dir: &'a Path,
    pub mode: &'a str,
    pub lp: &'a LoopPlan,
    pub node: &'a NodePlan,
    pub kind: &'a StageKindPlan,
    pub task: Option<&'a Card>,
    pub attempt: u32,
    pub counters: &'a BTreeMap<String, u32>,
    pub previous: &'a [PreviousStage],
    pub status_file: &'a Path,
    /// The research work item (idea, incident, audit) and its file's text.
    pub item: Option<&'a WorkItem>,
    pub item_body: Option<&'a str>,
    /// Artifacts the stage must write, and those of earlier stages it reads.
    pub outputs: &'a [ArtifactView],
    pub inputs: &'a [ArtifactView],
}

/// The paragraph telling the agent which files to read and write.
pub fn artifact_contract(outputs: &[ArtifactView], inputs: &[ArtifactView]) -> String {
    let mut s = String::new();
    if !inputs.is_empty() {
        s.push_str("Read these artifacts of earlier stages:\n");
        for a in inputs {
            s.push_str(&format!("- `{}`: {}\n", a.name, a.path));
        }
        s.push('\n');
    }
    if !outputs.is_empty() {
        s.push_str(
            "Write these artifacts (the run fails the stage if one is missing or invalid):\n",
        );
        for a in outputs {
            let format = match a.format {
                ArtifactFormat::Markdown => "markdown".to_string(),
                ArtifactFormat::TaskCards => {
                    "task cards: `## YYYY-MM-DD - Title` headings, each followed by its body; no other `## ` headings".to_string()
                }
                ArtifactFormat::Json => "one JSON document".to_string(),
            };
            s.push_str(&format!(
                "- `{}` at {} ({format}; required on {}){}\n",
                a.name,
                a.path,
                a.required_on.join(", "),
                a.description
                    .as_ref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ));
        }
        s.push_str("Do not edit the task stores (tasks.md, tasksbacklog.md, …) yourself: the runtime moves what your artifacts hold into them.\n");
    }
    s
}

/// The paragraph telling the agent how to end its reply.
pub fn marker_contract(kind: &StageKindPlan, resume_targets: &[String]) -> String {
    let mut s = String::from(
        "When you are done, end your reply with exactly one line naming the outcome, one of:\n",
    );
    for o in &kind.outcomes {
        let class = serde_json::to_value(o.class)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        match &o.description {
            Some(d) => s.push_str(&format!("- `### {}` ({class}): {d}\n", o.marker)),
            None => s.push_str(&format!("- `### {}` ({class})\n", o.marker)),
        }
    }
    s.push_str(&format!(
        "\nIf you cannot finish, explain why and end with `### {}`. Nothing may follow the marker line.\n",
        kind.failure_outcome
    ));
    if !resume_targets.is_empty() {
        s.push_str(&format!(
            "To continue the loop at a specific stage, add a line `Resume-Stage: <node>` before the marker, with <node> one of: {}.\n",
            resume_targets.join(", ")
        ));
    }
    s
}

/// How much a prompt template may compute (minijinja fuel: roughly one
/// unit per instruction): far beyond any real prompt, small enough that a
/// runaway nested loop fails in well under a second.
pub const RENDER_FUEL: u64 = 5_000_000;

/// Renders the node's template with strict undefined and bounded work.
pub fn render(template: &str, inputs: &PromptInputs<'_>) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(RENDER_FUEL));
    let resume: Vec<String> = inputs
        .lp
        .routes
        .get(&inputs.node.node_id)
        .map(|t| {
            t.values()
                .flat_map(|r| r.resume_targets.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect()
        })
        .unwrap_or_default();
    let task = inputs.task.map(|c| {
        let fields: BTreeMap<String, String> = c.fields().into_iter().collect();
        minijinja::context! {
            id => &c.id, title => &c.title, body => c.body(), spec_id => &c.spec_id, date => &c.date, fields => fields,
        }
    });
    let display = |p: &Path| p.display().to_string();
    let ctx = minijinja::context! {
        task => task,
        run => minijinja::context! { id => inputs.run_id, dir => display(inputs.run_dir) },
        mode => inputs.mode,
        loop => minijinja::context! { id => &inputs.lp.loop_id, plane => inputs.lp.plane.as_str() },
        node => minijinja::context! { id => &inputs.node.node_id },
        stage => minijinja::context! { id => &inputs.kind.id, title => &inputs.kind.title, running_marker => &inputs.kind.running_marker },
        outcomes => minijinja::value::Serde(&inputs.kind.outcomes),
        marker_contract => marker_contract(inputs.kind, &resume),
        item => inputs.item.map(|i| minijinja::context! {
            family => i.family.as_str(), id => &i.id, title => &i.title, spec_id => &i.spec_id,
            path => i.path.as_ref().map(|p| display(&inputs.agents.join(p))),
            batch_id => &i.batch_id, body => inputs.item_body,
        }),
        artifacts => minijinja::context! {
            outputs => minijinja::value::Serde(inputs.outputs),
            inputs => minijinja::value::Serde(inputs.inputs),
        },
        artifact_contract => artifact_contract(inputs.outputs, inputs.inputs),
        today => crate::defs::clock::today_str(),
        attempt => inputs.attempt,
        counters => inputs.counters,
        previous => minijinja::value::Serde(inputs.previous),
        paths => minijinja::context! {
            workspace => display(inputs.workspace),
            agents => display(inputs.agents),
            run_dir => display(inputs.run_dir),
            status_file => display(inputs.status_file),
            tasks_file => display(&Layout::of(inputs.agents).store(TaskStore::Active)),
            backlog_file => display(&Layout::of(inputs.agents).store(TaskStore::Backlog)),
        },
    };
    let mut text = env.render_str(template, ctx)?;
    // A workspace prompt (v0.2.0's) that says nothing of the files the
    // stage must write is told them (`plan validate` warns).
    if crate::compile::prompt_contract::needs_contract(template, &inputs.kind.artifacts) {
        text.push_str("\n\n");
        text.push_str(&artifact_contract(inputs.outputs, inputs.inputs));
    }
    Ok(text)
}

/// A `Resume-Stage: <node>` line in the agent's final text, if any.
pub fn resume_request(text: &str) -> Option<&str> {
    text.lines().rev().find_map(|l| {
        let l = l.trim();
        let rest = l
            .strip_prefix("Resume-Stage:")
            .or_else(|| l.strip_prefix("resume_stage:"))?;
        Some(rest.trim()).filter(|s| !s.is_empty())
    })
}
