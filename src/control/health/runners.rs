//! The runners a plan uses: whether each one's executable is there and,
//! for `doctor`, its version, whether it is logged in and settings that
//! would fail at run time.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{RunnerPrerequisite, Workspace};

/// Each runner the plan uses, with the `loop.node`s that use it; the
/// research loops count only when research runs them.
pub(super) fn runners_of(
    ws: &Workspace,
    plan: &crate::compile::plan::FrozenPlan,
) -> std::collections::BTreeMap<String, Vec<(String, String)>> {
    let mut by_runner: std::collections::BTreeMap<String, Vec<(String, String)>> =
        Default::default();
    let (families, _) = crate::engine::research::enabled(ws, Some(plan));
    let research = families.iter().filter_map(|f| plan.content.research.get(f));
    for lp in plan.content.planes.values().chain(research) {
        for n in lp.nodes.values() {
            let nodes = by_runner.entry(n.runner.clone()).or_default();
            let name = (
                format!("{}.{}", lp.loop_id, n.node_id),
                n.stage_kind.clone(),
            );
            if !nodes.contains(&name) {
                nodes.push(name);
            }
        }
    }
    by_runner
}

/// What one runner needs: its executable on PATH and (for `doctor`) its
/// version, login and settings that would fail at run time.
pub(super) fn prerequisite(
    ws: &Workspace,
    runner_id: String,
    nodes: Vec<(String, String)>,
    doctor: bool,
) -> RunnerPrerequisite {
    let cfg = ws
        .config
        .runners
        .get(&runner_id)
        .cloned()
        .unwrap_or_default();
    let kind = crate::defs::config::RunnerKind::of(&runner_id, ws.config.runners.get(&runner_id));
    let exe = crate::runner::executable(kind, &cfg);
    let resolved = exe.as_deref().and_then(which);
    let message = match (&exe, &resolved) {
        (None, _) => {
            format!("runner `{runner_id}` has no command; set [runners.{runner_id}] command")
        }
        (Some(e), None) => {
            format!("`{e}` not found on PATH; install it or set [runners.{runner_id}] command")
        }
        (Some(e), Some(p)) => format!("`{e}` found at {}", p.display()),
    };
    let (logged_in, warnings) = match (&resolved, doctor) {
        (Some(exe), true) => readiness(kind, exe, &cfg),
        _ => (None, Vec::new()),
    };
    let distinct = |mut v: Vec<String>| {
        v.sort();
        v.dedup();
        v
    };
    let stage_nodes = distinct(
        nodes
            .iter()
            .map(|(n, _)| n.rsplit('.').next().unwrap_or(n).to_string())
            .collect(),
    );
    let stages = distinct(nodes.iter().map(|(_, k)| k.clone()).collect());
    let details = vec![
        message.clone(),
        format!("affected_nodes: {}", stage_nodes.join(", ")),
        format!("affected_stages: {}", stages.join(", ")),
    ];
    RunnerPrerequisite {
        version: resolved.as_deref().filter(|_| doctor).and_then(version_of),
        logged_in,
        warnings,
        available: resolved.is_some(),
        resolved_path: resolved.map(|p| p.display().to_string()),
        executable: exe.unwrap_or_default(),
        runner: runner_id,
        affected_nodes: nodes.into_iter().map(|(n, _)| n).collect(),
        affected_stage_nodes: stage_nodes,
        affected_stages: stages,
        details,
        message,
    }
}

/// Resolves an executable like the shell does.
pub fn which(program: &str) -> Option<PathBuf> {
    let executable = |p: &Path| {
        p.is_file()
            && p.metadata()
                .is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| executable(p))
    })
}

/// Runs `exe args` with a 5 s limit: (exit code, stdout, stderr).
fn probe(exe: &Path, args: &[&str]) -> Option<(Option<i32>, String, String)> {
    probe_with(exe, args, &Default::default())
}

