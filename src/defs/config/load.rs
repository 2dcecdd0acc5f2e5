//! Loading `millrace.toml`: parsing with located errors, range checks,
//! compatibility notes, the config hash and path resolution.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::*;

/// `key = v` must lie in `lo..=hi`.
fn within(key: &str, v: u64, lo: u64, hi: u64) -> Result<(), (String, String)> {
    if v < lo || v > hi {
        Err((
            key.to_string(),
            format!("must be between {lo} and {hi}, not {v}"),
        ))
    } else {
        Ok(())
    }
}

impl Config {
    /// Parses `millrace.toml` text; `file` is used to locate errors.
    pub fn parse(file: &str, text: &str) -> Result<Config, Diagnostic> {
        let config: Config = toml::from_str(text).map_err(|err| {
            let mut d =
                Diagnostic::error("config.invalid", err.message().to_string()).in_file(file);
            if let Some(span) = err.span() {
                d = d.at(file, offset_to_pos(text, span.start));
            }
            d.with_hint("`millrace schema export` writes config.schema.json, which lists every key")
        })?;
        config.check_ranges().map_err(|(key, why)| {
            let (table, field) = key.rsplit_once('.').unwrap_or((key.as_str(), ""));
            Diagnostic::error("config.invalid", format!("`{key}` {why}"))
                .at(file, toml_pos(text, table, field))
        })?;
        Ok(config)
    }

    /// v0.2.0 complexity routing (`[policies.complexity] enabled = true`):
    /// the default band for cards without a `Complexity:` field.
    pub fn complexity_default_band(&self) -> Option<String> {
        let c = self.policies.as_ref()?.get("complexity")?;
        (c.get("enabled")? == &serde_json::Value::Bool(true)).then(|| {
            c.get("default_band")
                .and_then(|b| b.as_str())
                .unwrap_or("moderate")
                .to_string()
        })
    }

    /// The v0.2.0 settings of this config that take no effect, with what to
    /// use instead. Defaults and settings equal to our behaviour are not
    /// listed.
    pub fn compat_notes(&self) -> Vec<CompatNote> {
        let mut out = Vec::new();
        let mut leaf = |key: String, note: &str| {
            out.push(CompatNote {
                key,
                note: note.to_string(),
            })
        };
        let sections: [(&str, &Option<serde_json::Value>, &str); 4] = [
            ("sizing", &self.sizing, "v0.2.0 sizing thresholds other than mode, repo and task are not used"),
            ("routing", &self.routing, "stage order is the loop's graph: write an overlay loop (docs/authoring.md) instead"),
            ("policies", &self.policies, "not implemented here"),
            ("boundaries", &self.boundaries, "config changes apply at the next run boundary; the v0.2.0 boundary lists are not used"),
        ];
        for (name, value, why) in sections {
            let Some(v) = value else { continue };
            for_each_leaf(name, v, &mut |key, value| {
                let note = match key.as_str() {
                    "sizing.mode" => return,
                    k if k.starts_with("sizing.repo.") || k.starts_with("sizing.task.") => {
                        if k.ends_with("file_count_threshold") || k.ends_with("nonempty_line_count_threshold") {
                            return;
                        }
                        "only file_count_threshold and nonempty_line_count_threshold are used"
                    }
                    k if k.starts_with("policies.outage.") => "use `[outage]` (waits, backoff, probe_command)",
                    "policies.usage.enabled" | "policies.usage.orch_command" => return,
                    k if k.starts_with("policies.usage.execution.") && !k.ends_with("refresh_utc") => return,
                    "policies.usage.provider" if matches!(value.as_str(), Some("env" | "command")) => return,
                    "policies.usage.provider" => "the `codex` usage sampler is not implemented: use `env` or `command`, or `[budget]` caps",
                    k if k.starts_with("policies.usage.") => "use `[budget]` caps (usd, tokens, invocations, wall_seconds) and `millrace usage`",
                    "policies.complexity.enabled" | "policies.complexity.default_band" => return,
                    k if k.starts_with("policies.complexity.") => "the complexity profiles are v0.2.0's model.complexity.<band> (efforts per stage); other profiles are not loaded",
                    k if k.starts_with("policies.search.") => "search is not enabled for any stage here",
                    k if k.starts_with("policies.network_guard.") => "use `[runners.<id>] network = false`",
                    k if k.starts_with("policies.preflight.") => "runner problems are classified per attempt; `millrace doctor` checks runners",
                    _ => why,
                };
                leaf(key, note);
            });
        }
        for (kind, o) in &self.stages {
            if super::V020_LEGACY_STAGES.contains(&kind.as_str()) && *o != Default::default() {
                leaf(
                    format!("stages.{kind}"),
                    "a v0.2.0 stage no loop runs (in v0.2.0 either): its settings take no effect",
                );
                continue;
            }
            if o.allow_search == Some(true) {
                leaf(
                    format!("stages.{kind}.allow_search"),
                    "search is not enabled for any stage here",
                );
            }
        }
        out
    }

