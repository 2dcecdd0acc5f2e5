//! Compile inputs: the packaged defaults embedded in the binary, the
//! workspace overlays under `agents/registry/` and `agents/prompts/`, and the
//! parsed `millrace.toml`.
//!
//! Reading files is the only I/O of the compiler; everything after
//! [`Inputs::collect`] is a pure function of the collected texts, which is why
//! the same inputs always give a byte-identical plan.

use crate::defs::layout::Layout;
use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::defs::config::{sha256_hex, Config};
use crate::defs::diag::{Diagnostic, Diagnostics};
use crate::defs::schema::DocKind;

include!(concat!(env!("OUT_DIR"), "/packaged.rs"));

/// Where an input came from; workspace files shadow packaged ones.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    Packaged,
    Workspace,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Packaged => "packaged",
            Layer::Workspace => "workspace",
        }
    }
}

/// One input file.
#[derive(Debug, Clone)]
pub struct Source {
    pub layer: Layer,
    /// Path as shown to people: relative to the crate root for packaged
    /// files (`loops/execution/standard.yaml`), relative to the workspace for
    /// overlays (`agents/registry/loops/mine.yaml`).
    pub path: String,
    pub text: Cow<'static, str>,
}

impl Source {
    /// `packaged:loops/execution/standard.yaml` or `agents/registry/…`.
    pub fn display(&self) -> String {
        match self.layer {
            Layer::Packaged => format!("packaged:{}", self.path),
            Layer::Workspace => self.path.clone(),
        }
    }

    pub fn sha256(&self) -> String {
        sha256_hex(self.text.as_bytes())
    }
}

/// Everything the compiler reads.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub config: Config,
    /// Display path of the config file.
    pub config_path: String,
    /// Text of the config file, for locating problems in it.
    pub config_text: String,
    /// YAML definitions with the kind their location implies.
    pub definitions: Vec<(DocKind, Source)>,
    /// Prompt templates keyed by path relative to a prompt root.
    pub prompts: Vec<(String, Source)>,
}

const PACKAGED_PROMPTS: &str = "assets/prompts/";

/// Workspace overlay folders, relative to the agents directory.
const OVERLAY_DIRS: [(&str, DocKind); 3] = [
    ("registry/stages", DocKind::StageKind),
    ("registry/loops", DocKind::Loop),
    ("registry/modes", DocKind::Mode),
];

impl Inputs {
    /// Inputs from the packaged defaults alone (no workspace).
    pub fn packaged(config: Config) -> Inputs {
        let mut inputs = Inputs {
            config,
            config_path: "(defaults)".to_string(),
            config_text: String::new(),
            definitions: Vec::new(),
            prompts: Vec::new(),
        };
        for (path, text) in PACKAGED {
            let source = Source {
                layer: Layer::Packaged,
                path: (*path).to_string(),
                text: Cow::Borrowed(text),
            };
            if let Some(rel) = path.strip_prefix(PACKAGED_PROMPTS) {
                inputs.prompts.push((rel.to_string(), source));
            } else if let Some(kind) = packaged_kind(path) {
                inputs.definitions.push((kind, source));
            }
        }
        inputs
    }

