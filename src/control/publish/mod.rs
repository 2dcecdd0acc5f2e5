//! `publish sync|preflight|commit` (spec §9.1): copy what
//! `agents/staging_manifest.yml` lists into a staging git repository, say
//! whether it could be published, and commit (and push) it through the
//! `git` CLI. Unlike v0.2.0, a synced `agents/` never carries runtime noise
//! (run directories, event logs, `.runtime/`, locks, diagnostics) unless a
//! manifest path names it, paths are confined to the workspace, and
//! symlinks and special files are not followed or copied.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ControlError, Result, Workspace};

mod copy;

use crate::runner::git::SafeGit;

/// The manifest file, relative to `agents/`.
pub const MANIFEST: &str = "staging_manifest.yml";
pub const DEFAULT_MESSAGE: &str = "Millrace staging sync";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    version: u32,
    paths: Vec<String>,
    #[serde(default)]
    optional_paths: Vec<String>,
}

/// Which manifest, and where things go.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Selection {
    pub staging_repo_dir: String,
    pub workspace_root: String,
    /// `workspace` or `packaged`.
    pub manifest_source_kind: String,
    pub manifest_source_ref: String,
    pub manifest_version: u32,
    pub required_paths: Vec<String>,
    pub optional_paths: Vec<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SyncEntry {
    pub path: String,
    pub required: bool,
    /// `synced`, `removed_optional` or `skipped_optional`.
    pub action: String,
    /// `directory`, `file`, or `None` when the source is missing.
    pub source_kind: Option<String>,
    /// Files copied (noise and special files left out).
    pub files: usize,
}

/// `publish sync --json`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SyncReport {
    pub selection: Selection,
    pub created_staging_dir: bool,
    pub entries: Vec<SyncEntry>,
    /// What was not copied and why (symlinks, special files, a link in the
    /// staging repository that was replaced).
    pub warnings: Vec<String>,
}

/// `publish preflight --json`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Preflight {
    pub selection: Selection,
    pub commit_message: String,
    pub push_requested: bool,
    pub git_worktree_present: bool,
    pub git_worktree_valid: bool,
    pub branch: Option<String>,
    pub origin_configured: bool,
    pub has_changes: bool,
    pub changed_paths: Vec<String>,
    pub commit_allowed: bool,
    pub publish_allowed: bool,
    /// `ready`, `no_changes` or `skip_publish`.
    pub status: String,
    pub skip_reason: Option<String>,
    /// Where `--push` would send the commit (`origin`'s push URL), so that
    /// a URL an agent changed is seen before anything is pushed.
    pub origin_push_url: Option<String>,
    /// Whether `publish commit` runs the staging repository's own hooks
    /// (`[publish] run_repo_hooks`); nothing else it names ever runs.
    pub repo_hooks_run: bool,
}

/// `publish commit --json`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CommitReport {
    pub selection: Selection,
    pub commit_message: String,
    pub push_requested: bool,
    pub push_performed: bool,
    pub branch: Option<String>,
    /// `no_changes`, `committed`, `pushed` or `skipped`.
    pub status: String,
    /// `PUSH_OK remote=origin branch=<b>`, `SKIP_PUBLISH reason=… [path=…]`
    /// or `NO_CHANGES`.
    pub marker: String,
    pub commit_sha: Option<String>,
    pub skip_reason: Option<String>,
}

