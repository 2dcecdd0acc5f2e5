//! Running `git` on a repository an agent could have written to (the
//! publish staging repository, the workspace's own): nothing the
//! repository's own files name is executed. Hooks, fsmonitor,
//! pagers, editors, signing programs and the `ext::` transport are switched
//! off on every call; `core.sshCommand` comes from the operator (their
//! environment or global config), never from the repository; and a
//! repository config that names any other program or redirects git
//! (`include.*`, `filter.*`, `core.worktree`, credential helpers, …) is
//! refused before git runs, naming the key and the file. `.git` must be a
//! real directory (a `gitdir:` file or a symlink could point anywhere).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why git did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The repository is set up so that running git there is unsafe.
    #[error("{0}")]
    Refused(String),
    /// git ran and failed: its message.
    #[error("{0}")]
    Failed(String),
    #[error("cannot run git: {0}")]
    Spawn(#[source] std::io::Error),
}

pub type Result<T, E = GitError> = std::result::Result<T, E>;

/// How git is run for one publish command.
#[derive(Debug, Clone)]
pub struct SafeGit {
    dir: PathBuf,
    /// The repository's hooks run (`[publish] run_repo_hooks`).
    hooks: bool,
    ssh: String,
}

/// Repository config keys (lowercased) that name a program, load other
/// config or move git's view outside the repository: refused.
fn refused_key(key: &str) -> bool {
    let parts: Vec<&str> = key.split('.').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    matches!(
        first,
        "include" | "includeif" | "filter" | "credential" | "trace2"
    ) || matches!(
        key,
        "core.worktree"
            | "extensions.worktreeconfig"
            | "core.gitproxy"
            | "core.alternaterefscommand"
            | "diff.external"
            | "diff.tool"
            | "merge.tool"
            | "uploadpack.packobjectshook"
    ) || (first == "diff" && matches!(last, "textconv" | "command"))
        || (first == "merge" && last == "driver")
        || (first == "remote" && matches!(last, "receivepack" | "uploadpack" | "vcs"))
        || (first == "url" && last == "insteadof")
        || (first == "url" && last == "pushinsteadof")
        || last.ends_with("program")
        || last.ends_with("cmd")
}

