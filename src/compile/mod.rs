//! The plan compiler: inputs → registry → checked loop graphs → frozen plan.
//!
//! [`compile`] is a short sequence of phases. Each phase reports every problem
//! it finds into one [`Diagnostics`] list; compilation fails if any of them is
//! an error, so a user sees all problems of a broken overlay at once.

pub mod artifacts;
pub mod bound;
pub mod cost;
pub mod describe;
pub mod graph;
pub mod params;
pub mod plan;
pub mod prompt_contract;
pub mod registry;
pub mod sources;
pub mod templates;

use std::collections::BTreeMap;

use crate::defs::config::ResearchMode;
use crate::defs::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::defs::research::ResearchFamily;
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
    artifacts::check_kinds(&registry, &mut diags);

    let mut checked = BTreeMap::new();
    for (id, lp) in &registry.loops {
        if let Some(c) = graph::check_loop(&registry, lp, &inputs.config, &mut diags) {
            artifacts::check_loop(&registry, lp, &c, &mut diags);
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
    if let Some(p) = selected.as_ref().and_then(|id| plans.get(id)) {
        cost::check_usd_caps(p, inputs, &mut diags);
        prompt_contract::check(p, &mut diags);
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

/// What planning one mode's loops works with.
struct ModeCx<'a, 'b> {
    reg: &'a Registry,
    inputs: &'a Inputs,
    prompts: &'b mut PromptChecker,
    mode: &'a registry::Item<crate::defs::mode::ModeDef>,
    checked: &'b mut BTreeMap<String, graph::CheckedLoop>,
    out: LoopOutputs,
    diags: &'b mut Diagnostics,
}

impl<'a> ModeCx<'a, '_> {
    /// The plan of loop `loop_id` as the mode places it on `plane` (`at` is
    /// where the mode names it); `None` with diagnostics when it cannot be.
    fn plan(&mut self, loop_id: &str, plane: Plane, at: &registry::Origin) -> Option<LoopPlan> {
        let lp = self.selected(loop_id, plane, at)?;
        let nodes = self.node_plans(lp);
        let routing = self.checked.get(loop_id)?;
        Some(loop_plan_of(self.reg, lp, nodes, routing))
    }

    /// The loop the mode selects, if it exists, compiles and serves `plane`.
    fn selected(
        &mut self,
        loop_id: &str,
        plane: Plane,
        at: &registry::Origin,
    ) -> Option<&'a registry::ResolvedLoop> {
        let (reg, def) = (self.reg, &self.mode.def);
        let Some(lp) = reg.loops.get(loop_id) else {
            if reg.is_broken(DocKind::Loop, loop_id) {
                // Its own errors are reported; the mode cannot compile.
                self.diags.push(
                    Diagnostic::error(
                        "mode.broken_loop",
                        format!("mode `{}` uses loop `{loop_id}`, which has errors", def.id),
                    )
                    .at(reg.file(at.file).display.clone(), reg.pos(at)),
                );
                return None;
            }
            let mut d = reg.error(
                at,
                "mode.unknown_loop",
                format!("mode `{}` selects unknown loop `{loop_id}`", def.id),
            );
            d = match did_you_mean(loop_id, reg.loops.keys().map(String::as_str)) {
                Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                None => d.with_hint("see `millrace loops list`"),
            };
            self.diags.push(d);
            return None;
        };
        if lp.plane != plane {
            self.diags.push(reg.error(
                at,
                "mode.plane_mismatch",
                format!(
                    "loop `{loop_id}` is a `{}` loop, not `{}`",
                    lp.plane.as_str(),
                    plane.as_str()
                ),
            ));
            return None;
        }
        Some(lp)
    }

    /// Each node's resolved parameters; its prompt and stage kind are kept
    /// for the plan.
    fn node_plans(&mut self, lp: &registry::ResolvedLoop) -> BTreeMap<String, plan::NodePlan> {
        let reg = self.reg;
        let mut nodes = BTreeMap::new();
        for (node_id, node) in &lp.nodes {
            let Some(kind) = reg.stage_kinds.get(&node.def.stage) else {
                continue;
            };
            let Some((n, p)) = params::resolve_node(
                reg,
                self.inputs,
                self.prompts,
                self.mode,
                node_id,
                &node.origin,
                node.def.overrides(),
                kind,
                self.diags,
            ) else {
                continue;
            };
            nodes.insert(node_id.clone(), n);
            self.out.prompts.insert(p.path.clone(), p);
            self.out
                .kinds
                .entry(kind.def.id.clone())
                .or_insert_with(|| StageKindPlan {
                    id: kind.def.id.clone(),
                    plane: kind.def.plane,
                    title: kind.def.title.clone(),
                    running_marker: kind.def.running_marker.clone(),
                    outcomes: kind.def.outcomes.clone(),
                    failure_outcome: kind.def.failure_outcome.clone(),
                    source: reg.file(kind.origin.file).display.clone(),
                    artifacts: kind.def.artifacts.clone(),
                    inputs: kind.def.inputs.clone(),
                });
        }
        nodes
    }
}

/// The frozen plan of a checked loop with its resolved nodes.
fn loop_plan_of(
    reg: &Registry,
    lp: &registry::ResolvedLoop,
    nodes: BTreeMap<String, plan::NodePlan>,
    routing: &graph::CheckedLoop,
) -> LoopPlan {
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
                        effects: t.def.effects.clone(),
                        description: t.def.description.clone(),
                    },
                )
            })
            .collect(),
        routes: routing.routes.clone(),
        thresholds: routing.thresholds.clone(),
        max_stage_runs: routing.max_stage_runs,
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
    check_mode_keys(reg, mode, diags);
    let mut cx = ModeCx {
        reg,
        inputs,
        prompts,
        mode,
        checked,
        out: LoopOutputs::default(),
        diags,
    };
    let mut planes = BTreeMap::new();
    for (plane, loop_id) in &def.loops {
        let at = mode.origin.child("loops").child(plane.as_str());
        if let Some(p) = cx.plan(loop_id, *plane, &at) {
            planes.insert(*plane, p);
        }
    }
    let research = research_plans(&mut cx, &planes);
    let large = large_plan(&mut cx, &planes);
    let (prompt_plans, kind_plans) = (cx.out.prompts, cx.out.kinds);
    if cx.diags.error_count() > errors_before {
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
        research,
        large,
        stage_kinds: kind_plans,
        prompts: prompt_plans,
        outage: inputs.config.outage.clone(),
    })
}