/// A manifest path: relative, without `..`, inside the workspace, and
/// never into a `.git` directory (the staging repository's own).
fn confined(p: &str) -> bool {
    let path = Path::new(p);
    path.components().any(|c| matches!(c, Component::Normal(_)))
        && !path.components().any(|c| c.as_os_str() == ".git")
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

fn selection(ws: &Workspace, staging: Option<&Path>) -> Result<(Selection, PathBuf)> {
    let file = ws.agents.join(MANIFEST);
    let (manifest, kind, source) = match crate::store::safe::read_text(&file, 1 << 20) {
        Ok(text) => {
            let shown = ws.relative(&file);
            let doc = crate::defs::yaml::parse(&shown, &text)
                .map_err(|d| ControlError::Invalid(Box::new(d)))?;
            let m: Manifest = serde_json::from_value(doc.value).map_err(|e| {
                ControlError::Rejected(format!(
                    "{shown}: {e} (expected `version: 1`, `paths: [...]`, optional `optional_paths: [...]`)"
                ))
            })?;
            (m, "workspace", shown)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
            Manifest {
                version: 1,
                paths: vec![ws.relative(&ws.agents)],
                optional_paths: vec!["README.md".into(), "docs".into()],
            },
            "packaged",
            "default: the agents directory, README.md and docs/ when present".to_string(),
        ),
        Err(e) => return Err(ControlError::io(file)(e)),
    };
    if manifest.version != 1 {
        return Err(ControlError::Rejected(format!(
            "{source}: version {} is not supported (expected 1)",
            manifest.version
        )));
    }
    for p in manifest.paths.iter().chain(&manifest.optional_paths) {
        if !confined(p) {
            return Err(ControlError::Rejected(format!(
                "{source}: path `{p}` must be relative to the workspace, stay inside it and not name a `.git` directory"
            )));
        }
    }
    if let Some(p) = manifest
        .paths
        .iter()
        .find(|p| manifest.optional_paths.contains(p))
    {
        return Err(ControlError::Rejected(format!(
            "{source}: `{p}` is both required and optional"
        )));
    }
    let staging = staging.map_or_else(|| ws.root.join("staging"), |s| s.to_path_buf());
    Ok((
        Selection {
            staging_repo_dir: staging.display().to_string(),
            workspace_root: ws.root.display().to_string(),
            manifest_source_kind: kind.to_string(),
            manifest_source_ref: source,
            manifest_version: manifest.version,
            required_paths: manifest.paths,
            optional_paths: manifest.optional_paths,
        },
        staging,
    ))
}

/// Runtime noise under `agents/`: never published unless named itself.
fn noise(rel_to_agents: &Path) -> bool {
    let first = rel_to_agents
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .unwrap_or_default();
    matches!(
        first.as_str(),
        "runs"
            | ".runtime"
            | ".locks"
            | "diagnostics"
            | "historylog"
            | "historylog.md"
            | ".deferred"
    ) || (first.starts_with("engine_events") && first.ends_with(".log"))
}

/// Copies `src` (a directory) into `dest` (replaced): regular files and
/// directories only, runtime noise left out when `src` is `agents/`,
/// symlinks and special files skipped with a warning.
fn copy_dir(
    src: &Path,
    dest: &Path,
    agents: Option<&Path>,
    staging: &Path,
    warnings: &mut Vec<String>,
) -> Result<usize> {
    copy::remove_any(dest)?;
    std::fs::create_dir(dest).map_err(ControlError::io(dest))?;
    let mut n = 0;
    let walk = walkdir::WalkDir::new(src)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| {
            let p = e.path();
            if p.starts_with(staging) || e.file_name() == ".git" {
                return false;
            }
            !agents.is_some_and(|a| {
                p.strip_prefix(a)
                    .is_ok_and(|r| !r.as_os_str().is_empty() && noise(r))
            })
        });
    for e in walk {
        let e =
            e.map_err(|e| ControlError::Rejected(format!("cannot read {}: {e}", src.display())))?;
        let rel = e.path().strip_prefix(src).expect("under src");
        if rel.as_os_str().is_empty() {
            continue;
        }
        let to = dest.join(rel);
        let ft = e.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&to).map_err(ControlError::io(&to))?;
        } else if ft.is_file() && copy::copy_file(e.path(), &to)? {
            n += 1;
        } else {
            warnings.push(format!(
                "{}: {} is not published (only regular files and directories are copied)",
                e.path().display(),
                if ft.is_symlink() {
                    "a symbolic link"
                } else {
                    "a special file"
                }
            ));
        }
    }
    Ok(n)
}

/// Refuses a staging directory that is the workspace, contains it, lies
/// inside `agents/`, or is itself a symlink; the canonical path otherwise.
fn check_staging(ws: &Workspace, staging: &Path) -> Result<PathBuf> {
    let shown = staging.display();
    match std::fs::symlink_metadata(staging) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(ControlError::Usage(format!(
                "staging directory {shown} is a symbolic link; publish writes only into a real directory (name its target if you meant it)"
            )))
        }
        Ok(m) if !m.is_dir() => {
            return Err(ControlError::Usage(format!(
                "staging directory {shown} is {}, not a directory",
                crate::store::safe::kind_of(&m)
            )))
        }
        _ => {}
    }
    let canon = copy::canonical_lenient(staging);
    let root = copy::canonical_lenient(&ws.root);
    let agents = copy::canonical_lenient(&ws.agents);
    let why = if canon == root {
        Some("is the workspace root (syncing would replace agents/ and the backlog)".to_string())
    } else if root.starts_with(&canon) {
        Some(format!("contains the workspace {}", root.display()))
    } else if canon.starts_with(&agents) {
        Some(format!(
            "lies inside {} (a staging copy there would be read as the runtime's own files)",
            agents.display()
        ))
    } else {
        None
    };
    match why {
        Some(why) => Err(ControlError::Usage(format!(
            "staging directory {shown} ({}) {why}; choose a directory outside agents/ that does not contain the workspace",
            canon.display()
        ))),
        None => Ok(canon),
    }
}