    /// Values the types allow but the runtime cannot use: zero or absurd
    /// durations, non-finite numbers, paths that leave the workspace.
    fn check_ranges(&self) -> Result<(), (String, String)> {
        const DAY: u64 = 86_400;
        let (e, o, r, x) = (&self.engine, &self.outage, &self.research, &self.execution);
        let whole: [(&str, u64, u64, u64); 12] = [
            (
                "engine.poll_interval_seconds",
                e.poll_interval_seconds,
                1,
                DAY,
            ),
            (
                "engine.inter_task_delay_seconds",
                e.inter_task_delay_seconds,
                0,
                DAY,
            ),
            ("engine.stop_grace_seconds", e.stop_grace_seconds, 0, DAY),
            (
                "outage.wait_initial_seconds",
                o.wait_initial_seconds,
                0,
                DAY,
            ),
            ("outage.wait_max_seconds", o.wait_max_seconds, 0, 7 * DAY),
            ("outage.stall_seconds", o.stall_seconds, 0, 7 * DAY),
            ("research.idle_poll_seconds", r.idle_poll_seconds, 0, DAY),
            (
                "research.stage_retry_backoff_seconds",
                r.stage_retry_backoff_seconds,
                0,
                DAY,
            ),
            // Loop bounds: the compiler proves termination for any number,
            // but a bound in the billions proves nothing useful.
            (
                "execution.quickfix_max_attempts",
                u64::from(x.quickfix_max_attempts),
                0,
                100,
            ),
            (
                "execution.recovery_max_rounds",
                u64::from(x.recovery_max_rounds),
                0,
                100,
            ),
            (
                "research.spec_review_max_revisions",
                u64::from(r.spec_review_max_revisions),
                0,
                20,
            ),
            (
                "research.audit_max_failures",
                u64::from(r.audit_max_failures),
                0,
                100,
            ),
        ];
        for (key, v, lo, hi) in whole {
            within(key, v, lo, hi)?;
        }
        for (kind, o) in &self.stages {
            if let Some(t) = o.timeout_seconds {
                within(&format!("stages.{kind}.timeout_seconds"), t, 1, 7 * DAY)?;
            }
        }
        let d = self.watchers.debounce_seconds;
        if !(d.is_finite() && (0.0..=3600.0).contains(&d)) {
            return Err((
                "watchers.debounce_seconds".into(),
                format!("must be a number from 0 to 3600, not {d}"),
            ));
        }
        self.check_money()?;
        self.check_paths()
    }