/// [`probe`] with the runner's configured `env` on top of ours, as its
/// stages run: a key that only the runner's env carries counts.
fn probe_with(
    exe: &Path,
    args: &[&str],
    env: &std::collections::BTreeMap<String, String>,
) -> Option<(Option<i32>, String, String)> {
    let dir = tempfile::tempdir().ok()?;
    let (out, err) = (
        std::fs::File::create(dir.path().join("o")).ok()?,
        std::fs::File::create(dir.path().join("e")).ok()?,
    );
    let exit = crate::runner::process::run_to_files(
        std::process::Command::new(exe).args(args).envs(env),
        None,
        out,
        err,
        Duration::from_secs(5),
        &crate::runner::process::StageGroup::default(),
        None,
    );
    let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap_or_default();
    Some((exit.code, read("o"), read("e")))
}

/// First line of `<exe> --version` (on stdout, or stderr as Pi prints it).
fn version_of(exe: &Path) -> Option<String> {
    let (code, out, err) = probe(exe, &["--version"])?;
    if code != Some(0) {
        return None;
    }
    let first = |t: &str| {
        t.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_string)
    };
    first(&out).or_else(|| first(&err))
}

/// The variable a custom Codex provider reads its key from, when the
/// runner's args configure one (`-c model_providers.<id>.env_key="VAR"`).
pub fn codex_env_key(cfg: &crate::defs::config::RunnerConfig) -> Option<String> {
    cfg.args.iter().find_map(|a| {
        let (key, value) = a.split_once('=')?;
        let key = key.trim();
        (key.starts_with("model_providers.") && key.ends_with(".env_key"))
            .then(|| value.trim().trim_matches(['"', '\'']).to_string())
            .filter(|v| !v.is_empty())
    })
}

/// Whether the CLI has credentials, and warnings about settings that fail
/// at run time ("will fail: …") or surprise ("note: …").
fn readiness(
    kind: crate::defs::config::RunnerKind,
    exe: &Path,
    cfg: &crate::defs::config::RunnerConfig,
) -> (Option<bool>, Vec<String>) {
    use crate::defs::config::RunnerKind;
    let mut warnings = Vec::new();
    let logged_in = match kind {
        // A custom provider reads its own variable, which `codex login
        // status` does not know about: check that variable instead.
        RunnerKind::Codex => match codex_env_key(cfg) {
            Some(var) => {
                let set = std::env::var_os(&var).is_some() || cfg.env.contains_key(&var);
                if !set {
                    warnings.push(format!(
                        "note: {var} is not set (the configured Codex provider reads it)"
                    ));
                }
                Some(set)
            }
            // `codex login status` exits 1 with `Not logged in`.
            None => probe_with(exe, &["login", "status"], &cfg.env).map(|(c, ..)| c == Some(0)),
        },
        // `claude auth status` prints {"loggedIn": …} and exits 1 when out.
        RunnerKind::Claude => probe_with(exe, &["auth", "status"], &cfg.env).map(|(c, out, _)| {
            let said = serde_json::from_str::<serde_json::Value>(out.trim())
                .ok()
                .and_then(|v| v["loggedIn"].as_bool());
            said.unwrap_or(c == Some(0))
        }),
        RunnerKind::Pi => match &cfg.provider {
            None => {
                warnings.push(
                    "note: no [runners.pi] provider; pi uses its own default provider".into(),
                );
                None
            }
            Some(p) => {
                let var = format!("{}_API_KEY", p.to_ascii_uppercase().replace('-', "_"));
                let set = std::env::var_os(&var).is_some() || cfg.env.contains_key(&var);
                (!set).then(|| {
                    warnings.push(format!("note: {var} is not set for provider `{p}`"));
                });
                set.then_some(true)
            }
        },
        _ => None,
    };
    if kind == RunnerKind::Claude {
        let bypass = cfg.permission_mode.as_deref() == Some("bypassPermissions")
            || cfg
                .args
                .iter()
                .any(|a| a == "--dangerously-skip-permissions");
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let sandboxed =
            std::env::var_os("IS_SANDBOX").is_some() || cfg.env.contains_key("IS_SANDBOX");
        if bypass && root && !sandboxed {
            warnings.push(
                "will fail: bypassPermissions refuses to run as root; set [runners.claude] env = { IS_SANDBOX = \"1\" } inside a sandbox, or use another permission mode".into(),
            );
        }
    }
    (logged_in, warnings)
}