/// Keys switched off on every call (so their presence is harmless).
const OVERRIDES: &[(&str, &str)] = &[
    ("core.fsmonitor", "false"),
    ("core.pager", "cat"),
    ("core.editor", "true"),
    ("sequence.editor", "true"),
    ("core.askPass", ""),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("protocol.ext.allow", "never"),
    ("core.untrackedCache", "false"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
];

impl SafeGit {
    /// Checks `dir`'s repository (if any) and prepares the environment.
    /// A repository that is not there yet is fine: callers report it.
    pub fn new(dir: &Path, hooks: bool) -> Result<SafeGit> {
        let git = SafeGit {
            dir: dir.to_path_buf(),
            hooks,
            ssh: operator_ssh(),
        };
        let dot_git = dir.join(".git");
        match std::fs::symlink_metadata(&dot_git) {
            Ok(m) if m.is_dir() => {
                // Files that make git read another repository's config.
                for other in ["commondir", "config.worktree"] {
                    if std::fs::symlink_metadata(dot_git.join(other)).is_ok() {
                        return Err(GitError::Refused(format!(
                            "{}: present; it makes git read configuration millrace does not check. Remove it if you did not put it there",
                            dot_git.join(other).display()
                        )));
                    }
                }
                git.check_config(&dot_git.join("config"))?
            }
            Ok(_) => {
                return Err(GitError::Refused(format!(
                "{}: not a directory (a `gitdir:` file or a symlink could name any repository); \
                     millrace only runs git in a repository whose .git is its own directory",
                dot_git.display()
            )))
            }
            Err(_) => {}
        }
        Ok(git)
    }

    /// git in a worktree whose `.git` file the caller checked (see
    /// [`super::worktree::checked`]); its repository's config is the main
    /// repository's, checked by [`SafeGit::new`] there. Hooks are off.
    pub(super) fn worktree(dir: &Path, main: &SafeGit) -> SafeGit {
        SafeGit {
            dir: dir.to_path_buf(),
            hooks: false,
            ssh: main.ssh.clone(),
        }
    }

    /// The author and committer to set when git knows none (a fresh
    /// machine, CI): `millrace <millrace@localhost>`.
    pub fn identity(&self) -> Vec<(&'static str, &'static str)> {
        if self.run(&["var", "GIT_COMMITTER_IDENT"]).is_ok() {
            return Vec::new();
        }
        vec![
            ("GIT_AUTHOR_NAME", "millrace"),
            ("GIT_AUTHOR_EMAIL", "millrace@localhost"),
            ("GIT_COMMITTER_NAME", "millrace"),
            ("GIT_COMMITTER_EMAIL", "millrace@localhost"),
        ]
    }

    /// Whether the repository's hooks will run.
    pub fn runs_hooks(&self) -> bool {
        self.hooks
    }

    fn check_config(&self, file: &Path) -> Result<()> {
        if !file.exists() {
            return Ok(());
        }
        let out = self
            .command()
            .args(["config", "--file"])
            .arg(file)
            .args(["--list", "--null"])
            .output()
            .map_err(GitError::Spawn)?;
        if !out.status.success() {
            return Err(GitError::Refused(format!(
                "{}: git cannot read it: {}",
                file.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let mut refused = Vec::new();
        for entry in out.stdout.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            let entry = String::from_utf8_lossy(entry);
            let (key, value) = entry.split_once('\n').unwrap_or((&entry, ""));
            let key = key.to_ascii_lowercase();
            let pager = key.starts_with("pager.")
                && !matches!(
                    value,
                    "true" | "false" | "yes" | "no" | "on" | "off" | "1" | "0"
                );
            let bad_url = key.starts_with("remote.")
                && (key.ends_with(".url") || key.ends_with(".pushurl"))
                && (value.starts_with("ext::") || value.starts_with('-'));
            if refused_key(&key) || bad_url || pager {
                refused.push(key);
            }
        }
        if refused.is_empty() {
            return Ok(());
        }
        Err(GitError::Refused(format!(
            "{}: {} can make git run a program or read outside the repository \
             ({}); millrace refuses to run git there. Remove {} (e.g. `git config --file {} --unset <key>`) \
             if you did not put {} there.",
            file.display(),
            refused.join(", "),
            "anything in the repository may have been written by an agent",
            if refused.len() == 1 { "it" } else { "them" },
            file.display(),
            if refused.len() == 1 { "it" } else { "them" },
        )))
    }

    /// `git` with the safe environment and overrides, not yet bound to a
    /// directory.
    fn command(&self) -> Command {
        let mut c = Command::new("git");
        for (k, v) in OVERRIDES {
            c.arg("-c").arg(format!("{k}={v}"));
        }
        if !self.hooks {
            c.arg("-c")
                .arg(format!("core.hooksPath={}", empty_hooks_dir()));
        }
        for var in [
            "GIT_DIR",
            "GIT_WORK_TREE",
            "GIT_INDEX_FILE",
            "GIT_OBJECT_DIRECTORY",
            "GIT_ALTERNATE_OBJECT_DIRECTORIES",
            "GIT_CONFIG",
            "GIT_CONFIG_PARAMETERS",
            "GIT_CONFIG_COUNT",
            "GIT_EXTERNAL_DIFF",
            "GIT_EXEC_PATH",
        ] {
            c.env_remove(var);
        }
        c.env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_PAGER", "cat")
            .env("GIT_EDITOR", "true")
            .env("GIT_SSH_COMMAND", &self.ssh)
            .stdin(std::process::Stdio::null());
        c
    }

    /// `git -C dir args`: stdout, or git's message as the error.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        self.run_env(args, &[])
    }

    /// `git -C dir args` whose failure is an answer (`merge-tree`'s exit 1
    /// is a conflict): whether it succeeded, and its stdout.
    pub fn run_answer(&self, args: &[&str]) -> Result<(bool, String)> {
        let out = self
            .command()
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .output()
            .map_err(GitError::Spawn)?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ))
    }

    /// [`SafeGit::run`] with `env` set for git.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Result<String> {
        let mut c = self.command();
        c.arg("-C").arg(&self.dir).args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().map_err(GitError::Spawn)?;
        if !out.status.success() {
            return Err(GitError::Failed(format!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// The installed git's `(major, minor)`, if git runs.
pub fn version() -> Option<(u32, u32)> {
    let out = Command::new("git").arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.split_whitespace().nth(2)?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

/// A hooks directory that holds nothing (so no hook runs).
fn empty_hooks_dir() -> String {
    "/dev/null".to_string()
}

/// The ssh command the operator set: `GIT_SSH_COMMAND`, else their global
/// `core.sshCommand`, else `ssh` (a repository's own never applies).
fn operator_ssh() -> String {
    if let Some(v) = std::env::var_os("GIT_SSH_COMMAND").filter(|v| !v.is_empty()) {
        return v.to_string_lossy().into_owned();
    }
    let global = Command::new("git")
        .args(["config", "--global", "--get", "core.sshCommand"])
        .current_dir("/")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_DIR")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty());
    global.unwrap_or_else(|| "ssh".to_string())
}

#[cfg(test)]
mod tests {
    use super::refused_key;

    #[test]
    fn keys_that_name_programs_are_refused_and_plain_ones_are_not() {
        for k in [
            "include.path",
            "includeif.gitdir:/x.path",
            "filter.lfs.clean",
            "credential.helper",
            "core.worktree",
            "diff.pdf.textconv",
            "merge.ours.driver",
            "remote.origin.receivepack",
            "gpg.program",
            "gpg.ssh.program",
            "url.ext::sh.insteadof",
            "trace2.normaltarget",
            "extensions.worktreeconfig",
        ] {
            assert!(refused_key(k), "{k}");
        }
        for k in [
            "core.bare",
            "user.name",
            "remote.origin.url",
            "branch.main.merge",
            "core.fsmonitor",
            "core.sshcommand",
        ] {
            assert!(!refused_key(k), "{k}");
        }
    }
}
