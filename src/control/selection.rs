//! v0.2.0's `selection` object (in `status`, `config show` and
//! `run-provenance`): what a plan selected — the mode, the execution loop,
//! each stage binding with its runner, model and prompt — mapped from our
//! frozen plan. v0.2.0 concepts millrace has no registry objects for are
//! named for what millrace does instead: the model "profile" is where a
//! stage's runner, model and effort come from (the mode's bindings, or the
//! `[policies.complexity]` band), the task-authoring "profile" is the
//! taskmaster stage's own contract, and the outline policy is `none`.
//! A v0.2.0 run's selection is read from its own frozen plan
//! ([`super::selection_v020`]).

use serde::Serialize;

use crate::compile::plan::{FrozenPlan, NodePlan};
use crate::defs::stage_kind::Plane;
use crate::store::cards::Card;

use super::Workspace;

/// A registry definition as v0.2.0 names one.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RegistryObject {
    #[serde(rename = "ref")]
    pub reference: ObjectRef,
    pub aliases: Vec<String>,
    pub title: Option<String>,
    /// `packaged` or `workspace`.
    pub registry_layer: String,
    /// `packaged_default` or `workspace`.
    pub source_kind: String,
    /// The definition's file.
    pub source_ref: String,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ObjectRef {
    /// `mode`, `loop_config` or `registered_stage_kind`.
    pub kind: String,
    pub id: String,
    /// Always `1.0.0`: millrace's definitions are not versioned; a plan's
    /// content hash names what was used.
    pub version: String,
}

