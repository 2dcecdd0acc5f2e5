//! Compiler tests: the packaged defaults, and one test per rejection class,
//! each on an in-memory workspace overlay.

use std::borrow::Cow;

use super::*;
use crate::defs::config::Config;
use crate::defs::schema::DocKind;
use sources::{Layer, Source};

fn packaged() -> Inputs {
    Inputs::packaged(Config::default())
}

fn with_overlay(files: &[(DocKind, &str, &str)]) -> Inputs {
    let mut inputs = packaged();
    for (kind, path, text) in files {
        inputs.definitions.push((
            *kind,
            Source {
                layer: Layer::Workspace,
                path: path.to_string(),
                text: Cow::Owned(text.to_string()),
            },
        ));
    }
    inputs
}

fn with_prompt(mut inputs: Inputs, rel: &str, text: &str) -> Inputs {
    inputs.prompts.push((
        rel.to_string(),
        Source {
            layer: Layer::Workspace,
            path: format!("agents/prompts/{rel}"),
            text: Cow::Owned(text.to_string()),
        },
    ));
    inputs
}

fn errors(inputs: &Inputs, mode: Option<&str>) -> Vec<Diagnostic> {
    let c = compile(inputs, mode);
    assert!(c.plan.is_none(), "expected a failed compile");
    c.diagnostics
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect()
}

fn has(errs: &[Diagnostic], code: &str) -> Diagnostic {
    errs.iter()
        .find(|d| d.code == code)
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "no `{code}` among:\n{}",
                errs.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })
}

const LOOP_HEAD: &str = "id: mine\nplane: execution\nentry: { task: builder }\n";

#[test]
fn every_packaged_mode_compiles_without_diagnostics() {
    let inputs = packaged();
    for mode in [
        "standard",
        "large",
        "large_direct_update",
        "default_autonomous",
        "research_goalspec",
        "research_incident",
        "research_audit",
    ] {
        let c = compile(&inputs, Some(mode));
        assert!(c.diagnostics.is_empty(), "{mode}:\n{}", c.diagnostics);
        let plan = c.plan.expect("plan");
        assert_eq!(plan.content.mode.id, mode);
        assert!(plan.verify());
    }
}

#[test]
fn same_inputs_give_byte_identical_plans_that_round_trip() {
    let a = compile(&packaged(), None).plan.unwrap().to_canonical_json();
    let b = compile(&packaged(), None).plan.unwrap().to_canonical_json();
    assert_eq!(a, b);
    let reparsed = FrozenPlan::from_json(&a).unwrap();
    assert_eq!(reparsed.to_canonical_json(), a);
    assert!(reparsed.verify());
}

