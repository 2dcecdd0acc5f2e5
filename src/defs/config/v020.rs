//! v0.2.0's configuration sections that millrace accepts but does not
//! model (`[sizing]`, `[routing]`, `[policies]`, `[boundaries]`): their
//! v0.2.0 defaults (`v020_defaults.json`, as millrace-ai 0.2.0's
//! `config show --json` printed them) with the file's own values laid
//! over, for `config show`; and v0.2.0's legacy stage names, which its
//! `[stages]` table lists but no loop of either runs.

use serde_json::Value;

use super::Config;

const DEFAULTS: &str = include_str!("v020_defaults.json");

/// v0.2.0's stage names that no v0.2.0 or millrace loop runs: accepted in
/// `[stages]` (a v0.2.0 `millrace.toml` must list every stage to set any),
/// reported by `health`, otherwise ignored.
pub const V020_LEGACY_STAGES: &[&str] = &[
    "clarify",
    "critic",
    "designer",
    "mechanic",
    "phasesplit",
    "taskaudit",
];

/// `over` laid over `base`, table by table.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

impl Config {
    /// v0.2.0 section `name` (`sizing`, `routing`, `policies` or
    /// `boundaries`) as it loads: v0.2.0's defaults under the file's values.
    pub fn v020_section(&self, name: &str) -> Value {
        let defaults: Value = serde_json::from_str(DEFAULTS).expect("v0.2.0 defaults are JSON");
        let mut section = defaults.get(name).cloned().unwrap_or(Value::Null);
        let own = match name {
            "sizing" => &self.sizing,
            "routing" => &self.routing,
            "policies" => &self.policies,
            "boundaries" => &self.boundaries,
            _ => &None,
        };
        if let Some(own) = own {
            merge(&mut section, own);
        }
        section
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_files_values_lie_over_v020s_defaults() {
        let config = Config {
            sizing: Some(json!({"mode": "repo", "repo": {"file_count_threshold": 10}})),
            ..Config::default()
        };
        let s = config.v020_section("sizing");
        assert_eq!(s["mode"], "repo");
        assert_eq!(s["repo"]["file_count_threshold"], 10);
        assert_eq!(s["repo"]["nonempty_line_count_threshold"], 999_999_999);
        assert_eq!(s["task"]["file_count_threshold"], 999_999_999);
        let p = Config::default().v020_section("policies");
        assert_eq!(p["outage"]["probe_port"], 443);
        assert_eq!(p["complexity"]["enabled"], false);
        assert!(Config::default().v020_section("other").is_null());
    }
}
