//! Stage parameter resolution: runner, model, effort, timeout and prompt for
//! each node, layered with provenance.
//!
//! Precedence, lowest first: the stage kind's defaults, the mode's
//! `defaults` (only for fields the stage kind lets be overridden), the loop
//! node, the mode's `stages.<kind>`, and `[stages.<kind>]` in millrace.toml.
//! Explicit overrides of a field the stage kind does not allow are errors.

use std::collections::BTreeMap;

use crate::defs::config::{toml_pos, ModelFamily};
use crate::defs::diag::{did_you_mean, Diagnostic, Diagnostics, Pos};
use crate::defs::loop_def::StageOverrides;
use crate::defs::mode::ModeDef;
use crate::defs::stage_kind::{Effort, OverrideField, StageKind};

use super::plan::{NodePlan, PromptPlan, Provenance};
use super::registry::{Item, Origin, Registry};
use super::sources::Inputs;
use super::templates::PromptChecker;

/// Where a layer of overrides lives: a YAML origin or a TOML table.
enum Place {
    Yaml(Origin),
    Toml(String),
    /// A workspace file that is itself the value (v0.2.0's `agents/_*.md`).
    File(String),
}

struct Layer {
    name: &'static str,
    overrides: StageOverrides,
    place: Place,
    /// Mode defaults apply where allowed and are skipped elsewhere.
    lenient: bool,
}

#[derive(Default)]
struct Resolved {
    /// Value, provenance, position, file and the index of the layer.
    runner: Option<(String, Provenance, Pos, String, usize)>,
    model: Option<(String, Provenance, Pos, String, usize)>,
    effort: Option<(Effort, Provenance)>,
    timeout: Option<(u64, Provenance)>,
    prompt: Option<(String, Provenance, Pos, String)>,
}

/// Resolves the parameters of one node.
#[allow(clippy::too_many_arguments)]
pub fn resolve_node(
    reg: &Registry,
    inputs: &Inputs,
    prompts: &mut PromptChecker,
    mode: &Item<ModeDef>,
    node_id: &str,
    node_origin: &Origin,
    node_overrides: StageOverrides,
    kind: &Item<StageKind>,
    diags: &mut Diagnostics,
) -> Option<(NodePlan, PromptPlan)> {
    let k = &kind.def;
    let config = &inputs.config;
    let errors_before = diags.error_count();
    let layers = layers_of(inputs, mode, node_origin, node_overrides, kind);
    let r = apply_layers(reg, inputs, &layers, k, node_id, diags);
    let (runner, runner_prov, runner_pos, runner_file, runner_layer) =
        r.runner.expect("stage kinds always set a runner");
    let model = model_for_runner(
        config,
        r.model,
        (&runner, &runner_prov, runner_layer),
        node_id,
        diags,
    );
    check_runner_known(config, &runner, (runner_file, runner_pos), node_id, diags);
    let (prompt_rel, prompt_prov, prompt_pos, prompt_file) =
        r.prompt.expect("stage kinds always set a prompt");
    let prompt = prompts.check(inputs, &prompt_rel, (&prompt_file, prompt_pos), diags);
    if diags.error_count() > errors_before {
        return None;
    }
    let mut provenance = BTreeMap::new();
    provenance.insert("runner".to_string(), runner_prov);
    provenance.insert("prompt".to_string(), prompt_prov);
    let (timeout_seconds, timeout_prov) = r.timeout.expect("stage kinds always set a timeout");
    provenance.insert("timeout_seconds".to_string(), timeout_prov);
    let model = model.map(|(m, p)| {
        provenance.insert("model".to_string(), p);
        m
    });
    let effort = r.effort.map(|(e, p)| {
        provenance.insert("effort".to_string(), p);
        e
    });
    let prompt = prompt?;
    let node = NodePlan {
        node_id: node_id.to_string(),
        stage_kind: k.id.clone(),
        runner,
        model,
        effort,
        timeout_seconds,
        prompt: prompt.path.clone(),
        provenance,
    };
    Some((node, prompt))
}

