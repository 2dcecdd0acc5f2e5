//! A workspace on disk: where `millrace.toml` is, what it says, and where
//! the agents directory is; loads the compile inputs.

use crate::defs::layout::Layout;
use std::path::{Path, PathBuf};

use crate::compile::sources::Inputs;
use crate::defs::config::Config;
use crate::defs::diag::Diagnostics;

/// Identifies the workspace scaffold written by this version.
pub const BUNDLE_VERSION: &str = "millrace-rs-bundle-1";

/// Why a workspace could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("no config at {}", .0.display())]
    Missing(PathBuf),
    #[error("{0}")]
    Invalid(Box<crate::defs::diag::Diagnostic>),
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// An opened workspace: its config and where its files are.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Absolute path of `millrace.toml`.
    pub config_path: PathBuf,
    pub config_text: String,
    pub config: Config,
    pub root: PathBuf,
    pub agents: PathBuf,
}

impl Workspace {
    /// The event log, rotated as `[engine]` says.
    pub fn event_log(&self) -> super::events::EventLog {
        super::events::EventLog::with_rotation(
            &self.agents,
            super::events::Rotation::of(&self.config.engine),
        )
    }

    /// Opens the workspace whose config is `config_path`.
    pub fn open(config_path: &Path) -> Result<Workspace, OpenError> {
        let config_path = absolute(config_path);
        let config_text = match super::safe::read_text(&config_path, 1 << 20) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(OpenError::Missing(config_path))
            }
            Err(source) => {
                return Err(OpenError::Io {
                    path: config_path,
                    source,
                })
            }
        };
        let display = config_path.display().to_string();
        let config =
            Config::parse(&display, &config_text).map_err(|d| OpenError::Invalid(Box::new(d)))?;
        let root = config.workspace_root(&config_path);
        let agents = config.agents_dir(&config_path);
        Ok(Workspace {
            config_path,
            config_text,
            config,
            root,
            agents,
        })
    }

    /// Packaged defaults plus this workspace's overlays.
    pub fn inputs(&self, diags: &mut Diagnostics) -> Inputs {
        Inputs::collect(
            self.config.clone(),
            self.config_path.display().to_string(),
            self.config_text.clone(),
            &self.root,
            &self.agents,
            diags,
        )
    }

    /// `agents/state/compiled_plan.json`.
    pub fn compiled_plan_path(&self) -> PathBuf {
        Layout::of(&self.agents).compiled_plan()
    }

    /// A path relative to the workspace root, for display.
    pub fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}