#[test]
fn standard_plan_matches_v020_routing_and_is_bounded() {
    let plan = compile(&packaged(), Some("standard")).plan.unwrap();
    let lp = &plan.content.planes[&Plane::Execution];
    assert_eq!(lp.entries["task"], "builder");
    let route = |n: &str, o: &str| {
        lp.routes[n][o]
            .candidates
            .iter()
            .map(|c| c.target.id().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(route("builder", "BUILDER_COMPLETE"), ["integration", "qa"]);
    assert_eq!(route("qa", "QUICKFIX_NEEDED"), ["hotfix"]);
    assert_eq!(route("hotfix", "HOTFIX_COMPLETE"), ["doublecheck"]);
    assert_eq!(route("consult", "NEEDS_RESEARCH"), ["needs_research"]);
    assert_eq!(route("update", "UPDATE_COMPLETE"), ["archived"]);
    assert_eq!(
        lp.routes["qa"]["QUICKFIX_NEEDED"].counter.as_deref(),
        Some("quickfix_attempts")
    );
    let qf = lp
        .thresholds
        .iter()
        .find(|t| t.counter == "quickfix_attempts")
        .unwrap();
    assert_eq!(
        (qf.limit, qf.limit_source.as_str()),
        (2, "config:execution.quickfix_max_attempts")
    );
    assert!(
        lp.max_stage_runs > 0 && lp.max_stage_runs < 1000,
        "{}",
        lp.max_stage_runs
    );
    // the builder effort comes from the mode, the rest from the stage kind
    assert_eq!(lp.nodes["builder"].provenance["effort"].layer, "mode_stage");
    assert_eq!(lp.nodes["qa"].provenance["effort"].layer, "stage_kind");
}

#[test]
fn config_changes_the_plan_and_the_fingerprint() {
    let mut config = Config::default();
    config.execution.quickfix_max_attempts = 5;
    let a = compile(&packaged(), None).plan.unwrap();
    let b = compile(&Inputs::packaged(config), None).plan.unwrap();
    assert_ne!(a.content_hash, b.content_hash);
    assert_ne!(a.fingerprint.digest, b.fingerprint.digest);
}

#[test]
fn workspace_loop_shadows_and_extends_patch() {
    let overlay = "id: standard\nplane: execution\nextends: standard\nnodes:\n  qa: { stage: qa, model: o3 }\n";
    let inputs = with_overlay(&[(
        DocKind::Loop,
        "agents/registry/loops/standard.yaml",
        overlay,
    )]);
    let c = compile(&inputs, Some("standard"));
    assert!(!c.diagnostics.has_errors(), "{}", c.diagnostics);
    let plan = c.plan.unwrap();
    let lp = &plan.content.planes[&Plane::Execution];
    assert_eq!(lp.extends, ["standard"]);
    assert_eq!(lp.nodes["qa"].model.as_deref(), Some("o3"));
    assert_eq!(
        lp.nodes["qa"].provenance["model"].file,
        "agents/registry/loops/standard.yaml"
    );
    assert_eq!(lp.nodes.len(), 8);
}

#[test]
fn unknown_stage_kind_is_located_with_a_suggestion() {
    let text =
        format!("{LOOP_HEAD}nodes:\n  builder: {{ stage: buidler }}\nedges: []\nterminals: {{}}\n");
    let errs = errors(
        &with_overlay(&[(DocKind::Loop, "agents/registry/loops/mine.yaml", &text)]),
        None,
    );
    let d = has(&errs, "graph.unknown_stage_kind");
    assert_eq!(
        (d.file.as_deref(), d.line),
        (Some("agents/registry/loops/mine.yaml"), Some(5))
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean `builder`?"));
}

fn one_node_loop(edges: &str) -> String {
    format!(
        "{LOOP_HEAD}nodes:\n  builder: {{ stage: builder }}\nedges:\n{edges}terminals:\n  done: {{ class: success, status: IDLE, queue: archive }}\n  stuck: {{ class: blocked, status: BLOCKED, queue: keep_active }}\n"
    )
}

fn loop_errors(text: &str) -> Vec<Diagnostic> {
    errors(
        &with_overlay(&[(DocKind::Loop, "agents/registry/loops/mine.yaml", text)]),
        None,
    )
}

#[test]
fn edge_on_an_outcome_the_stage_cannot_emit() {
    let errs = loop_errors(&one_node_loop(
        "  - { from: builder, on: [BUILDER_COMPLETE], to: done }\n  - { from: builder, on: [BLOCKED, QA_COMPLETE], to: stuck }\n",
    ));
    let d = has(&errs, "graph.illegal_outcome");
    assert_eq!(d.line, Some(8));
    assert!(d.hint.unwrap().contains("BUILDER_COMPLETE, BLOCKED"));
}

#[test]
fn legal_outcome_without_an_edge() {
    let errs = loop_errors(&one_node_loop(
        "  - { from: builder, on: [BUILDER_COMPLETE], to: done }\n",
    ));
    let d = has(&errs, "graph.unhandled_outcome");
    assert!(d.message.contains("BLOCKED"), "{d}");
}

#[test]
fn unknown_edge_target() {
    let errs = loop_errors(&one_node_loop(
        "  - { from: builder, on: [BUILDER_COMPLETE], to: dnoe }\n  - { from: builder, on: [BLOCKED], to: stuck }\n",
    ));
    let d = has(&errs, "graph.unknown_target");
    assert_eq!(d.hint.as_deref(), Some("did you mean `done`?"));
}

#[test]
fn unreachable_nodes_and_dead_ends() {
    let text = format!(
        "{LOOP_HEAD}nodes:\n  builder: {{ stage: builder }}\n  qa: {{ stage: qa }}\n  island: {{ stage: update }}\nedges:\n\
  - {{ from: builder, on: [BUILDER_COMPLETE, BLOCKED], to: qa }}\n\
  - {{ from: qa, on: [QA_COMPLETE, QUICKFIX_NEEDED, BLOCKED], to: qa }}\n\
  - {{ from: island, on: [UPDATE_COMPLETE, BLOCKED], to: done }}\n\
terminals:\n  done: {{ class: success, status: IDLE, queue: archive }}\n"
    );
    let errs = loop_errors(&text);
    let d = has(&errs, "graph.unreachable");
    assert!(d.message.contains("island"), "{d}");
    let d = has(&errs, "graph.dead_end");
    assert!(
        d.message.contains("`builder`") || d.message.contains("`qa`"),
        "{d}"
    );
}

#[test]
fn unbounded_cycles_are_rejected_and_thresholds_bound_them() {
    let edges = "  - { from: builder, on: [BUILDER_COMPLETE], to: done }\n  - { from: builder, on: [BLOCKED], to: builder }\n";
    let errs = loop_errors(&one_node_loop(edges));
    let d = has(&errs, "graph.unbounded_cycle");
    assert!(d.hint.unwrap().contains("builder BLOCKED"));

    let bounded = format!(
        "{}thresholds:\n  - counter: retries\n    count: [{{ node: builder, on: BLOCKED }}]\n    limit: 3\n    exhausted: stuck\n",
        one_node_loop(edges)
    );
    let inputs = with_overlay(&[
        (DocKind::Loop, "agents/registry/loops/mine.yaml", &bounded),
        (
            DocKind::Mode,
            "agents/registry/modes/mine.yaml",
            "id: mine\nloops: { execution: mine }\n",
        ),
    ]);
    let c = compile(&inputs, Some("mine"));
    assert!(!c.diagnostics.has_errors(), "{}", c.diagnostics);
    let lp = &c.plan.unwrap().content.planes[&Plane::Execution];
    // 3 counted retries + the final pass, one stage each
    assert_eq!(lp.max_stage_runs, 4);
}

#[test]
fn counters_that_reset_each_other_are_rejected() {
    let text = format!(
        "{}thresholds:\n\
  - {{ counter: a, count: [{{ node: builder, on: BLOCKED }}], limit: 1, exhausted: stuck, resets: [b] }}\n\
  - {{ counter: b, count: [{{ node: builder, on: BUILDER_COMPLETE }}], limit: 1, exhausted: stuck, resets: [a] }}\n",
        one_node_loop("  - { from: builder, on: [BUILDER_COMPLETE], to: builder }\n  - { from: builder, on: [BLOCKED], to: builder }\n")
    );
    let errs = loop_errors(&text);
    has(&errs, "threshold.reset_cycle");
}

#[test]
fn threshold_limit_must_name_an_integer_config_key() {
    let text = format!(
        "{}thresholds:\n  - {{ counter: a, count: [{{ node: builder, on: BLOCKED }}], limit: {{ config: execution.nope }}, exhausted: stuck }}\n",
        one_node_loop("  - { from: builder, on: [BUILDER_COMPLETE], to: done }\n  - { from: builder, on: [BLOCKED], to: builder }\n")
    );
    has(&loop_errors(&text), "threshold.bad_limit");
}

#[test]
fn unknown_condition_fact() {
    let errs = loop_errors(&one_node_loop(
        "  - { from: builder, on: [BUILDER_COMPLETE], to: done, when: { fact: sunny, equals: true }, priority: 1 }\n  - { from: builder, on: [BUILDER_COMPLETE, BLOCKED], to: stuck, id: x }\n",
    ));
    has(&errs, "graph.unknown_fact");
}

#[test]
fn schema_violations_unknown_fields_and_duplicate_keys_all_reported_together() {
    let a = "id: a\nplane: execution\nnodez: {}\n";
    let b = "id: b\nplane: execution\nid: c\n";
    let c = "id: c\nplane: [\n";
    let errs = errors(
        &with_overlay(&[
            (DocKind::Loop, "agents/registry/loops/a.yaml", a),
            (DocKind::Loop, "agents/registry/loops/b.yaml", b),
            (DocKind::Loop, "agents/registry/loops/c.yaml", c),
        ]),
        None,
    );
    assert_eq!(has(&errs, "schema.unknown_field").line, Some(3));
    assert_eq!(
        has(&errs, "yaml.duplicate_key").file.as_deref(),
        Some("agents/registry/loops/b.yaml")
    );
    assert_eq!(
        has(&errs, "yaml.syntax").file.as_deref(),
        Some("agents/registry/loops/c.yaml")
    );
}

#[test]
fn unknown_mode_loop_and_runner() {
    let errs = errors(&packaged(), Some("standrd"));
    assert_eq!(
        has(&errs, "mode.unknown").hint.as_deref(),
        Some("did you mean `standard`?")
    );

    let mode = "id: mine\nloops: { execution: standart }\n";
    let errs = errors(
        &with_overlay(&[(DocKind::Mode, "agents/registry/modes/mine.yaml", mode)]),
        None,
    );
    assert_eq!(has(&errs, "mode.unknown_loop").line, Some(2));

    let mode = "id: mine\nloops: { execution: standard }\nstages:\n  qa: { runner: codexx }\n";
    let errs = errors(
        &with_overlay(&[(DocKind::Mode, "agents/registry/modes/mine.yaml", mode)]),
        None,
    );
    let d = has(&errs, "runner.unknown");
    assert_eq!(
        (d.line, d.hint.as_deref()),
        (Some(4), Some("did you mean `codex`?"))
    );
}

#[test]
fn overrides_the_stage_kind_does_not_allow() {
    let kind = "id: strict\nplane: execution\nrunning_marker: STRICT_RUNNING\noutcomes:\n  - { marker: STRICT_COMPLETE, class: success }\n  - { marker: BLOCKED, class: blocked }\nprompt: builder.md\nrunner: codex\ntimeout_seconds: 60\noverridable: [model]\n";
    let lp = "id: mine\nplane: execution\nentry: { task: s }\nnodes:\n  s: { stage: strict, timeout_seconds: 5 }\nedges:\n  - { from: s, on: [STRICT_COMPLETE, BLOCKED], to: done }\nterminals:\n  done: { class: success, status: IDLE, queue: archive }\n";
    let errs = errors(
        &with_overlay(&[
            (
                DocKind::StageKind,
                "agents/registry/stages/strict.yaml",
                kind,
            ),
            (DocKind::Loop, "agents/registry/loops/mine.yaml", lp),
            (
                DocKind::Mode,
                "agents/registry/modes/mine.yaml",
                "id: mine\nloops: { execution: mine }\n",
            ),
        ]),
        None,
    );
    let d = has(&errs, "override.not_allowed");
    assert_eq!(d.line, Some(5));
}

#[test]
fn prompt_templates_must_parse_and_use_known_variables() {
    let mode = "id: mine\nloops: { execution: standard }\nstages:\n  qa: { prompt: custom.md }\n  update: { prompt: broken.md }\n  builder: { prompt: ../../etc/passwd }\n";
    let inputs = with_overlay(&[(DocKind::Mode, "agents/registry/modes/mine.yaml", mode)]);
    let inputs = with_prompt(
        inputs,
        "custom.md",
        "Task {{ task.title }}\n\nDo {{ tsak.body }}\n",
    );
    let inputs = with_prompt(inputs, "broken.md", "{% if task %}\nno end\n");
    let errs = errors(&inputs, None);
    let d = has(&errs, "prompt.unknown_variable");
    assert_eq!(
        (d.line, d.hint.as_deref()),
        (Some(3), Some("did you mean `task`?"))
    );
    assert_eq!(
        has(&errs, "prompt.syntax").file.as_deref(),
        Some("agents/prompts/broken.md")
    );
    assert_eq!(has(&errs, "path.escape").line, Some(6));
}

#[test]
fn missing_prompt_is_located_where_it_is_named() {
    let mode = "id: mine\nloops: { execution: standard }\nstages:\n  qa: { prompt: nope.md }\n";
    let errs = errors(
        &with_overlay(&[(DocKind::Mode, "agents/registry/modes/mine.yaml", mode)]),
        None,
    );
    assert_eq!(has(&errs, "prompt.missing").line, Some(4));
}

#[test]
fn duplicate_definitions_in_one_layer() {
    let m = "id: twin\nloops: { execution: standard }\n";
    let errs = errors(
        &with_overlay(&[
            (DocKind::Mode, "agents/registry/modes/a.yaml", m),
            (DocKind::Mode, "agents/registry/modes/b.yaml", m),
        ]),
        None,
    );
    has(&errs, "registry.duplicate");
}

#[test]
fn config_stage_overrides_apply_and_unknown_kinds_are_rejected() {
    let mut config = Config::default();
    config.stages.insert(
        "qa".into(),
        crate::defs::loop_def::StageOverrides {
            model: Some("o9".into()),
            ..Default::default()
        },
    );
    let mut inputs = Inputs::packaged(config.clone());
    inputs.config_path = "millrace.toml".into();
    inputs.config_text = "[stages.qa]\nmodel = \"o9\"\n".into();
    let plan = compile(&inputs, None).plan.unwrap();
    let qa = &plan.content.planes[&Plane::Execution].nodes["qa"];
    assert_eq!(qa.model.as_deref(), Some("o9"));
    assert_eq!(qa.provenance["model"].layer, "config");
    assert_eq!(qa.provenance["model"].at, "stages.qa.model");

    config.stages.insert("qaa".into(), Default::default());
    let mut inputs = Inputs::packaged(config);
    inputs.config_path = "millrace.toml".into();
    inputs.config_text = "[stages.qaa]\n".into();
    let errs = errors(&inputs, None);
    let d = has(&errs, "config.unknown_stage_kind");
    assert_eq!(
        (d.line, d.hint.as_deref()),
        (Some(1), Some("did you mean `qa`?"))
    );
}

#[test]
fn switching_the_runner_switches_the_default_model() {
    let mut config = Config::default();
    config.stages.insert(
        "qa".into(),
        crate::defs::loop_def::StageOverrides {
            runner: Some("claude".into()),
            ..Default::default()
        },
    );
    let mut inputs = Inputs::packaged(config);
    inputs.config_path = "millrace.toml".into();
    inputs.config_text = "[stages.qa]\nrunner = \"claude\"\n".into();
    let plan = compile(&inputs, None).plan.unwrap();
    let qa = &plan.content.planes[&Plane::Execution].nodes["qa"];
    assert_eq!(
        (qa.runner.as_str(), qa.model.as_deref()),
        ("claude", Some("sonnet"))
    );
    assert_eq!(qa.provenance["model"].layer, "runner_default");
    // A runner whose CLI serves any model keeps what it is given.
    let mut config = Config::default();
    config.stages.insert(
        "qa".into(),
        crate::defs::loop_def::StageOverrides {
            runner: Some("pi".into()),
            ..Default::default()
        },
    );
    let plan = compile(&Inputs::packaged(config), None).plan.unwrap();
    let qa = &plan.content.planes[&Plane::Execution].nodes["qa"];
    assert_eq!(qa.model.as_deref(), Some("gpt-5.3-codex"));
}