    /// Packaged defaults plus the overlays of the workspace whose config is
    /// `config`; `workspace_root` is the root the config resolves to.
    pub fn collect(
        config: Config,
        config_path: String,
        config_text: String,
        workspace_root: &Path,
        agents_dir: &Path,
        diags: &mut Diagnostics,
    ) -> Inputs {
        let mut inputs = Inputs::packaged(config);
        inputs.config_path = config_path;
        inputs.config_text = config_text;
        let canonical_root = workspace_root
            .canonicalize()
            .unwrap_or_else(|_| workspace_root.to_path_buf());
        for (dir, kind) in OVERLAY_DIRS {
            for path in walk(&Layout::of(agents_dir).rel(dir), workspace_root, diags) {
                if !matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml")
                ) {
                    continue;
                }
                if let Some(source) =
                    read_workspace_file(&path, workspace_root, &canonical_root, diags)
                {
                    inputs.definitions.push((kind, source));
                }
            }
        }
        let prompt_root = Layout::of(agents_dir).prompts();
        for path in walk(&prompt_root, workspace_root, diags) {
            let Ok(rel) = path.strip_prefix(&prompt_root) else {
                continue;
            };
            let rel = rel.to_string_lossy().replace('\\', "/");
            if let Some(source) = read_workspace_file(&path, workspace_root, &canonical_root, diags)
            {
                inputs.prompts.push((rel, source));
            }
        }
        // v0.2.0 kept its stage prompts as `agents/_<name>.md`: they are
        // prompts of a migrated workspace, found by their file name.
        let mut v020: Vec<PathBuf> = std::fs::read_dir(agents_dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with('_') && n.ends_with(".md"))
                            // Fifos, devices and broken links are not prompts.
                            && p.metadata().is_ok_and(|m| m.is_file())
                    })
                    .collect()
            })
            .unwrap_or_default();
        v020.sort();
        for path in v020 {
            let name = path
                .file_name()
                .expect("listed")
                .to_string_lossy()
                .to_string();
            if inputs
                .prompts
                .iter()
                .any(|(rel, s)| *rel == name && s.layer == Layer::Workspace)
            {
                continue; // agents/prompts/<name> wins
            }
            if let Some(source) = read_workspace_file(&path, workspace_root, &canonical_root, diags)
            {
                inputs.prompts.push((name, source));
            }
        }
        inputs.collect_prompt_files(workspace_root, &canonical_root, diags);
        inputs
    }

    /// v0.2.0's `[stages.<kind>] prompt_file` may name any file of the
    /// workspace: each is a prompt under its own path (one outside the
    /// workspace is a located `path.outside` error; a missing one is
    /// reported as `prompt.missing` where it is used).
    fn collect_prompt_files(
        &mut self,
        root: &Path,
        canonical_root: &Path,
        diags: &mut Diagnostics,
    ) {
        let files: Vec<String> = self
            .config
            .stages
            .values()
            .filter_map(|o| o.prompt_file.as_deref())
            .map(|f| f.trim_start_matches("./").to_string())
            .collect();
        for key in files {
            if self.prompts.iter().any(|(rel, _)| *rel == key) {
                continue;
            }
            let path = root.join(&key);
            // Fifos, devices and missing files are not read.
            if !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                continue;
            }
            if let Some(source) = read_workspace_file(&path, root, canonical_root, diags) {
                self.prompts.push((key, source));
            }
        }
    }

    /// Finds a prompt by relative path, the workspace copy first.
    pub fn prompt(&self, rel: &str) -> Option<&Source> {
        let mut found = None;
        for (path, source) in &self.prompts {
            if path == rel && (found.is_none() || source.layer == Layer::Workspace) {
                found = Some(source);
            }
        }
        found
    }
}

fn packaged_kind(path: &str) -> Option<DocKind> {
    if !(path.ends_with(".yaml") || path.ends_with(".yml")) {
        return None;
    }
    if path.starts_with("assets/stages/") {
        Some(DocKind::StageKind)
    } else if path.starts_with("loops/") {
        Some(DocKind::Loop)
    } else if path.starts_with("modes/") {
        Some(DocKind::Mode)
    } else {
        None
    }
}

/// Regular files under `dir`, recursively, sorted; a missing dir has none.
/// Symlinks are followed (the escape check comes later), so a link cycle is
/// reported as an error instead of walked forever, and fifos, sockets and
/// devices are skipped with a warning instead of blocking the read.
fn walk(dir: &Path, root: &Path, diags: &mut Diagnostics) -> Vec<PathBuf> {
    let display = |p: &Path| {
        p.strip_prefix(root)
            .unwrap_or(p)
            .to_string_lossy()
            .replace('\\', "/")
    };
    let mut out = Vec::new();
    if !dir.is_dir() {
        return out;
    }
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
    {
        match entry {
            Ok(e) if e.file_type().is_file() => out.push(e.into_path()),
            Ok(e) if e.file_type().is_dir() => {}
            Ok(e) => diags.push(
                Diagnostic::warning(
                    "path.special",
                    format!("`{}` is not a regular file; skipped", display(e.path())),
                )
                .in_file(display(e.path()))
                .with_hint("overlays and prompts must be regular files"),
            ),
            Err(err) => {
                let path = err.path().map(display).unwrap_or_default();
                let diag = match err.loop_ancestor() {
                    Some(anc) => Diagnostic::error(
                        "path.loop",
                        format!("`{path}` links back to `{}`", display(anc)),
                    )
                    .with_hint("remove the symlink that points at its own ancestor"),
                    None => {
                        let why = err
                            .io_error()
                            .map_or_else(|| err.to_string(), ToString::to_string);
                        Diagnostic::error("io.read", format!("cannot read `{path}`: {why}"))
                    }
                };
                diags.push(diag.in_file(path));
            }
        }
    }
    out.sort();
    out
}

