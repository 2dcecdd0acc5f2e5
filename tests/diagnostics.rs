//! One fixture per compiler diagnostic code (`tests/fixtures/diagnostics/`),
//! each run through the real `plan validate` on a fresh workspace, with an
//! insta snapshot of the located message. Every code in
//! `millrace::defs::diag::CODES` must have a fixture, and every fixture must
//! produce its code.
//!
//! Fixture format: `# args: …` and `# exit: N` header lines, then files as
//! `--- <path>` followed by the file's text. Special entries:
//! `--- @config-append` (text appended to millrace.toml), `--- @big <path>
//! <bytes>`, `--- @fifo <path>`, `--- @symlink <path> <target>`.

mod support;

use std::path::Path;

use support::Ws;

struct Fixture {
    args: Vec<String>,
    exit: i32,
    entries: Vec<(String, String)>,
}

fn parse(text: &str) -> Fixture {
    let mut args = vec!["plan".to_string(), "validate".to_string()];
    let mut exit = 1;
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(a) = line.strip_prefix("# args: ") {
            args = a.split_whitespace().map(str::to_string).collect();
        } else if let Some(e) = line.strip_prefix("# exit: ") {
            exit = e.parse().unwrap();
        } else if line.starts_with("# ") && entries.is_empty() {
        } else if let Some(path) = line.strip_prefix("--- ") {
            entries.push((path.to_string(), String::new()));
        } else if let Some((_, body)) = entries.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    Fixture {
        args,
        exit,
        entries,
    }
}

fn apply(ws: &Ws, entries: &[(String, String)]) {
    for (head, body) in entries {
        let mut words = head.split_whitespace();
        let first = words.next().unwrap();
        let parent_of = |rel: &str| {
            let p = ws.path(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            p
        };
        match first {
            "@config-append" => ws.append_config(body),
            "@big" => {
                let p = parent_of(words.next().unwrap());
                let n: usize = words.next().unwrap().parse().unwrap();
                std::fs::write(p, "# x\n".repeat(n / 4)).unwrap();
            }
            "@fifo" => {
                let p = parent_of(words.next().unwrap());
                let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
            }
            "@symlink" => {
                let p = parent_of(words.next().unwrap());
                std::os::unix::fs::symlink(words.next().unwrap(), p).unwrap();
            }
            path => ws.write(path, body),
        }
    }
}

#[test]
fn every_diagnostic_code_has_a_fixture_with_a_located_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diagnostics");
    let mut seen = Vec::new();
    let mut failures = Vec::new();
    for code in millrace::defs::diag::CODES {
        let path = dir.join(format!("{code}.fixture"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("diagnostic `{code}` has no fixture at {}", path.display()));
        let fx = parse(&text);
        let ws = Ws::new();
        apply(&ws, &fx.entries);
        let args: Vec<&str> = fx.args.iter().map(String::as_str).collect();
        let run = ws.run(&args);
        if run.out.status.code() != Some(fx.exit) || !run.stderr.contains(&format!("[{code}]")) {
            failures.push(format!(
                "{code}: exit {:?} (expected {}), stderr:\n{}",
                run.out.status.code(),
                fx.exit,
                run.stderr
            ));
            continue;
        }
        let root = ws.root.display().to_string();
        let stderr = run.stderr.replace(&root, "[WS]");
        insta::with_settings!({ snapshot_suffix => code.replace('.', "-"), prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!("diagnostic", stderr);
        });
        seen.push(format!("{code}.fixture"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let mut extra: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !seen.contains(n))
        .collect();
    extra.sort();
    assert!(extra.is_empty(), "fixtures for unknown codes: {extra:?}");
}
