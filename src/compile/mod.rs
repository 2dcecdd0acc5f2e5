//! The plan compiler: inputs → registry → checked loop graphs → frozen plan.
//!
//! [`compile`] is a short sequence of phases. Each phase reports every problem
//! it finds into one [`Diagnostics`] list; compilation fails if any of them is
//! an error, so a user sees all problems of a broken overlay at once.

pub mod describe;
pub mod graph;
pub mod params;
pub mod plan;
pub mod registry;
pub mod sources;
pub mod templates;

use std::collections::BTreeMap;

use crate::defs::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::defs::schema::DocKind;
use crate::defs::stage_kind::Plane;

use plan::{
    Fingerprint, FrozenPlan, InputHash, LoopPlan, ModeInfo, PlanContent, StageKindPlan,
    TerminalPlan, COMPILER_VERSION,
};
use registry::Registry;
use sources::Inputs;
use templates::PromptChecker;

/// Result of a compile: the plan (when there were no errors) and every
/// diagnostic, warnings included.
#[derive(Debug)]
pub struct Compiled {
    pub plan: Option<FrozenPlan>,
    pub diagnostics: Diagnostics,
    pub registry: Registry,
}

/// Compiles the mode `mode` (id or alias; `None` = the config's `[plan] mode`).
///
/// Every loop and mode in the registry is checked, not only the selected
/// ones, so `plan validate` catches a broken overlay before a mode uses it.
pub fn compile(inputs: &Inputs, mode: Option<&str>) -> Compiled {
    let mut diags = Diagnostics::new();
    let registry = Registry::load(inputs, &mut diags);
    params::check_config_stages(&registry, inputs, &mut diags);

    let mut checked = BTreeMap::new();
    for (id, lp) in &registry.loops {
        if let Some(c) = graph::check_loop(&registry, lp, &inputs.config, &mut diags) {
            checked.insert(id.clone(), c);
        }
    }
    let mut prompts = PromptChecker::default();
    let mut plans = BTreeMap::new();
    for mode in registry.modes.values() {
        if let Some(p) = mode_plan(
            &registry,
            inputs,
            &mut prompts,
            mode,
            &mut checked,
            &mut diags,
        ) {
            plans.insert(mode.def.id.clone(), p);
        }
    }

    let wanted = mode.unwrap_or(&inputs.config.plan.mode);
    let selected = registry.mode(wanted).map(|m| m.def.id.clone());
    if selected.is_none() {
        let mut names: Vec<&str> = registry.modes.keys().map(String::as_str).collect();
        names.extend(
            registry
                .modes
                .values()
                .flat_map(|m| m.def.aliases.iter().map(String::as_str)),
        );
        let mut d = Diagnostic::error("mode.unknown", format!("unknown mode `{wanted}`"));
        if mode.is_none() {
            // Named by `[plan] mode`: point at it.
            d = d.at(
                inputs.config_path.clone(),
                crate::defs::config::toml_pos(&inputs.config_text, "plan", "mode"),
            );
        }
        d = match did_you_mean(wanted, names.iter().copied()) {
            Some(s) => d.with_hint(format!("did you mean `{s}`?")),
            None => d.with_hint("see `millrace modes list`"),
        };
        diags.push(d);
    }
    let diagnostics = diags.finish();
    let plan = match selected {
        Some(id) if !diagnostics.has_errors() => plans.remove(&id).map(|content| {
            let fingerprint = fingerprint(inputs, &id);
            FrozenPlan::new(content, fingerprint)
        }),
        _ => None,
    };
    Compiled {
        plan,
        diagnostics,
        registry,
    }
}