pub fn sync(ws: &Workspace, staging: Option<&Path>) -> Result<SyncReport> {
    let (selection, staging) = selection(ws, staging)?;
    let canon = check_staging(ws, &staging)?;
    let created = !canon.exists();
    std::fs::create_dir_all(&canon).map_err(ControlError::io(&staging))?;
    let root = copy::canonical_lenient(&ws.root);
    let agents_dir = copy::canonical_lenient(&ws.agents);
    let mut warnings = Vec::new();
    let mut entries = Vec::new();
    let required = selection.required_paths.iter().map(|p| (p, true));
    let optional = selection.optional_paths.iter().map(|p| (p, false));
    for (p, required) in required.chain(optional) {
        let rel = Path::new(p);
        let src = root.join(rel);
        let dest = canon.join(rel);
        let linked = copy::through_link(&root, rel);
        if linked == Some(true) {
            warnings.push(format!(
                "{p}: reached through a symbolic link in the workspace; not published"
            ));
        }
        let meta = match linked {
            Some(false) => std::fs::symlink_metadata(&src).ok(),
            _ => None,
        };
        if meta.is_some() {
            if let Some(parent) = rel.parent() {
                copy::real_dirs(&canon, parent, &mut warnings)?;
            }
        }
        let entry = match meta {
            Some(m) if m.is_dir() => {
                let agents = (src == agents_dir).then_some(agents_dir.as_path());
                let files = copy_dir(&src, &dest, agents, &canon, &mut warnings)?;
                SyncEntry { path: p.clone(), required, action: "synced".into(), source_kind: Some("directory".into()), files }
            }
            Some(m) if m.is_file() && copy::copy_file(&src, &dest)? => {
                SyncEntry { path: p.clone(), required, action: "synced".into(), source_kind: Some("file".into()), files: 1 }
            }
            _ if required => {
                return Err(ControlError::Rejected(format!(
                    "manifest source missing: {p} (a required path of {}; a symlink or special file does not count)",
                    selection.manifest_source_ref
                )))
            }
            _ => {
                let removed = std::fs::symlink_metadata(&dest).is_ok()
                    && copy::through_link(&canon, rel) == Some(false);
                if removed {
                    copy::remove_any(&dest)?;
                }
                SyncEntry {
                    path: p.clone(),
                    required,
                    action: if removed { "removed_optional" } else { "skipped_optional" }.into(),
                    source_kind: None,
                    files: 0,
                }
            }
        };
        entries.push(entry);
    }
    Ok(SyncReport {
        selection,
        created_staging_dir: created,
        entries,
        warnings,
    })
}

struct GitState {
    present: bool,
    valid: bool,
    branch: Option<String>,
    origin: bool,
    changed: Vec<String>,
}

fn git_state(dir: &Path, git: &SafeGit) -> GitState {
    let present = dir.join(".git").exists();
    let valid = present && git.run(&["rev-parse", "--git-dir"]).is_ok();
    let branch = valid
        .then(|| git.run(&["symbolic-ref", "--short", "-q", "HEAD"]).ok())
        .flatten()
        .map(|b| b.trim().to_string())
        .filter(|b| !b.is_empty());
    let origin = valid && git.run(&["remote", "get-url", "origin"]).is_ok();
    let changed = if valid {
        git.run(&["status", "--short", "--untracked-files=all"])
            .unwrap_or_default()
            .lines()
            .map(|l| l.get(3..).unwrap_or(l).to_string())
            .collect()
    } else {
        Vec::new()
    };
    GitState {
        present,
        valid,
        branch,
        origin,
        changed,
    }
}

