//! The guides every workspace carries, for people and for agents:
//! `OPERATOR_GUIDE.md`, `ADVISOR.md`, `agents/status_contract.md`, the
//! editable `agents/staging_manifest.yml` and reference pages under
//! `docs/millrace/`. Rendered from the binary's own definitions (clap via
//! `capabilities`, the config's JSON Schema and defaults, the packaged
//! registry and the plans it compiles to, the event enum, the exit codes,
//! the TUI's keys), so they cannot drift from it: `init` writes them, and
//! `docs/workspace/` in the repository holds the copy `tests/guides.rs`
//! compares with `millrace guides export`.

mod reference;

use serde::Serialize;

/// One guide: where it goes in a workspace and its text.
pub struct Guide {
    pub path: &'static str,
    pub text: String,
}

#[derive(Serialize)]
struct Fault {
    class: &'static str,
    meaning: &'static str,
}

#[derive(Serialize)]
struct ExitCode {
    code: u8,
    meaning: String,
}

#[derive(Serialize)]
struct CommandRow {
    name: String,
    schema: String,
}

/// What the hand-written guides are rendered with.
fn context(caps: &crate::control::capabilities::Capabilities) -> minijinja::Value {
    let faults: Vec<Fault> = crate::defs::records::AttemptClass::ALL
        .iter()
        .map(|c| Fault {
            class: c.as_str(),
            meaning: c.meaning(),
        })
        .collect();
    let exit_codes: Vec<ExitCode> = caps
        .exit_codes
        .iter()
        .map(|e| ExitCode {
            code: e.code,
            meaning: e.meaning.clone(),
        })
        .collect();
    let commands: Vec<CommandRow> = caps
        .commands
        .iter()
        .map(|c| CommandRow {
            name: c.name.clone(),
            schema: c
                .output_schema
                .as_ref()
                .map_or_else(|| "text only".to_string(), |s| format!("`schemas/{s}`")),
        })
        .collect();
    minijinja::context! {
        version => env!("CARGO_PKG_VERSION"),
        faults => minijinja::value::Serde(&faults),
        exit_codes => minijinja::value::Serde(&exit_codes),
        commands => minijinja::value::Serde(&commands),
    }
}

/// Every guide, rendered.
pub fn all() -> Vec<Guide> {
    let caps = super::capabilities::capabilities();
    let ctx = context(&caps);
    let (reg, _) = crate::control::plan::registry(None);
    let plans = reference::packaged_plans(&reg);
    let render = |name: &str, template: &str| {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let text = env
            .render_named_str(name, template, &ctx)
            .unwrap_or_else(|e| panic!("guide template {name}: {e:#}"));
        text.trim_end().to_string() + "\n"
    };
    vec![
        Guide {
            path: "OPERATOR_GUIDE.md",
            text: render("operator_guide.md", include_str!("operator_guide.md")),
        },
        Guide {
            path: "ADVISOR.md",
            text: render("advisor.md", include_str!("advisor.md")),
        },
        Guide {
            path: "agents/status_contract.md",
            text: reference::status_contract(&plans),
        },
        Guide {
            path: "agents/staging_manifest.yml",
            text: STAGING_MANIFEST.to_string(),
        },
        Guide {
            path: "docs/millrace/commands.md",
            text: reference::commands(&caps),
        },
        Guide {
            path: "docs/millrace/config.md",
            text: reference::config(),
        },
        Guide {
            path: "docs/millrace/modes.md",
            text: reference::modes(&reg, &plans),
        },
        Guide {
            path: "docs/millrace/events.md",
            text: reference::events(),
        },
        Guide {
            path: "docs/millrace/tui.md",
            text: reference::tui_keys(),
        },
    ]
}

/// What `millrace publish` copies into the staging repository; the same as
/// when the file is missing, plus the guides.
const STAGING_MANIFEST: &str =
    "# What `millrace publish` copies into the staging repository (edit freely).
# `paths` must exist; `optional_paths` are copied when present. Paths are
# relative to the workspace and never name a `.git` directory.
version: 1
paths:
  - agents
optional_paths:
  - README.md
  - OPERATOR_GUIDE.md
  - ADVISOR.md
  - docs
";

/// Writes every guide under `dir` (replacing what is there).
pub fn export(dir: &std::path::Path) -> std::io::Result<Vec<String>> {
    let mut written = Vec::new();
    for g in all() {
        let path = dir.join(g.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        crate::store::atomic::write(&path, g.text.as_bytes())?;
        written.push(g.path.to_string());
    }
    Ok(written)
}