/// The layers of a node's parameters, lowest precedence first.
fn layers_of(
    inputs: &Inputs,
    mode: &Item<ModeDef>,
    node_origin: &Origin,
    node_overrides: StageOverrides,
    kind: &Item<StageKind>,
) -> Vec<Layer> {
    let k = &kind.def;
    let config = &inputs.config;
    let agents_dir = config.paths.agents_dir.to_string_lossy().to_string();
    let mut layers = vec![Layer {
        name: "stage_kind",
        overrides: StageOverrides {
            runner: Some(k.runner.clone()),
            model: k.model.clone(),
            effort: k.effort,
            timeout_seconds: Some(k.timeout_seconds),
            prompt: Some(k.prompt.clone()),
            ..StageOverrides::default()
        },
        place: Place::Yaml(kind.origin.clone()),
        lenient: false,
    }];
    // A migrated v0.2.0 workspace keeps its prompts as `agents/_<name>.md`:
    // they replace the packaged prompt (explicit overrides still win).
    let v020 = v020_prompt(&k.id);
    if inputs
        .prompt(&v020)
        .is_some_and(|s| s.layer == super::sources::Layer::Workspace)
    {
        layers.push(Layer {
            name: "v020_prompt_file",
            overrides: StageOverrides {
                prompt: Some(v020.clone()),
                ..StageOverrides::default()
            },
            place: Place::File(format!("{agents_dir}/{v020}")),
            lenient: true,
        });
    }
    layers.extend([
        Layer {
            name: "mode_defaults",
            overrides: with_prompt_file(mode.def.defaults.clone(), &agents_dir),
            place: Place::Yaml(mode.origin.clone()),
            lenient: true,
        },
        Layer {
            name: "loop_node",
            overrides: node_overrides,
            place: Place::Yaml(node_origin.clone()),
            lenient: false,
        },
    ]);
    if let Some(o) = mode.def.stages.get(&k.id) {
        layers.push(Layer {
            name: "mode_stage",
            overrides: with_prompt_file(o.clone(), &agents_dir),
            place: Place::Yaml(mode.origin.child("stages").child(&k.id)),
            lenient: false,
        });
    }
    if let Some(o) = config.stages.get(&k.id) {
        layers.push(Layer {
            name: "config",
            overrides: with_prompt_file(o.clone(), &agents_dir),
            place: Place::Toml(format!("stages.{}", k.id)),
            lenient: false,
        });
    }
    layers
}

/// Applies the layers in order: each set field replaces the one below it
/// where the stage kind allows it (an explicit override it does not allow
/// is an error; lenient layers are skipped there).
fn apply_layers(
    reg: &Registry,
    inputs: &Inputs,
    layers: &[Layer],
    k: &StageKind,
    node_id: &str,
    diags: &mut Diagnostics,
) -> Resolved {
    let mut r = Resolved::default();
    for (i, layer) in layers.iter().enumerate() {
        let o = &layer.overrides;
        let fields: [(OverrideField, bool); 5] = [
            (OverrideField::Runner, o.runner.is_some()),
            (OverrideField::Model, o.model.is_some()),
            (OverrideField::Effort, o.effort.is_some()),
            (OverrideField::TimeoutSeconds, o.timeout_seconds.is_some()),
            (OverrideField::Prompt, o.prompt.is_some()),
        ];
        for (field, set) in fields {
            if !set {
                continue;
            }
            let allowed = i == 0 || k.overridable.contains(&field);
            let (file, at, pos) = locate(reg, inputs, &layer.place, field.as_str());
            if !allowed {
                if !layer.lenient {
                    diags.push(not_allowed(k, field, node_id).at(file, pos));
                }
                continue;
            }
            let prov = Provenance {
                layer: layer.name.to_string(),
                file: file.clone(),
                at,
            };
            match field {
                OverrideField::Runner => {
                    r.runner = Some((o.runner.clone().unwrap(), prov, pos, file, i))
                }
                OverrideField::Model => {
                    r.model = Some((o.model.clone().unwrap(), prov, pos, file, i))
                }
                OverrideField::Effort => r.effort = Some((o.effort.unwrap(), prov)),
                OverrideField::TimeoutSeconds => {
                    r.timeout = Some((o.timeout_seconds.unwrap(), prov))
                }
                OverrideField::Prompt => {
                    r.prompt = Some((o.prompt.clone().unwrap(), prov, pos, file))
                }
            }
        }
    }
    r
}

