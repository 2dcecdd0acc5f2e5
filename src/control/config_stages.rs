//! What `config show --json` says about stages, in v0.2.0's shape:
//! `config.stages.<name>` (each stage kind's effective runner, model,
//! effort, timeout, prompt file and search switch) and `assets` (where
//! each stage's prompt comes from, and the workspace's role and skill
//! files). A stage the current plan runs reports its node's frozen
//! values; any other stage kind its definition under `[stages]`; v0.2.0's
//! legacy stage names (run by no loop) are listed with null settings and
//! the prompt file v0.2.0 kept for them, when it is there.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::compile::plan::FrozenPlan;
use crate::compile::registry::Registry;
use crate::compile::sources::{Inputs, Layer};
use crate::defs::config::V020_LEGACY_STAGES;

use super::Workspace;

/// One stage's effective settings (v0.2.0's `config.stages.<name>`).
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct EffectiveStage {
    pub runner: Option<String>,
    pub model: Option<String>,
    pub effort: Option<String>,
    pub timeout_seconds: Option<u64>,
    /// The prompt's file: relative to the workspace, or
    /// `packaged:assets/prompts/<name>` for a built-in one.
    pub prompt_file: Option<String>,
    /// `[stages.<kind>] allow_search` (search is the runner's own setting:
    /// `health` warns when it is set).
    pub allow_search: Option<bool>,
}

/// Every stage kind's effective settings, and v0.2.0's legacy names.
pub fn effective(
    ws: &Workspace,
    inputs: &Inputs,
    reg: &Registry,
    plan: Option<&FrozenPlan>,
) -> BTreeMap<String, EffectiveStage> {
    let mut out = BTreeMap::new();
    for (id, kind) in &reg.stage_kinds {
        let over = ws.config.stages.get(id).cloned().unwrap_or_default();
        let node = plan.and_then(|p| {
            p.content
                .planes
                .values()
                .flat_map(|l| l.nodes.values())
                .find(|n| &n.stage_kind == id)
                .map(|n| (p, n))
        });
        let stage = match node {
            Some((p, n)) => EffectiveStage {
                runner: Some(n.runner.clone()),
                model: n.model.clone(),
                effort: n.effort.map(|e| crate::defs::serde_name(&e)),
                timeout_seconds: Some(n.timeout_seconds),
                prompt_file: p.content.prompts.get(&n.prompt).map(|s| s.source.clone()),
                allow_search: Some(over.allow_search.unwrap_or(false)),
            },
            None => {
                let k = &kind.def;
                let v020 = crate::compile::params::v020_prompt(id);
                let rel = over.prompt.clone().or_else(|| {
                    inputs
                        .prompt(&v020)
                        .filter(|s| s.layer == Layer::Workspace)
                        .map(|_| v020)
                });
                let rel = rel.unwrap_or_else(|| k.prompt.clone());
                EffectiveStage {
                    runner: Some(over.runner.clone().unwrap_or_else(|| k.runner.clone())),
                    model: over.model.clone().or_else(|| k.model.clone()),
                    effort: over
                        .effort
                        .or(k.effort)
                        .map(|e| crate::defs::serde_name(&e)),
                    timeout_seconds: Some(over.timeout_seconds.unwrap_or(k.timeout_seconds)),
                    prompt_file: over
                        .prompt_file
                        .clone()
                        .or_else(|| Some(inputs.prompt(&rel).map_or(rel, |s| s.display()))),
                    allow_search: Some(over.allow_search.unwrap_or(false)),
                }
            }
        };
        out.insert(id.clone(), stage);
    }
    for legacy in V020_LEGACY_STAGES {
        let over = ws.config.stages.get(*legacy);
        // v0.2.0 gave `phasesplit` the designer's prompt.
        let stem = if *legacy == "phasesplit" {
            "designer"
        } else {
            legacy
        };
        let file = format!("{}/_{stem}.md", ws.config.paths.agents_dir.display());
        let prompt_file = over
            .and_then(|o| o.prompt_file.clone())
            .or_else(|| ws.root.join(&file).is_file().then_some(file));
        out.entry((*legacy).to_string()).or_insert(EffectiveStage {
            prompt_file,
            ..EffectiveStage::default()
        });
    }
    out
}

/// One resolved asset, as v0.2.0 named it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Asset {
    /// Always `millrace`: assets are built into this binary, not a bundle.
    pub bundle_version: String,
    /// `stage_prompt`, `role_definition` or `skill`.
    pub category: String,
    /// `prompts`, `roles` or `skills`.
    pub family: String,
    /// The file, relative to the workspace (or to the packaged assets).
    pub relative_path: String,
    /// `workspace:<path>` or `packaged:<path>`.
    pub resolved_ref: String,
    /// `workspace` or `packaged`.
    pub source_kind: String,
    /// The file's absolute path; null for a packaged one.
    pub workspace_path: Option<String>,
    /// What the stage asks for (stage prompts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_path: Option<String>,
}

/// v0.2.0's `assets` object.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Assets {
    pub bundle_version: String,
    pub stage_prompts: BTreeMap<String, Asset>,
    /// `agents/roles/*.md`: role files a workspace keeps for its prompts.
    pub roles: Vec<Asset>,
    /// `agents/skills/**`: skill files a workspace keeps for its prompts.
    pub skills: Vec<Asset>,
}

const BUNDLE: &str = "millrace";

fn asset(ws: &Workspace, category: &str, family: &str, file: &str) -> Asset {
    let packaged = file.strip_prefix("packaged:");
    Asset {
        bundle_version: BUNDLE.into(),
        category: category.into(),
        family: family.into(),
        relative_path: packaged.unwrap_or(file).to_string(),
        resolved_ref: match packaged {
            Some(p) => format!("packaged:{p}"),
            None => format!("workspace:{file}"),
        },
        source_kind: if packaged.is_some() {
            "packaged"
        } else {
            "workspace"
        }
        .into(),
        workspace_path: packaged
            .is_none()
            .then(|| ws.root.join(file).display().to_string()),
        requested_path: None,
    }
}

/// The files under `agents/<dir>` (sorted, workspace-relative), at most
/// 1,000 and 4 levels deep.
fn files_under(ws: &Workspace, dir: &str) -> Vec<String> {
    let base = ws.agents.join(dir);
    let mut files: Vec<String> = walkdir::WalkDir::new(&base)
        .max_depth(4)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| {
            e.path()
                .strip_prefix(&ws.root)
                .ok()
                .map(|p| p.display().to_string())
        })
        .take(1000)
        .collect();
    files.sort();
    files
}

/// The assets of `stages` and of the workspace.
pub fn assets(ws: &Workspace, stages: &BTreeMap<String, EffectiveStage>) -> Assets {
    let stage_prompts = stages
        .iter()
        .filter_map(|(name, s)| {
            let file = s.prompt_file.as_deref()?;
            let mut a = asset(ws, "stage_prompt", "prompts", file);
            a.requested_path = Some(a.relative_path.clone());
            Some((name.clone(), a))
        })
        .collect();
    let list = |dir: &str, category: &str| {
        files_under(ws, dir)
            .iter()
            .map(|f| asset(ws, category, dir, f))
            .collect()
    };
    Assets {
        bundle_version: BUNDLE.into(),
        stage_prompts,
        roles: list("roles", "role_definition"),
        skills: list("skills", "skill"),
    }
}