    /// USD caps and prices: finite and within sense.
    fn check_money(&self) -> Result<(), (String, String)> {
        let b = &self.budget;
        let scopes = [("task", &b.task), ("run", &b.run), ("day", &b.day)];
        let named = scopes
            .iter()
            .filter_map(|(n, c)| c.as_ref().map(|c| (format!("budget.{n}"), c)))
            .chain(
                b.stage
                    .iter()
                    .map(|(k, c)| (format!("budget.stage.{k}"), c)),
            );
        for (key, caps) in named {
            if let Some(usd) = caps
                .usd
                .filter(|u| !(u.is_finite() && (0.0..=1e9).contains(u)))
            {
                return Err((
                    format!("{key}.usd"),
                    format!("must be a number of dollars from 0 to 1e9, not {usd}"),
                ));
            }
        }
        for (model, p) in &self.prices {
            let values = [
                Some(p.input_per_mtok),
                p.cached_input_per_mtok,
                Some(p.output_per_mtok),
            ];
            if let Some(v) = values
                .into_iter()
                .flatten()
                .find(|v| !(v.is_finite() && (0.0..=1e6).contains(v)))
            {
                return Err((
                    format!("prices.{model}"),
                    format!("prices must be from 0 to 1e6 USD per million tokens, not {v}"),
                ));
            }
        }
        Ok(())
    }

    /// `[paths]` stay inside the workspace.
    fn check_paths(&self) -> Result<(), (String, String)> {
        for (key, p) in [
            ("paths.workspace", &self.paths.workspace),
            ("paths.agents_dir", &self.paths.agents_dir),
        ] {
            let escapes = p.is_absolute()
                || p.components()
                    .any(|c| matches!(c, std::path::Component::ParentDir));
            if escapes {
                return Err((
                    key.to_string(),
                    format!(
                        "must be a path inside the workspace (relative, without `..`), not `{}`",
                        p.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Runner ids known to this workspace: built-ins plus `[runners.*]`.
    pub fn runner_ids(&self) -> impl Iterator<Item = &str> {
        RunnerKind::BUILTIN
            .iter()
            .map(|(id, _)| *id)
            .chain(self.runners.keys().map(String::as_str))
    }

    /// SHA-256 of the config as JSON with sorted keys (as v0.2.0's config_hash).
    pub fn hash(&self) -> String {
        let value = serde_json::to_value(self).expect("config serialises");
        sha256_hex(value.to_string().as_bytes())
    }

    /// Reads an integer config value by dotted key (threshold limits).
    pub fn integer(&self, key: &str) -> Option<u64> {
        self.get(key).as_ref().and_then(serde_json::Value::as_u64)
    }

    /// Resolves the agents directory for a config file at `config_path`.
    pub fn agents_dir(&self, config_path: &Path) -> PathBuf {
        without_cur_dir(
            &self
                .workspace_root(config_path)
                .join(&self.paths.agents_dir),
        )
    }

    pub fn workspace_root(&self, config_path: &Path) -> PathBuf {
        let dir = config_path.parent().unwrap_or(Path::new("."));
        without_cur_dir(&dir.join(&self.paths.workspace))
    }
}

/// `a/./b` → `a/b` (keeps `..`: resolving it needs the file system).
fn without_cur_dir(path: &Path) -> PathBuf {
    let cleaned: PathBuf = path
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    if cleaned.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        cleaned
    }
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

/// Lowercase hex of a digest.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        use std::fmt::Write;
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Converts a byte offset into a 1-based line and column (in characters).
pub fn offset_to_pos(text: &str, offset: usize) -> Pos {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Pos::new(line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_takes_v020_defaults() {
        let c = Config::parse("millrace.toml", "").unwrap();
        assert_eq!(c.execution.quickfix_max_attempts, 2);
        assert_eq!(c.engine.poll_interval_seconds, 60);
        assert_eq!(c.plan.mode, "standard");
        assert_eq!(c.integer("execution.quickfix_max_attempts"), Some(2));
        assert_eq!(c.integer("execution.nope"), None);
    }

    #[test]
    fn unknown_keys_are_located() {
        let err =
            Config::parse("millrace.toml", "[engine]\nmode = \"once\"\nbogus = 1\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.message.contains("bogus"), "{err}");
    }

    #[test]
    fn hash_is_stable_and_sensitive() {
        let a = Config::parse("m", "").unwrap();
        let b = Config::parse("m", "[execution]\nquickfix_max_attempts = 3\n").unwrap();
        assert_eq!(a.hash(), Config::default().hash());
        assert_ne!(a.hash(), b.hash());
    }
}
