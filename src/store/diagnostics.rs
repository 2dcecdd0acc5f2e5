//! Diagnostics bundles (spec §9.2): a self-contained copy of what explains
//! a run's trouble — the stores, the run directory, a manifest with the
//! sha256 of every file, `failure_summary.md` and `policy_evidence.json` —
//! with secrets redacted in every copied file. A bundle is assembled in a
//! temporary directory and renamed into place, so a crash leaves none or a
//! whole one.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};

use crate::defs::layout::{self, Layout, TaskStore};

use super::cards::slug;
use super::runs::{RunDir, Transition};

/// What to redact besides keys that name secrets.
#[derive(Debug, Clone, Default)]
pub struct Redaction {
    /// Literal strings replaced wherever they appear (configured patterns,
    /// and the values of secret-looking environment variables).
    pub values: Vec<String>,
}

impl Redaction {
    /// Configured literals plus the values of this process's environment
    /// variables whose names look secret (`*KEY*`, `*TOKEN*`, `*SECRET*`,
    /// `*PASSWORD*`) and are long enough to be one.
    pub fn from_env(
        configured: &[String],
        extra_env: impl Iterator<Item = (String, String)>,
    ) -> Redaction {
        let secret_name = |n: &str| {
            let n = n.to_ascii_uppercase();
            ["KEY", "TOKEN", "SECRET", "PASSWORD", "AUTH"]
                .iter()
                .any(|s| n.contains(s))
        };
        let mut secrets: BTreeSet<String> = configured
            .iter()
            .filter(|v| !v.is_empty())
            .cloned()
            .collect();
        for (k, v) in std::env::vars().chain(extra_env) {
            if secret_name(&k) && v.len() >= 8 {
                secrets.insert(v);
            }
        }
        Redaction::of(secrets)
    }

    /// Redacts each of `secrets` in its raw form and in the encoded forms
    /// it takes in our own files (JSON string escapes, with and without
    /// `\u` escapes of non-ASCII and `\/`, and URL-encoding in logged
    /// URLs), longest first, so that a secret that is a prefix of another
    /// never leaves the other's tail behind.
    pub fn of(secrets: impl IntoIterator<Item = String>) -> Redaction {
        let mut values: BTreeSet<String> = BTreeSet::new();
        for s in secrets.into_iter().filter(|s| !s.is_empty()) {
            values.extend(encodings(&s));
            values.insert(s);
        }
        let mut values: Vec<String> = values.into_iter().collect();
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        Redaction { values }
    }

    fn text(&self, text: &str) -> (String, bool) {
        let mut out = text.to_string();
        let mut hit = false;
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), "<redacted>");
                hit = true;
            }
        }
        (out, hit)
    }
}

/// The forms `s` takes once encoded: as a JSON string's contents, the same
/// with `/` as `\/` and with every non-ASCII character `\u`-escaped (lower-
/// and uppercase hex), and URL-encoded (both hex cases, space as `+`).
fn encodings(s: &str) -> Vec<String> {
    use std::fmt::Write as _;
    let json = serde_json::to_string(s).expect("a string serialises");
    let json = json[1..json.len() - 1].to_string();
    let (mut lower, mut upper) = (String::new(), String::new());
    for c in json.chars() {
        if c.is_ascii() {
            lower.push(c);
            upper.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(lower, "\\u{u:04x}");
                let _ = write!(upper, "\\u{u:04X}");
            }
        }
    }
    let (mut url_upper, mut url_lower) = (String::new(), String::new());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            url_upper.push(char::from(b));
            url_lower.push(char::from(b));
        } else {
            let _ = write!(url_upper, "%{b:02X}");
            let _ = write!(url_lower, "%{b:02x}");
        }
    }
    let mut forms = Vec::new();
    for escaped in [json, lower, upper] {
        forms.push(escaped.replace('/', "\\/"));
        forms.push(escaped);
    }
    forms.extend([url_upper.replace("%20", "+"), url_upper, url_lower]);
    forms.retain(|f| f != s && !f.is_empty());
    forms
}

