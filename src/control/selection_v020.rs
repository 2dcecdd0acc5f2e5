//! The `selection` of a run Python Millrace v0.2.0 froze, read from its
//! own `frozen_run_plan.json`: its refs are named with v0.2.0's packaged
//! registry (titles, aliases, files; `v020_registry.tsv`, taken from
//! millrace-ai 0.2.0), a ref the table does not know as a workspace
//! overlay. Nothing is recomputed with millrace's rules.

use serde_json::Value;

use super::selection::{
    ObjectRef, OutlinePolicy, PolicyToggles, RegistryObject, Selection, StageBinding,
};

const REGISTRY: &str = include_str!("v020_registry.tsv");

/// The registry object `r` (`{kind, id, version}`) names.
fn object(r: &Value) -> Option<RegistryObject> {
    let field = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
    let (kind, id, version) = (field("kind"), field("id"), field("version"));
    if id.is_empty() {
        return None;
    }
    let reference = ObjectRef {
        kind: kind.into(),
        id: id.into(),
        version: version.into(),
    };
    let known = REGISTRY
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|c| c.len() == 6 && c[0] == kind && c[1] == id && c[2] == version);
    Some(match known {
        Some(c) => RegistryObject {
            reference,
            aliases: c[4]
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
            title: Some(c[3].to_string()).filter(|t| !t.is_empty()),
            registry_layer: "packaged".into(),
            source_kind: "packaged_default".into(),
            source_ref: c[5].into(),
        },
        None => RegistryObject {
            reference,
            aliases: Vec::new(),
            title: None,
            registry_layer: "workspace".into(),
            source_kind: "workspace".into(),
            source_ref: format!("agents/registry/{id}__{version}.json"),
        },
    })
}

fn binding(stage: &Value) -> Option<StageBinding> {
    let s = |k: &str| stage.get(k).and_then(Value::as_str).map(str::to_string);
    let kind_id = s("kind_id")?;
    let asset = stage.get("prompt_asset");
    let asset_field = |k: &str| {
        asset
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Some(StageBinding {
        node_id: s("node_id")?,
        stage: kind_id
            .split_once('.')
            .map_or(kind_id.as_str(), |(_, k)| k)
            .replace('-', "_"),
        stage_kind: object(stage.get("stage_kind_ref")?)?,
        kind_id,
        model_profile: stage.get("model_profile_ref").and_then(object),
        runner: s("runner").unwrap_or_default(),
        model: s("model"),
        effort: s("effort"),
        allow_search: stage.get("allow_search").and_then(Value::as_bool),
        timeout_seconds: stage
            .get("timeout_seconds")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        prompt_asset_ref: s("prompt_asset_ref").unwrap_or_default(),
        prompt_resolved_ref: asset_field("resolved_ref"),
        prompt_source_kind: asset_field("source_kind"),
    })
}

/// The selection v0.2.0's frozen plan `plan` (the whole file) made for
/// run `run_id`; none when it is not one.
pub fn of(plan: &Value, run_id: &str) -> Option<Selection> {
    let c = plan.get("content")?;
    let hash = plan.get("content_hash")?.as_str()?;
    let refs = |k: &str| c.get(k).and_then(object);
    let outline = c.get("outline_policy");
    let toggles = c.get("policy_toggles");
    let toggle = |k: &str| toggles.and_then(|t| t.get(k));
    let mode = refs("selected_mode_ref")?;
    Some(Selection {
        scope: "frozen_run".into(),
        run_id: Some(run_id.to_string()),
        frozen_plan_id: format!("frozen-plan:{hash}"),
        frozen_plan_hash: hash.to_string(),
        research_participation: c
            .get("research_participation")
            .and_then(Value::as_str)
            .unwrap_or("none")
            .into(),
        selection: refs("selection_ref").unwrap_or_else(|| mode.clone()),
        mode,
        execution_loop: refs("selected_execution_loop_ref"),
        task_authoring_profile: refs("task_authoring_profile_ref"),
        model_profile: refs("model_profile_ref"),
        outline_policy: outline.map(|o| OutlinePolicy {
            mode: o
                .get("mode")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            shard_glob: o.get("shard_glob").and_then(Value::as_str).map(Into::into),
        }),
        policy_toggles: PolicyToggles {
            allow_execution_search: toggle("allow_execution_search").and_then(Value::as_bool),
            allow_research_search: toggle("allow_research_search").and_then(Value::as_bool),
            integration_mode: toggle("integration_mode")
                .and_then(Value::as_str)
                .unwrap_or("never")
                .into(),
            run_update_on_empty: toggle("run_update_on_empty")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        },
        complexity: None,
        stage_bindings: ["execution_plan", "research_plan"]
            .iter()
            .filter_map(|p| c.get(*p)?.get("stages")?.as_array())
            .flatten()
            .filter_map(binding)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn packaged_refs_are_named_from_v020s_registry_and_others_as_overlays() {
        let known =
            object(&json!({"kind": "loop_config", "id": "execution.standard", "version": "1.0.0"}))
                .unwrap();
        assert_eq!(known.aliases, ["standard", "builder-qa-loop"]);
        assert_eq!(known.title.as_deref(), Some("Standard Execution Loop"));
        assert_eq!(known.registry_layer, "packaged");
        let overlay =
            object(&json!({"kind": "mode", "id": "mode.mine", "version": "1.0.0"})).unwrap();
        assert_eq!(overlay.registry_layer, "workspace");
        assert!(overlay.aliases.is_empty());
        assert!(object(&json!({})).is_none());
    }

    #[test]
    fn a_frozen_plan_maps_to_its_selection() {
        let r = |kind: &str, id: &str| json!({"kind": kind, "id": id, "version": "1.0.0"});
        let plan = json!({"content_hash": "ab", "content": {
            "selected_mode_ref": r("mode", "mode.standard"),
            "selection_ref": r("mode", "mode.standard"),
            "model_profile_ref": r("model_profile", "model.default"),
            "outline_policy": {"mode": "hybrid", "shard_glob": null},
            "policy_toggles": {"integration_mode": "always", "run_update_on_empty": true},
            "execution_plan": {"stages": [{
                "node_id": "builder", "kind_id": "execution.large-plan",
                "stage_kind_ref": r("registered_stage_kind", "execution.large-plan"),
                "runner": "codex", "timeout_seconds": 600, "prompt_asset_ref": "agents/_start.md",
                "prompt_asset": {"resolved_ref": "workspace:agents/_start.md", "source_kind": "workspace"}
            }]},
            "research_plan": null
        }});
        let s = of(&plan, "r1").unwrap();
        assert_eq!(s.frozen_plan_id, "frozen-plan:ab");
        assert_eq!(s.policy_toggles.integration_mode, "always");
        assert_eq!(s.outline_policy.unwrap().mode, "hybrid");
        assert_eq!(s.stage_bindings.len(), 1);
        assert_eq!(s.stage_bindings[0].stage, "large_plan");
        assert_eq!(s.stage_bindings[0].prompt_source_kind, "workspace");
        assert!(of(&json!({}), "r1").is_none());
    }
}