/// A mode selects an execution loop and overrides only known stage kinds.
fn check_mode_keys(
    reg: &Registry,
    mode: &registry::Item<crate::defs::mode::ModeDef>,
    diags: &mut Diagnostics,
) {
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
}

/// Each research family runs the loop the mode names for it, else the
/// mode's research loop when that loop takes the family's intake, else the
/// packaged loop of the family. Only the families `[research] mode` lets
/// run are planned (every run copies the plan, so a `stub` workspace does
/// not carry loops it never runs); the loops themselves are checked either
/// way.
fn research_plans(
    cx: &mut ModeCx<'_, '_>,
    planes: &BTreeMap<Plane, LoopPlan>,
) -> BTreeMap<ResearchFamily, LoopPlan> {
    let mut research = BTreeMap::new();
    let served = |f: ResearchFamily| {
        planes
            .get(&Plane::Research)
            .is_some_and(|lp| lp.entries.contains_key(f.entry()))
    };
    let enabled: Vec<ResearchFamily> = ResearchFamily::ALL
        .into_iter()
        .filter(|f| match cx.inputs.config.research.mode {
            ResearchMode::Auto => true,
            ResearchMode::Goalspec => *f == ResearchFamily::Goalspec,
            ResearchMode::Incident => *f == ResearchFamily::Incident,
            ResearchMode::Audit => *f == ResearchFamily::Audit,
            ResearchMode::Stub => served(*f),
        })
        .collect();
    for family in enabled {
        let (loop_id, at) = match cx.mode.def.research.get(&family) {
            Some(id) => (
                id.clone(),
                cx.mode.origin.child("research").child(family.as_str()),
            ),
            None => match planes.get(&Plane::Research) {
                Some(lp) if lp.entries.contains_key(family.entry()) => {
                    research.insert(family, lp.clone());
                    continue;
                }
                _ => (family.default_loop().to_string(), cx.mode.origin.clone()),
            },
        };
        let Some(p) = cx.plan(&loop_id, Plane::Research, &at) else {
            continue;
        };
        if !p.entries.contains_key(family.entry()) {
            cx.diags.push(cx.reg.error(
                &at,
                "mode.plane_mismatch",
                format!(
                    "loop `{loop_id}` serves the `{family}` research family but has no `{}` entry",
                    family.entry()
                ),
            ));
            continue;
        }
        research.insert(family, p);
    }
    research
}

/// With `[sizing]`, LARGE work may run the `large` mode's execution loop
/// when the mode's own serves small work.
fn large_plan(cx: &mut ModeCx<'_, '_>, planes: &BTreeMap<Plane, LoopPlan>) -> Option<LoopPlan> {
    let small = planes
        .get(&Plane::Execution)
        .is_some_and(|lp| lp.size == crate::defs::loop_def::TaskSize::Small);
    let large_mode = cx
        .reg
        .mode("large")
        .filter(|_| small && cx.inputs.config.sizing.is_some())?;
    let id = large_mode.def.loops.get(&Plane::Execution)?.clone();
    let at = large_mode.origin.child("loops").child("execution");
    cx.plan(&id, Plane::Execution, &at)
}

/// Prompts and stage kinds the loops of one mode use.
#[derive(Default)]
struct LoopOutputs {
    prompts: BTreeMap<String, plan::PromptPlan>,
    kinds: BTreeMap<String, StageKindPlan>,
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