/// Whether a JSON key names a secret.
fn secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    matches!(
        k.as_str(),
        "authorization" | "cookie" | "env" | "environment" | "headers" | "probe_command"
    ) || ["api_key", "apikey", "password", "secret", "token"]
        .iter()
        .any(|s| k.contains(s))
        && !k.ends_with("_tokens")
        && !k.starts_with("tokens")
        && k != "token_count"
}

/// Redacts secret keys of `v` in place; true when something was.
fn redact_value(v: &mut Value, r: &Redaction) -> bool {
    match v {
        Value::Object(m) => {
            let mut hit = false;
            for (k, v) in m.iter_mut() {
                if secret_key(k) && !v.is_null() && !v.is_number() {
                    *v = Value::String("<redacted>".into());
                    hit = true;
                } else {
                    hit |= redact_value(v, r);
                }
            }
            hit
        }
        Value::Array(a) => a.iter_mut().fold(false, |h, v| redact_value(v, r) | h),
        Value::String(s) => {
            let (t, hit) = r.text(s);
            if hit {
                *s = t;
            }
            hit
        }
        _ => false,
    }
}

/// A copied file's text with secrets redacted: JSON (and JSON lines) by
/// key and value, anything else by value.
fn redact_file(name: &str, text: &str, r: &Redaction) -> (String, bool) {
    // By structure first (secret-named keys), then every remaining form of
    // a secret anywhere in the result (a key, a non-JSON line, a log).
    let (out, hit) = redact_structured(name, text, r);
    let (out, more) = r.text(&out);
    (out, hit || more)
}

fn redact_structured(name: &str, text: &str, r: &Redaction) -> (String, bool) {
    if name.ends_with(".json") {
        if let Ok(mut v) = serde_json::from_str::<Value>(text) {
            let hit = redact_value(&mut v, r);
            return (
                serde_json::to_string_pretty(&v).unwrap_or_default() + "\n",
                hit,
            );
        }
    }
    if name.ends_with(".jsonl") {
        let mut hit = false;
        let lines: Vec<String> = text
            .lines()
            .map(|l| match serde_json::from_str::<Value>(l) {
                Ok(mut v) => {
                    hit |= redact_value(&mut v, r);
                    v.to_string()
                }
                Err(_) => {
                    let (t, h) = r.text(l);
                    hit |= h;
                    t
                }
            })
            .collect();
        return (lines.join("\n") + "\n", hit);
    }
    r.text(text)
}

/// One bundle, as listed.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Bundle {
    /// Directory name, `diag-<run>-<label>-<stamp>`.
    pub id: String,
    /// Path relative to the workspace.
    pub path: String,
    pub run_id: Option<String>,
    pub label: Option<String>,
    pub created_at: Option<String>,
    pub reason: Option<String>,
    pub files: usize,
    /// Files in which something was redacted.
    pub redacted: Vec<String>,
}

/// The largest file copied whole into a bundle; a larger one (a huge
/// backlog) is cut to its last part, marked as such.
const COPY_LIMIT: u64 = 16 << 20;

