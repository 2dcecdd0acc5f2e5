//! Plans and the registry: `plan validate|simulate|show|diff`, `modes`, `loops` and `schema export`.

use std::collections::BTreeMap;

use super::*;

pub(super) fn run(
    cfg: &std::path::Path,
    command: Command,
    out: &mut Output,
) -> Result<ExitStatus, ControlError> {
    let open = || Workspace::open(cfg);
    match command {
        Command::Plan(PlanCommand::Validate { mode }) => {
            let report = control::plan::validate(&open()?, mode.as_deref())?;
            let ok = report.ok;
            out.print(&report)?;
            return Ok(status_of(ok));
        }
        Command::Plan(PlanCommand::Simulate {
            mode,
            loop_id,
            outcomes,
            script,
            worst_case,
            fact,
        }) => {
            let ws = open()?;
            let plan = control::plan::show(&ws, mode.as_deref())?;
            let (text, facts) = simulate_inputs(outcomes.as_deref(), script.as_ref(), &fact)?;
            let script = control::simulate::parse_outcomes(&text)?;
            out.print(&control::simulate::simulate(
                &ws,
                &plan,
                loop_id.as_deref(),
                script,
                facts,
                worst_case,
            )?)?
        }
        Command::Plan(PlanCommand::Show { mode, run }) => show(&open()?, mode, run, out)?,
        Command::Plan(PlanCommand::Diff { run_a, run_b }) => {
            out.print(&control::runs::diff(&open()?, &run_a, &run_b)?)?
        }
        Command::Modes(cmd) => {
            let reg = registry(cfg)?;
            match cmd {
                RegistryCommand::List => out.print(&control::plan::modes(&reg))?,
                RegistryCommand::Show { id } => {
                    out.print(&render::Definition(control::plan::mode(&reg, &id)?))?
                }
            }
        }
        Command::Loops(cmd) => {
            let reg = registry(cfg)?;
            match cmd {
                RegistryCommand::List => out.print(&control::plan::loops(&reg))?,
                RegistryCommand::Show { id } => {
                    out.print(&render::Definition(control::plan::loop_def(&reg, &id)?))?
                }
            }
        }
        Command::Schema(SchemaCommand::Export { dir }) => {
            for path in control::schema::export(&dir)? {
                out.write_text(&format!("wrote {}\n", path.display()))?;
            }
        }
        _ => unreachable!("cli::run dispatches only this group's commands here"),
    }
    Ok(ExitStatus::Ok)
}

/// `plan simulate`'s outcome text (`--outcomes` or `--script FILE`) and its
/// `--fact name=value` pairs (a value is JSON when it parses, else a string).
fn simulate_inputs(
    outcomes: Option<&str>,
    script: Option<&PathBuf>,
    fact: &[String],
) -> Result<(String, BTreeMap<String, serde_json::Value>), ControlError> {
    let text = match (outcomes, script) {
        (Some(o), _) => o.to_string(),
        (None, Some(path)) => {
            crate::store::safe::read_text(path, 1 << 20).map_err(ControlError::io(path.clone()))?
        }
        (None, None) => String::new(),
    };
    let facts = fact
        .iter()
        .map(|f| {
            let (k, v) = f.split_once('=').ok_or_else(|| {
                ControlError::Usage(format!("--fact takes `name=value`, not `{f}`"))
            })?;
            let v = serde_json::from_str(v).unwrap_or(serde_json::Value::String(v.into()));
            Ok((k.to_string(), v))
        })
        .collect::<Result<_, ControlError>>()?;
    Ok((text, facts))
}

/// `plan show`: the current plan or a run's, as text (with the worst cases),
/// canonical JSON, DOT or Mermaid.
fn show(
    ws: &Workspace,
    mode: Option<String>,
    run: Option<String>,
    out: &mut Output,
) -> Result<(), ControlError> {
    let plan = match run {
        Some(run_id) => control::runs::plan(ws, &run_id)?,
        None => control::plan::show(ws, mode.as_deref())?,
    };
    let text = match out.format {
        Format::Text => {
            let mut t = crate::compile::describe::plan_text(&plan);
            t.push('\n');
            t.push_str(&render::worst_case_text(&control::plan::worst_cases(
                ws, &plan,
            )));
            t
        }
        Format::Json => plan.to_canonical_json(),
        Format::Dot => render::plan_dot(&plan),
        Format::Mermaid => render::plan_mermaid(&plan),
    };
    out.write_text(&text)?;
    Ok(())
}