fn mode_plan(
    reg: &Registry,
    inputs: &Inputs,
    prompts: &mut PromptChecker,
    mode: &registry::Item<crate::defs::mode::ModeDef>,
    checked: &mut BTreeMap<String, graph::CheckedLoop>,
    diags: &mut Diagnostics,
) -> Option<PlanContent> {
    let errors_before = diags.error_count();
    let def = &mode.def;
    if !def.loops.contains_key(&Plane::Execution) {
        diags.push(reg.key_error(
            &mode.origin.child("loops"),
            "mode.no_execution",
            format!("mode `{}` selects no execution loop", def.id),
        ));
    }
    for kind in def.stages.keys() {
        if !reg.stage_kinds.contains_key(kind) && !reg.is_broken(DocKind::StageKind, kind) {
            let mut d = reg.key_error(
                &mode.origin.child("stages").child(kind),
                "mode.unknown_stage_kind",
                format!("mode `{}` overrides unknown stage kind `{kind}`", def.id),
            );
            if let Some(s) = did_you_mean(kind, reg.stage_kinds.keys().map(String::as_str)) {
                d = d.with_hint(format!("did you mean `{s}`?"));
            }
            diags.push(d);
        }
    }
    let mut planes = BTreeMap::new();
    let mut prompt_plans = BTreeMap::new();
    let mut kind_plans = BTreeMap::new();
    for (plane, loop_id) in &def.loops {
        let at = mode.origin.child("loops").child(plane.as_str());
        let Some(lp) = reg.loops.get(loop_id) else {
            if reg.is_broken(DocKind::Loop, loop_id) {
                // Its own errors are reported; the mode cannot compile.
                diags.push(
                    Diagnostic::error(
                        "mode.broken_loop",
                        format!("mode `{}` uses loop `{loop_id}`, which has errors", def.id),
                    )
                    .at(reg.file(at.file).display.clone(), reg.pos(&at)),
                );
                continue;
            }
            let mut d = reg.error(
                &at,
                "mode.unknown_loop",
                format!("mode `{}` selects unknown loop `{loop_id}`", def.id),
            );
            d = match did_you_mean(loop_id, reg.loops.keys().map(String::as_str)) {
                Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                None => d.with_hint("see `millrace loops list`"),
            };
            diags.push(d);
            continue;
        };
        if lp.plane != *plane {
            diags.push(reg.error(
                &at,
                "mode.plane_mismatch",
                format!(
                    "loop `{loop_id}` is a `{}` loop, not `{}`",
                    lp.plane.as_str(),
                    plane.as_str()
                ),
            ));
            continue;
        }
        let mut nodes = BTreeMap::new();
        for (node_id, node) in &lp.nodes {
            let Some(kind) = reg.stage_kinds.get(&node.def.stage) else {
                continue;
            };
            if let Some((n, p)) = params::resolve_node(
                reg,
                inputs,
                prompts,
                mode,
                node_id,
                &node.origin,
                node.def.overrides(),
                kind,
                diags,
            ) {
                nodes.insert(node_id.clone(), n);
                prompt_plans.insert(p.path.clone(), p);
                kind_plans
                    .entry(kind.def.id.clone())
                    .or_insert_with(|| StageKindPlan {
                        id: kind.def.id.clone(),
                        plane: kind.def.plane,
                        title: kind.def.title.clone(),
                        running_marker: kind.def.running_marker.clone(),
                        outcomes: kind.def.outcomes.clone(),
                        failure_outcome: kind.def.failure_outcome.clone(),
                        source: reg.file(kind.origin.file).display.clone(),
                    });
            }
        }
        let Some(routing) = checked.get(loop_id) else {
            continue;
        };
        planes.insert(
            *plane,
            LoopPlan {
                loop_id: lp.id.clone(),
                plane: lp.plane,
                title: lp.title.clone(),
                size: lp.size,
                source: reg.file(lp.origin.file).display.clone(),
                extends: lp.extends.clone(),
                entries: lp
                    .entry
                    .iter()
                    .map(|(k, v)| (k.clone(), v.def.clone()))
                    .collect(),
                nodes,
                terminals: lp
                    .terminals
                    .iter()
                    .map(|(k, t)| {
                        (
                            k.clone(),
                            TerminalPlan {
                                class: t.def.class,
                                status: t.def.status.clone(),
                                queue: t.def.queue,
                                description: t.def.description.clone(),
                            },
                        )
                    })
                    .collect(),
                routes: routing.routes.clone(),
                thresholds: routing.thresholds.clone(),
                max_stage_runs: routing.max_stage_runs,
            },
        );
    }
    if diags.error_count() > errors_before {
        return None;
    }
    Some(PlanContent {
        compiler_version: COMPILER_VERSION.to_string(),
        mode: ModeInfo {
            id: def.id.clone(),
            aliases: def.aliases.clone(),
            title: def.title.clone(),
            source: reg.file(mode.origin.file).display.clone(),
        },
        planes,
        stage_kinds: kind_plans,
        prompts: prompt_plans,
        outage: inputs.config.outage.clone(),
    })
}

/// What a plan for `mode_id` compiled from `inputs` would be fingerprinted
/// with; equal to a persisted plan's fingerprint means that plan is current.
pub fn fingerprint(inputs: &Inputs, mode_id: &str) -> Fingerprint {
    let mut hashes: Vec<InputHash> = inputs
        .definitions
        .iter()
        .map(|(_, s)| s)
        .chain(inputs.prompts.iter().map(|(_, s)| s))
        .map(|s| InputHash {
            layer: s.layer,
            path: s.path.clone(),
            sha256: s.sha256(),
        })
        .collect();
    hashes.dedup();
    Fingerprint::new(mode_id, &inputs.config.hash(), hashes)
}

#[cfg(test)]
mod tests;