/// Reads `path` (a regular file itself, never through a symbolic link),
/// keeping the last `COPY_LIMIT` bytes.
fn read_tail(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = super::safe::open_regular_nofollow(path).ok()?;
    let len = f.metadata().ok()?.len();
    let mut buf = Vec::new();
    if len > COPY_LIMIT {
        f.seek(SeekFrom::Start(len - COPY_LIMIT)).ok()?;
        buf.extend_from_slice(format!("[first {} bytes left out]\n", len - COPY_LIMIT).as_bytes());
    }
    f.take(COPY_LIMIT).read_to_end(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// A file of a bundle and its sha256.
type Hashed = (String, String);

/// A bundle being written in its temp dir: each file redacted and hashed.
struct Builder<'a> {
    tmp: PathBuf,
    redaction: &'a Redaction,
    /// (path in the bundle, sha256) of every file written.
    files: Vec<Hashed>,
    /// Files in which something was redacted.
    redacted: Vec<String>,
}

impl Builder<'_> {
    fn put(&mut self, rel: String, text: String) -> io::Result<()> {
        let (text, hit) = redact_file(&rel, &text, self.redaction);
        if hit {
            self.redacted.push(rel.clone());
        }
        let path = self.tmp.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &text)?;
        self.files
            .push((rel, crate::defs::config::sha256_hex(text.as_bytes())));
        Ok(())
    }

    /// Writes the manifest (every file with its sha256), then moves the
    /// bundle into place with one rename. Returns the files and the ones
    /// redacted.
    fn finish(
        self,
        root: &Path,
        id: &str,
        about: &About<'_>,
    ) -> io::Result<(Vec<Hashed>, Vec<String>)> {
        let Builder {
            tmp,
            mut files,
            redacted,
            ..
        } = self;
        files.sort();
        let manifest = json!({
            "schema_version": "1.0",
            "generated_at": about.now,
            "bundle": format!("agents/diagnostics/{id}"),
            "run_id": about.run_id,
            "label": about.label,
            "reason": about.reason,
            "files": files.iter().map(|(p, h)| json!({"path": p, "sha256": h})).collect::<Vec<_>>(),
        });
        std::fs::write(
            tmp.join("manifest.json"),
            serde_json::to_string_pretty(&manifest).expect("serialises") + "\n",
        )?;
        super::atomic::sync_dir(&tmp)?;
        std::fs::rename(&tmp, root.join(id))?;
        super::atomic::sync_dir(root)?;
        Ok((files, redacted))
    }

    /// Copies the run dir (its outage probes at the root, as v0.2.0's
    /// bundles keep them); returns its last transition with a node and the
    /// stage logs found (stdout, stderr).
    fn copy_run(&mut self, run: &RunDir) -> io::Result<(Option<Transition>, (String, String))> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&run.path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        let mut logs = (String::new(), String::new());
        for p in entries {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let Some(text) = read_tail(&p) else { continue };
            if name == super::runs::OUTAGE_PROBES {
                self.put(name, text)?;
                continue;
            }
            if name.ends_with(".stdout.log") {
                logs.0 = format!("run/{name}");
            }
            if name.ends_with(".stderr.log") {
                logs.1 = format!("run/{name}");
            }
            self.put(format!("run/{name}"), text)?;
        }
        let history = run.history().unwrap_or_default();
        let last = history.iter().rev().find(|t| t.node.is_some()).cloned();
        Ok((last, logs))
    }
}

/// What a bundle is about: the run, its last transition with a node, and
/// why the bundle was made.
struct About<'a> {
    run: &'a str,
    run_id: Option<&'a str>,
    last: Option<&'a Transition>,
    label: &'a str,
    reason: &'a str,
    now: &'a str,
}

impl About<'_> {
    fn node(&self) -> String {
        self.last.and_then(|t| t.node.clone()).unwrap_or_default()
    }

    /// `failure_summary.md`, as v0.2.0's bundles have it.
    fn summary(
        &self,
        stdout: &str,
        stderr: &str,
        config_hash: &str,
        redacted: &[String],
    ) -> String {
        let marker = self
            .last
            .and_then(|t| t.outcome.clone().or(t.status_after.clone()))
            .map(|m| m.to_string())
            .unwrap_or_default();
        format!(
            "# Failure summary\n\n- **Stage:** {}\n- **Marker:** {marker}\n- **Run dir:** agents/runs/{}\n- **Stdout log:** {stdout}\n- **Stderr log:** {stderr}\n- **Note:** {}\n- **Label:** {}\n- **Created:** {}\n- **Active config hashes:** engine_config_sha256={config_hash}\n- **Redacted:** {}\n",
            self.node(),
            self.run,
            self.reason,
            self.label,
            self.now,
            if redacted.is_empty() { "nothing".to_string() } else { redacted.join(", ") }
        )
    }

    /// `policy_evidence.json`: the decision the last transition records.
    fn evidence(&self, redacted: &[String]) -> Value {
        let last = self.last;
        json!({
            "schema_version": "1.0",
            "source": "runtime_transition_history",
            "run_id": self.run_id,
            "event_id": last.map(|t| t.event_id.clone()),
            "event_name": last.map(|t| crate::defs::serde_name(&t.event)),
            "timestamp": last.map(|t| t.timestamp.clone()),
            "node_id": self.node(),
            "decision": last.and_then(|t| t.route_reason.clone()),
            "failure": last.and_then(|t| t.failure.clone()),
            "class": last.and_then(|t| t.class),
            "label": self.label,
            "reason": self.reason,
            "redaction": {"redacted": !redacted.is_empty(), "redacted_paths": redacted},
        })
    }
}