fn object(
    kind: &str,
    id: &str,
    aliases: &[String],
    title: Option<&String>,
    source: &str,
) -> RegistryObject {
    let packaged = source.starts_with("packaged:");
    RegistryObject {
        reference: ObjectRef {
            kind: kind.into(),
            id: id.into(),
            version: "1.0.0".into(),
        },
        aliases: aliases.to_vec(),
        title: title.cloned(),
        registry_layer: if packaged { "packaged" } else { "workspace" }.into(),
        source_kind: if packaged {
            "packaged_default"
        } else {
            "workspace"
        }
        .into(),
        source_ref: source.to_string(),
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Selection {
    /// `preview` (what the next run would freeze) or `frozen_run`.
    pub scope: String,
    pub run_id: Option<String>,
    pub frozen_plan_id: String,
    pub frozen_plan_hash: String,
    /// `none`, or the research families the plan runs (`goalspec+incident+audit`).
    pub research_participation: String,
    pub selection: RegistryObject,
    pub mode: RegistryObject,
    pub execution_loop: Option<RegistryObject>,
    /// `task_authoring.millrace`: cards are authored by the taskmaster
    /// stage's contract (millrace has no task-authoring profiles).
    pub task_authoring_profile: Option<RegistryObject>,
    /// Where the plan's runners, models and efforts come from:
    /// `model.default` (the mode's bindings and `[stages]`).
    pub model_profile: Option<RegistryObject>,
    pub outline_policy: Option<OutlinePolicy>,
    pub policy_toggles: PolicyToggles,
    /// Null for a v0.2.0 run (as v0.2.0 reports it).
    pub complexity: Option<Complexity>,
    pub stage_bindings: Vec<StageBinding>,
}

/// v0.2.0's outline policy (how goal intake shards an outline).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct OutlinePolicy {
    /// `none` for millrace (it keeps no outline); a v0.2.0 run's own value.
    pub mode: String,
    pub shard_glob: Option<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PolicyToggles {
    pub allow_execution_search: Option<bool>,
    pub allow_research_search: Option<bool>,
    pub integration_mode: String,
    pub run_update_on_empty: bool,
}

/// v0.2.0's complexity routing (`[policies.complexity]`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Complexity {
    pub enabled: bool,
    /// The band the active task runs with.
    pub band: String,
    /// `disabled`, `task` (the card's `Complexity:`) or `default_band`.
    pub reason: String,
    /// The nodes whose effort the band sets.
    pub routed_node_ids: Vec<String>,
    pub routed_stage_types: Vec<String>,
    /// `model.complexity.<band>` when enabled and a routed node exists.
    pub selected_model_profile_ref: Option<String>,
    /// The card's `Complexity:` value.
    pub task_complexity: Option<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StageBinding {
    pub node_id: String,
    /// The stage kind id.
    pub stage: String,
    pub kind_id: String,
    pub stage_kind: RegistryObject,
    /// Where this node's model and effort come from: `model.default`, or
    /// `model.complexity.<band>` for a node the band routes.
    pub model_profile: Option<RegistryObject>,
    pub runner: String,
    pub model: Option<String>,
    pub effort: Option<String>,
    /// Null: web search is the runner's own setting.
    pub allow_search: Option<bool>,
    pub timeout_seconds: u64,
    /// The prompt template's path.
    pub prompt_asset_ref: String,
    /// `workspace:<path>` or `packaged:<path>`.
    pub prompt_resolved_ref: String,
    /// `workspace` or `packaged`.
    pub prompt_source_kind: String,
}

/// Stage kinds whose effort `[policies.complexity]` sets.
const COMPLEXITY_ROUTED: &[&str] = &[
    "builder",
    "qa",
    "hotfix",
    "doublecheck",
    "large_plan",
    "large_execute",
    "reassess",
    "refactor",
];

fn binding(plan: &FrozenPlan, n: &NodePlan, profile: RegistryObject) -> StageBinding {
    let kind = plan.content.kind_of(n);
    let source = plan
        .content
        .prompts
        .get(&n.prompt)
        .map_or_else(String::new, |p| p.source.clone());
    let packaged = source.starts_with("packaged:");
    StageBinding {
        node_id: n.node_id.clone(),
        stage: kind.id.clone(),
        kind_id: kind.id.clone(),
        stage_kind: object(
            "registered_stage_kind",
            &kind.id,
            std::slice::from_ref(&kind.id),
            kind.title.as_ref(),
            &kind.source,
        ),
        model_profile: Some(profile),
        runner: n.runner.clone(),
        model: n.model.clone(),
        effort: n.effort.map(|e| crate::defs::serde_name(&e)),
        allow_search: None,
        timeout_seconds: n.timeout_seconds,
        prompt_asset_ref: n.prompt.clone(),
        prompt_resolved_ref: if packaged {
            source.clone()
        } else {
            format!("workspace:{source}")
        },
        prompt_source_kind: if packaged { "packaged" } else { "workspace" }.into(),
    }
}

/// `[policies.complexity]` for `task` over the execution loop's nodes.
fn complexity(
    ws: &Workspace,
    execution: Option<&crate::compile::plan::LoopPlan>,
    task: Option<&Card>,
) -> Complexity {
    let task_complexity = task
        .and_then(|t| t.field("Complexity"))
        .map(|v| v.trim().to_string());
    let default_band = ws.config.complexity_default_band();
    let (band, reason) = match (&default_band, &task_complexity) {
        (None, _) => ("moderate".to_string(), "disabled"),
        (Some(_), Some(t)) => (t.to_ascii_lowercase(), "task"),
        (Some(d), None) => (d.clone(), "default_band"),
    };
    let routed: Vec<&NodePlan> = execution
        .map(|l| {
            l.nodes
                .values()
                .filter(|n| COMPLEXITY_ROUTED.contains(&n.stage_kind.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let selected_model_profile_ref =
        (default_band.is_some() && !routed.is_empty()).then(|| format!("model.complexity.{band}"));
    Complexity {
        enabled: default_band.is_some(),
        band,
        reason: reason.into(),
        routed_node_ids: routed.iter().map(|n| n.node_id.clone()).collect(),
        routed_stage_types: routed.iter().map(|n| n.stage_kind.clone()).collect(),
        selected_model_profile_ref,
        task_complexity,
    }
}

/// The active card (if any) and what sizing says about it now: what
/// v0.2.0's selection previews (`status`, `config show`,
/// `run-provenance`) are computed from.
pub fn active_and_size(
    ws: &Workspace,
    queue: &crate::store::queue::Queue,
) -> (Option<Card>, crate::interp::size_report::SizeReport) {
    let active = queue.active().ok().flatten();
    let size =
        crate::interp::size_report::report(&ws.config, &ws.root, &ws.agents, active.as_ref());
    (active, size)
}

/// The selection `plan` made, for `task` (the active one, when any).
pub fn of(
    ws: &Workspace,
    plan: &FrozenPlan,
    run_id: Option<&str>,
    task: Option<&Card>,
) -> Selection {
    let c = &plan.content;
    let mode = object(
        "mode",
        &c.mode.id,
        &c.mode.aliases,
        c.mode.title.as_ref(),
        &c.mode.source,
    );
    let execution = c.planes.get(&Plane::Execution);
    let families: Vec<&str> = c.research.keys().map(|f| f.as_str()).collect();
    let search = |plane: &str| {
        ws.config
            .policies
            .as_ref()
            .and_then(|p| p.get("search"))
            .and_then(|s| s.get(format!("{plane}_enabled")))
            .and_then(serde_json::Value::as_bool)
    };
    let complexity = complexity(ws, execution, task);
    Selection {
        scope: if run_id.is_some() {
            "frozen_run"
        } else {
            "preview"
        }
        .into(),
        run_id: run_id.map(str::to_string),
        frozen_plan_id: plan.plan_id.clone(),
        frozen_plan_hash: plan.content_hash.clone(),
        research_participation: if families.is_empty() {
            "none".into()
        } else {
            families.join("+")
        },
        selection: mode.clone(),
        mode,
        execution_loop: execution.map(|l| {
            let aliases = std::slice::from_ref(&l.loop_id);
            object(
                "loop_config",
                &l.loop_id,
                aliases,
                l.title.as_ref(),
                &l.source,
            )
        }),
        task_authoring_profile: Some(task_authoring(plan)),
        model_profile: Some(model_profile(ws, plan, None)),
        outline_policy: Some(OutlinePolicy {
            mode: "none".into(),
            shard_glob: None,
        }),
        policy_toggles: PolicyToggles {
            allow_execution_search: search("execution"),
            allow_research_search: search("research"),
            integration_mode: crate::defs::serde_name(&ws.config.execution.integration_mode),
            run_update_on_empty: ws.config.execution.run_update_on_empty,
        },
        stage_bindings: execution
            .map(|l| bindings(ws, plan, l, &complexity))
            .unwrap_or_default(),
        complexity: Some(complexity),
    }
}

/// The bindings of loop `l`'s nodes, each with the model profile the
/// complexity band gives it.
fn bindings(
    ws: &Workspace,
    plan: &FrozenPlan,
    l: &crate::compile::plan::LoopPlan,
    complexity: &Complexity,
) -> Vec<StageBinding> {
    l.nodes
        .values()
        .map(|n| {
            let routed = complexity.enabled && complexity.routed_node_ids.contains(&n.node_id);
            let band = routed.then_some(complexity.band.as_str());
            binding(plan, n, model_profile(ws, plan, band))
        })
        .collect()
}

/// Where a plan's models and efforts come from, named as v0.2.0 names a
/// model profile: `model.complexity.<band>` for a node the complexity band
/// routes, else `model.default` — the workspace's when `millrace.toml`
/// binds any stage (`[stages]`, `[runners]`), else the packaged mode's.
fn model_profile(ws: &Workspace, plan: &FrozenPlan, band: Option<&str>) -> RegistryObject {
    let workspace = !ws.config.stages.is_empty() || !ws.config.runners.is_empty();
    let source = if workspace {
        ws.config_path.file_name().map_or_else(
            || "millrace.toml".into(),
            |n| n.to_string_lossy().into_owned(),
        )
    } else {
        plan.content.mode.source.clone()
    };
    let (id, alias, title) = match band {
        Some(b) => (
            format!("model.complexity.{b}"),
            format!("complexity-{b}"),
            format!("Complexity band {b}: [policies.complexity] efforts over the mode's bindings"),
        ),
        None => (
            "model.default".to_string(),
            "default".to_string(),
            "The mode's stage bindings and [stages] in millrace.toml".to_string(),
        ),
    };
    object("model_profile", &id, &[alias], Some(&title), &source)
}

/// The taskmaster stage's contract, named as v0.2.0 names a task-authoring
/// profile (millrace has one, not a registry of them).
fn task_authoring(plan: &FrozenPlan) -> RegistryObject {
    let source = plan.content.stage_kinds.get("taskmaster").map_or_else(
        || "packaged:stages/taskmaster.yaml".to_string(),
        |k| k.source.clone(),
    );
    object(
        "task_authoring_profile",
        "task_authoring.millrace",
        &["millrace".to_string()],
        Some(&"The taskmaster stage's card contract (one card per task)".to_string()),
        &source,
    )
}