pub fn preflight(
    ws: &Workspace,
    staging: Option<&Path>,
    message: Option<&str>,
    push: bool,
) -> Result<Preflight> {
    let (selection, staging) = selection(ws, staging)?;
    let staging = check_staging(ws, &staging)?;
    let git = SafeGit::new(&staging, ws.config.publish.run_repo_hooks)?;
    let g = git_state(&staging, &git);
    let skip = if !g.present {
        Some("missing_git_worktree")
    } else if !g.valid {
        Some("invalid_git_worktree")
    } else if g.changed.is_empty() {
        Some("no_changes")
    } else if push && g.branch.is_none() {
        Some("detached_head")
    } else if push && !g.origin {
        Some("missing_origin")
    } else if !push {
        Some("push_disabled")
    } else {
        None
    };
    let commit_allowed = g.valid && !g.changed.is_empty();
    let status = match skip {
        Some("no_changes") => "no_changes",
        None | Some("push_disabled") => "ready",
        Some(_) if commit_allowed => "ready",
        Some(_) => "skip_publish",
    };
    Ok(Preflight {
        selection,
        commit_message: message.unwrap_or(DEFAULT_MESSAGE).to_string(),
        push_requested: push,
        git_worktree_present: g.present,
        git_worktree_valid: g.valid,
        branch: g.branch,
        origin_configured: g.origin,
        has_changes: !g.changed.is_empty(),
        changed_paths: g.changed,
        commit_allowed,
        publish_allowed: commit_allowed && skip.is_none(),
        status: status.to_string(),
        skip_reason: skip.map(str::to_string),
        origin_push_url: g
            .origin
            .then(|| git.run(&["remote", "get-url", "--push", "origin"]).ok())
            .flatten()
            .map(|u| u.trim().to_string()),
        repo_hooks_run: git.runs_hooks(),
    })
}

pub fn commit(
    ws: &Workspace,
    staging: Option<&Path>,
    message: Option<&str>,
    push: bool,
) -> Result<CommitReport> {
    let (selection, staging) = selection(ws, staging)?;
    let staging = check_staging(ws, &staging)?;
    let git = SafeGit::new(&staging, ws.config.publish.run_repo_hooks)?;
    let message = message.unwrap_or(DEFAULT_MESSAGE).to_string();
    let g = git_state(&staging, &git);
    let path = staging.display().to_string();
    let report = |status: &str,
                  marker: String,
                  sha: Option<String>,
                  skip: Option<&str>,
                  pushed: bool,
                  selection: Selection| CommitReport {
        selection,
        commit_message: message.clone(),
        push_requested: push,
        push_performed: pushed,
        branch: g.branch.clone(),
        status: status.to_string(),
        marker,
        commit_sha: sha,
        skip_reason: skip.map(str::to_string),
    };
    if !g.valid {
        let reason = if g.present {
            "invalid_git_worktree"
        } else {
            "missing_git_worktree"
        };
        return Ok(report(
            "skipped",
            format!("SKIP_PUBLISH reason={reason} path={path}"),
            None,
            Some(reason),
            false,
            selection,
        ));
    }
    git.run(&["add", "-A"])?;
    let staged = git.run(&["diff", "--cached", "--name-only"])?;
    if staged.trim().is_empty() {
        return Ok(report(
            "no_changes",
            "NO_CHANGES".into(),
            None,
            Some("no_changes"),
            false,
            selection,
        ));
    }
    git.run(&["commit", "-q", "-m", &message])?;
    let sha = git
        .run(&["rev-parse", "HEAD"])
        .ok()
        .map(|s| s.trim().to_string());
    let skip = if !push {
        Some("push_disabled")
    } else if g.branch.is_none() {
        Some("detached_head")
    } else if !g.origin {
        Some("missing_origin")
    } else {
        None
    };
    match (skip, &g.branch) {
        (Some("push_disabled"), _) => Ok(report(
            "committed",
            "SKIP_PUBLISH reason=push_disabled".into(),
            sha,
            skip,
            false,
            selection,
        )),
        (Some(reason), _) => Ok(report(
            "committed",
            format!("SKIP_PUBLISH reason={reason} path={path}"),
            sha,
            skip,
            false,
            selection,
        )),
        (None, Some(branch)) => {
            git.run(&["push", "-q", "origin", &format!("HEAD:{branch}")])?;
            Ok(report(
                "pushed",
                format!("PUSH_OK remote=origin branch={branch}"),
                sha,
                None,
                true,
                selection,
            ))
        }
        (None, None) => unreachable!("a push without a branch is skipped above"),
    }
}