/// Creates a bundle for run `run_id` (the stores alone when `None`).
pub fn create(
    agents: &Path,
    run_id: Option<&str>,
    label: &str,
    reason: &str,
    config_hash: &str,
    redaction: &Redaction,
) -> io::Result<Bundle> {
    let root = Layout::of(agents).rel("diagnostics");
    let stamp = crate::defs::clock::now()
        .strftime("%Y%m%dT%H%M%S%6fZ")
        .to_string();
    let id = format!(
        "diag-{}-{}-{stamp}",
        slug(run_id.unwrap_or("workspace"))
            .chars()
            .take(60)
            .collect::<String>(),
        slug(label)
    );
    let tmp = root.join(format!(".{id}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let mut b = Builder {
        tmp: tmp.clone(),
        redaction,
        files: Vec::new(),
        redacted: Vec::new(),
    };
    for name in [
        TaskStore::Active.file_name(),
        TaskStore::Backlog.file_name(),
        TaskStore::Blocker.file_name(),
        layout::STATUS,
        layout::RESEARCH_STATUS,
    ] {
        if let Some(text) = read_tail(&Layout::of(agents).rel(name)) {
            b.put(name.to_string(), text)?;
        }
    }
    let run = run_id.and_then(|id| RunDir::open(agents, id));
    let (last, (stdout, stderr)) = match &run {
        Some(run) => b.copy_run(run)?,
        None => (None, Default::default()),
    };
    let now = crate::defs::clock::now_iso();
    let about = About {
        run: run.as_ref().map_or("", |r| r.id.as_str()),
        run_id,
        last: last.as_ref(),
        label,
        reason,
        now: &now,
    };
    b.put(
        "failure_summary.md".into(),
        about.summary(&stdout, &stderr, config_hash, &b.redacted),
    )?;
    let evidence = about.evidence(&b.redacted);
    b.put(
        "policy_evidence.json".into(),
        serde_json::to_string_pretty(&evidence).expect("serialises") + "\n",
    )?;
    let (files, redacted) = b.finish(&root, &id, &about)?;
    Ok(Bundle {
        path: format!(
            "{}/diagnostics/{id}",
            agents
                .file_name()
                .map_or("agents".into(), |n| n.to_string_lossy().to_string())
        ),
        id,
        run_id: run_id.map(str::to_string),
        label: Some(label.to_string()),
        created_at: Some(now.clone()),
        reason: Some(reason.to_string()),
        files: files.len() + 1,
        redacted,
    })
}

/// Whether run `run_id` already has a bundle.
pub fn exists_for(agents: &Path, run_id: &str) -> bool {
    let prefix = format!(
        "diag-{}-",
        slug(run_id).chars().take(60).collect::<String>()
    );
    std::fs::read_dir(Layout::of(agents).rel("diagnostics"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        })
        .unwrap_or(false)
}

/// Every bundle, newest first.
pub fn list(agents: &Path) -> Vec<Bundle> {
    let root = Layout::of(agents).rel("diagnostics");
    let mut out: Vec<Bundle> = std::fs::read_dir(&root)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("diag-"))
                .filter_map(|e| read(agents, &e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    out
}

/// Bundle `id`, from its manifest.
pub fn read(agents: &Path, id: &str) -> Option<Bundle> {
    if !super::runs::run_id_is_safe(id) {
        return None;
    }
    let dir = Layout::of(agents).rel("diagnostics").join(id);
    let text =
        super::safe::read_text(&dir.join("manifest.json"), super::safe::RECORD_LIMIT).ok()?;
    let m: Value = serde_json::from_str(&text).ok()?;
    let evidence: Value =
        super::safe::read_text(&dir.join("policy_evidence.json"), super::safe::RECORD_LIMIT)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
    let s = |v: &Value| v.as_str().map(str::to_string);
    Some(Bundle {
        id: id.to_string(),
        path: s(&m["bundle"]).unwrap_or_default(),
        run_id: s(&m["run_id"]),
        label: s(&m["label"]),
        created_at: s(&m["generated_at"]),
        reason: s(&m["reason"]),
        files: m["files"].as_array().map_or(0, |f| f.len() + 1),
        redacted: evidence["redaction"]["redacted_paths"]
            .as_array()
            .map(|a| a.iter().filter_map(s).collect())
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod redaction_props {
    use super::*;
    use proptest::prelude::*;

    /// A secret: 8 to 24 characters of letters, digits, punctuation that
    /// JSON and URLs escape, and non-ASCII (not `<`/`>`, which the
    /// placeholder `<redacted>` itself holds).
    fn secret() -> impl Strategy<Value = String> {
        let chars: Vec<char> = "abcXYZ0129-_./+ =&\"\\?%é日😀\t".chars().collect();
        proptest::collection::vec(proptest::sample::select(chars), 8..24)
            .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn no_form_of_a_secret_survives(
            a in secret(),
            cut in 1usize..7,
            form in 0usize..8,
            file in 0usize..3,
            before in "[a-z {}:\"]{0,12}",
            after in "[a-z {}:\"]{0,12}",
        ) {
            // A second secret that is a prefix of the first.
            let chars: Vec<char> = a.chars().collect();
            let b: String = chars[..chars.len().min(cut + 7)].iter().collect();
            let r = Redaction::of([a.clone(), b.clone()]);
            let mut forms = encodings(&a);
            forms.push(a.clone());
            let shown = forms[form % forms.len()].clone();
            let name = ["x.log", "x.json", "x.jsonl"][file];
            let text = match file {
                1 => serde_json::json!({ "note": format!("{before}{a}{after}") }).to_string(),
                2 => format!("{}\n{before}{shown}{after}\n", serde_json::json!({ "v": a })),
                _ => format!("{before}{shown}{after}"),
            };
            let (out, _) = redact_file(name, &text, &r);
            let all = |s: &String| encodings(s).into_iter().chain([s.clone()]).collect::<Vec<_>>();
            for secret in [&a, &b] {
                for f in all(secret) {
                    prop_assert!(!out.contains(f.as_str()), "{f:?} of {secret:?} in {out:?}");
                }
            }
            // Nor the rest of the longer secret after its redacted prefix.
            for fa in all(&a) {
                for fb in all(&b) {
                    // (Punctuation a file's syntax supplies, or a tail the
                    // text after it starts with, is no evidence.)
                    let tail = fa.strip_prefix(fb.as_str()).filter(|t| {
                        t.chars().any(char::is_alphanumeric) && !after.starts_with(t)
                    });
                    if let Some(tail) = tail {
                        let left = format!("<redacted>{tail}");
                        prop_assert!(!out.contains(&left), "{left:?} in {out:?}");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_by_key_and_value() {
        let r = Redaction::of(["sk-live-123456".to_string()]);
        let (t, hit) = redact_file(
            "x.json",
            r#"{"api_key": "abc", "usage": {"input_tokens": 5}, "note": "key sk-live-123456 leaked", "Authorization": "Bearer x", "env": ["A"]}"#,
            &r,
        );
        assert!(hit);
        let v: Value = serde_json::from_str(&t).unwrap();
        assert_eq!(v["api_key"], "<redacted>");
        assert_eq!(v["Authorization"], "<redacted>");
        assert_eq!(v["env"], "<redacted>");
        assert_eq!(v["usage"]["input_tokens"], 5);
        assert_eq!(v["note"], "key <redacted> leaked");
        let (t, hit) = redact_file("s.log", "token sk-live-123456\n", &r);
        assert!(hit && t == "token <redacted>\n");
        let (_, hit) = redact_file("s.log", "nothing\n", &r);
        assert!(!hit);
    }
}