/// `override.not_allowed` for `field` of stage kind `k` (unlocated).
fn not_allowed(k: &StageKind, field: OverrideField, node_id: &str) -> Diagnostic {
    let allowed = if k.overridable.is_empty() {
        "none".to_string()
    } else {
        k.overridable
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Diagnostic::error(
        "override.not_allowed",
        format!(
            "stage kind `{}` does not allow overriding `{}` (node `{node_id}`)",
            k.id,
            field.as_str()
        ),
    )
    .with_hint(format!("overridable fields of `{}`: {allowed}", k.id))
}

/// The node's model: the resolved one, unless it belongs to another
/// model family than the runner's. A runner switched above where the model
/// was set takes its own default model; otherwise it is an error.
fn model_for_runner(
    config: &crate::defs::config::Config,
    model: Option<(String, Provenance, Pos, String, usize)>,
    (runner, runner_prov, runner_layer): (&str, &Provenance, usize),
    node_id: &str,
    diags: &mut Diagnostics,
) -> Option<(String, Provenance)> {
    let kind_of_runner = crate::defs::config::RunnerKind::of(runner, config.runners.get(runner));
    match (model, kind_of_runner.model_family()) {
        (Some(m), Some(family)) if ModelFamily::of_model(&m.0).is_some_and(|f| f != family) => {
            if m.4 < runner_layer {
                // The runner was switched above where the model was set:
                // the model belongs to the old runner; take the new one's.
                kind_of_runner.default_model().map(|d| {
                    (
                        d.to_string(),
                        Provenance {
                            layer: "runner_default".to_string(),
                            file: runner_prov.file.clone(),
                            at: format!("{} default model", runner),
                        },
                    )
                })
            } else {
                diags.push(
                    Diagnostic::error(
                        "runner.model_family",
                        format!(
                            "model `{}` is an {} model but runner `{runner}` of node `{node_id}` runs {} models",
                            m.0,
                            ModelFamily::of_model(&m.0).expect("checked").name(),
                            family.name()
                        ),
                    )
                    .at(m.3.clone(), m.2)
                    .with_hint(format!(
                        "set a model of the runner's family (e.g. `{}`) or another runner",
                        kind_of_runner.default_model().unwrap_or("?")
                    )),
                );
                None
            }
        }
        (m, _) => m.map(|(v, p, ..)| (v, p)),
    }
}

/// `runner.unknown` when no `[runners.<id>]` or built-in has this id.
fn check_runner_known(
    config: &crate::defs::config::Config,
    runner: &str,
    (file, pos): (String, Pos),
    node_id: &str,
    diags: &mut Diagnostics,
) {
    if !config.runner_ids().any(|id| id == runner) {
        let known: Vec<&str> = config.runner_ids().collect();
        let mut d = Diagnostic::error(
            "runner.unknown",
            format!("unknown runner `{runner}` for node `{node_id}`"),
        )
        .at(file, pos);
        d = match did_you_mean(runner, known.iter().copied()) {
            Some(s) => d.with_hint(format!("did you mean `{s}`?")),
            None => d.with_hint(format!(
                "known runners: {}; declare others under [runners.<id>] in millrace.toml",
                known.join(", ")
            )),
        };
        diags.push(d);
    }
}

/// File display, pointer/key text and position of a field in a layer.
fn locate(reg: &Registry, inputs: &Inputs, place: &Place, field: &str) -> (String, String, Pos) {
    match place {
        Place::Yaml(origin) => {
            let at = origin.child(field);
            let file = reg.file(at.file).display.clone();
            let pos = reg.pos(&at);
            (file, at.pointer, pos)
        }
        Place::Toml(table) => {
            let key = format!("{table}.{field}");
            (
                inputs.config_path.clone(),
                key,
                toml_pos(&inputs.config_text, table, field),
            )
        }
        Place::File(path) => (path.clone(), String::new(), Pos::START),
    }
}

/// v0.2.0's prompt file of stage kind `kind` (`agents/_<name>.md`).
pub fn v020_prompt(kind: &str) -> String {
    let name = match kind {
        "builder" => "start",
        "integration" => "integrate",
        "qa" => "check",
        "large_plan" => "start_large_plan",
        "large_execute" => "start_large_execute",
        other => other,
    };
    format!("_{name}.md")
}

/// `overrides` with v0.2.0's `prompt_file` (a path from the workspace
/// root) turned into a prompt path, when `prompt` is not set: under
/// `agents/prompts/` it is relative to it; v0.2.0's `agents/_<name>.md` is
/// found by its name; any other file of the workspace by its path
/// (`sources` collects it).
fn with_prompt_file(mut o: StageOverrides, agents_dir: &str) -> StageOverrides {
    if let (None, Some(file)) = (&o.prompt, &o.prompt_file) {
        let file = file.trim_start_matches("./");
        let agents = agents_dir.trim_end_matches('/');
        let rel = file
            .strip_prefix(&format!("{agents}/prompts/"))
            .or_else(|| {
                file.strip_prefix(&format!("{agents}/"))
                    .filter(|r| !r.contains('/') && r.starts_with('_'))
            })
            .unwrap_or(file);
        o.prompt = Some(rel.to_string());
    }
    o
}

/// Checks `[stages.<kind>]` keys of the config name real stage kinds.
pub fn check_config_stages(reg: &Registry, inputs: &Inputs, diags: &mut Diagnostics) {
    for kind in inputs.config.stages.keys() {
        let legacy = crate::defs::config::V020_LEGACY_STAGES.contains(&kind.as_str());
        if !reg.stage_kinds.contains_key(kind) && !legacy {
            let table = format!("stages.{kind}");
            let pos = toml_pos(&inputs.config_text, &table, "");
            let mut d = Diagnostic::error(
                "config.unknown_stage_kind",
                format!("[{table}] names unknown stage kind `{kind}`"),
            )
            .at(inputs.config_path.clone(), pos);
            if let Some(s) = did_you_mean(kind, reg.stage_kinds.keys().map(String::as_str)) {
                d = d.with_hint(format!("did you mean `{s}`?"));
            }
            diags.push(d);
        }
    }
}

#[cfg(test)]
mod toml_pos_tests {
    use super::*;

    #[test]
    fn keys_are_located_in_every_toml_shape() {
        let at = |text: &str| {
            let p = toml_pos(text, "stages.qa", "model");
            (p.line, p.column)
        };
        assert_eq!(at("[stages.qa]\nmodel = \"x\"\n"), (2, 1));
        assert_eq!(at("[ stages.qa ]\n  model = \"x\"\n"), (2, 3));
        assert_eq!(at("[stages]\nqa = { model = \"x\" }\n"), (2, 8));
        assert_eq!(at("stages.qa.model = \"x\"\n"), (1, 11));
        // The table itself, and text that does not parse.
        assert_eq!(toml_pos("\n[stages.qa]\n", "stages.qa", "").line, 2);
        assert_eq!(toml_pos("[[[", "stages.qa", "model"), Pos::START);
    }
}