/// Why `path` is not a compile input: a symlink may point anywhere, and
/// only files that really live inside the workspace are.
fn outside(path: &Path, canonical_root: &Path, display: &str) -> Option<Diagnostic> {
    match path.canonicalize() {
        Ok(real) if !real.starts_with(canonical_root) => Some(
            Diagnostic::error(
                "path.escape",
                format!(
                    "`{display}` resolves to `{}`, outside the workspace",
                    real.display()
                ),
            )
            .in_file(display.to_string())
            .with_hint(
                "overlay files must live inside the workspace; copy the file instead of linking it",
            ),
        ),
        Err(err) => Some(
            Diagnostic::error("io.read", format!("cannot read `{display}`: {err}"))
                .in_file(display.to_string()),
        ),
        Ok(_) => None,
    }
}

fn read_workspace_file(
    path: &Path,
    root: &Path,
    canonical_root: &Path,
    diags: &mut Diagnostics,
) -> Option<Source> {
    let display = path
        .strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/");
    if let Some(d) = outside(path, canonical_root, &display) {
        diags.push(d);
        return None;
    }
    let meta_len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if meta_len > crate::defs::yaml::MAX_FILE_BYTES as u64 {
        diags.push(
            Diagnostic::error(
                "yaml.too_large",
                format!(
                    "file is {meta_len} bytes; the limit is {} bytes",
                    crate::defs::yaml::MAX_FILE_BYTES
                ),
            )
            .in_file(display),
        );
        return None;
    }
    let bytes = std::fs::read(path);
    match bytes.map(String::from_utf8) {
        Ok(Ok(text)) => Some(Source {
            layer: Layer::Workspace,
            path: display,
            text: Cow::Owned(text),
        }),
        Ok(Err(e)) => {
            // Locate the first bad byte: line and column of the valid text
            // before it.
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let valid = std::str::from_utf8(valid).unwrap_or_default();
            let pos = crate::defs::config::offset_to_pos(valid, valid.len());
            diags.push(
                Diagnostic::error(
                    "io.read",
                    format!(
                        "`{display}` is not UTF-8 (invalid byte at line {}, column {})",
                        pos.line, pos.column
                    ),
                )
                .at(display, pos)
                .with_hint("save the file as UTF-8"),
            );
            None
        }
        Err(err) => {
            diags.push(
                Diagnostic::error("io.read", format!("cannot read `{display}`: {err}"))
                    .in_file(display),
            );
            None
        }
    }
}

/// Checks that a relative path written in a definition stays inside its root
/// (no absolute paths, no `..` that climbs out).
pub fn is_contained(rel: &str) -> bool {
    let path = Path::new(rel);
    if path.is_absolute() || rel.starts_with('~') {
        return false;
    }
    let mut depth: i32 = 0;
    for c in path.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    depth > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packaged_inputs_hold_every_default() {
        let inputs = Inputs::packaged(Config::default());
        let count = |k| {
            inputs
                .definitions
                .iter()
                .filter(|(kind, _)| *kind == k)
                .count()
        };
        assert_eq!(count(DocKind::StageKind), 24);
        assert_eq!(count(DocKind::Loop), 8);
        assert_eq!(count(DocKind::Mode), 9);
        assert!(inputs.prompt("builder.md").is_some());
    }

    #[test]
    fn containment() {
        assert!(is_contained("qa.md"));
        assert!(is_contained("sub/../qa.md"));
        assert!(!is_contained("../qa.md"));
        assert!(!is_contained("/etc/passwd"));
        assert!(!is_contained("a/../../b.md"));
    }
}
