//! The structure limits, counted over `src/`: no file over 800 lines, no
//! function over 120 lines and at most 15 over 80, and no import cycle
//! between the modules of one layer. `cargo test --test structure --
//! --nocapture` prints the counts.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use support::rust_files;

const MAX_FILE_LINES: usize = 800;
const MAX_FN_LINES: usize = 120;
const LONG_FN_LINES: usize = 80;
const MAX_LONG_FNS: usize = 15;

/// The text with string, char and comment contents blanked (newlines
/// kept), so braces and keywords in them are not counted.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |c: u8| if c == b'\n' { b'\n' } else { b' ' };
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    out.extend([b' ', b' ']);
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    out.extend([b' ', b' ']);
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // A raw string r"…", r#"…"#, …
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.extend(std::iter::repeat_n(b' ', j - i + 1));
            i = j + 1;
            while i < b.len() {
                if b[i] == b'"' && (0..hashes).all(|k| b.get(i + 1 + k) == Some(&b'#')) {
                    out.extend(std::iter::repeat_n(b' ', 1 + hashes));
                    i += 1 + hashes;
                    break;
                }
                out.push(blank(b[i]));
                i += 1;
            }
        } else if c == b'"' {
            out.push(b' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    out.push(b' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push(b' ');
            i += 1;
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let close = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|x| *x == b'\'')
                    .map(|p| i + 2 + p)
            } else {
                let width = std::str::from_utf8(&b[i + 1..(i + 5).min(b.len())])
                    .ok()
                    .or_else(|| std::str::from_utf8(&b[i + 1..(i + 4).min(b.len())]).ok())
                    .or_else(|| std::str::from_utf8(&b[i + 1..(i + 3).min(b.len())]).ok())
                    .and_then(|s| s.chars().next())
                    .map_or(1, char::len_utf8);
                (b.get(i + 1 + width) == Some(&b'\'')).then_some(i + 1 + width)
            };
            match close {
                Some(end) => {
                    out.extend(std::iter::repeat_n(b' ', end - i + 1));
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `(name, first line, lines)` of every function with a body.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let code = code_only(text);
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let Some(at) = t.find("fn ") else { continue };
        let head = &t[..at];
        let is_def = head
            .split_whitespace()
            .all(|w| w.starts_with("pub") || ["const", "async", "unsafe", "extern"].contains(&w));
        if !is_def || (at > 0 && !head.ends_with(' ')) {
            continue;
        }
        let name: String = t[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // The body: from the first `{` before a `;` to its match.
        let mut depth = 0i64;
        let mut started = false;
        let mut end = None;
        'scan: for (m, l) in lines.iter().enumerate().skip(n) {
            // On the first line, from the `fn` keyword on.
            let from = if m == n { line.len() - t.len() + at } else { 0 };
            for ch in l[from..].chars() {
                match ch {
                    ';' if !started => break 'scan,
                    '{' => {
                        depth += 1;
                        started = true;
                    }
                    '}' => {
                        depth -= 1;
                        if started && depth == 0 {
                            end = Some(m);
                            break 'scan;
                        }
                    }
                    _ => {}
                }
            }
        }
        if let Some(end) = end {
            out.push((name, n + 1, end - n + 1));
        }
    }
    out
}

/// The sibling modules (files) of `layer` that `file` imports.
fn imports(text: &str, layer: &str, siblings: &BTreeSet<String>, own: &str) -> BTreeSet<String> {
    let code = code_only(text);
    let mut out = BTreeSet::new();
    let prefix = format!("crate::{layer}::");
    let mut look = |rest: &str| {
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name != own && siblings.contains(&name) {
            out.insert(name);
        }
    };
    for (i, _) in code.match_indices(&prefix) {
        look(&code[i + prefix.len()..]);
    }
    for (i, _) in code.match_indices("super::") {
        look(&code[i + 7..]);
    }
    // `use super::{a, b}` and `crate::layer::{a, b}` groups.
    for pat in ["super::{", &format!("crate::{layer}::{{")] {
        for (i, _) in code.match_indices(pat) {
            let rest = &code[i + pat.len()..];
            let group = &rest[..rest.find('}').unwrap_or(0)];
            for item in group.split(',') {
                look(item.trim());
            }
        }
    }
    out
}

/// Module-level cycles among the files of each layer directory.
fn cycles(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(src).unwrap().flatten() {
        let dir = entry.path();
        if !dir.is_dir() {
            continue;
        }
        let layer = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut mods: BTreeMap<String, PathBuf> = BTreeMap::new();
        for f in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = f.path();
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            if p.extension().is_some_and(|e| e == "rs") && stem != "mod" && stem != "tests" {
                mods.insert(stem, p);
            }
        }
        let names: BTreeSet<String> = mods.keys().cloned().collect();
        let graph: BTreeMap<String, BTreeSet<String>> = mods
            .iter()
            .map(|(m, p)| {
                let text = std::fs::read_to_string(p).unwrap();
                // Unit tests may reach anywhere in their layer.
                let text = text.split("#[cfg(test)]").next().unwrap_or("");
                (m.clone(), imports(text, &layer, &names, m))
            })
            .collect();
        // A cycle: two modules that reach each other.
        let reach = |from: &str| {
            let mut seen = BTreeSet::new();
            let mut stack = vec![from.to_string()];
            while let Some(m) = stack.pop() {
                for n in graph.get(&m).into_iter().flatten() {
                    if seen.insert(n.clone()) {
                        stack.push(n.clone());
                    }
                }
            }
            seen
        };
        let mut reported = BTreeSet::new();
        for m in graph.keys() {
            let from_m = reach(m);
            if from_m.contains(m) && reported.insert(m.clone()) {
                let knot: Vec<String> = from_m
                    .iter()
                    .filter(|n| reach(n).contains(m))
                    .cloned()
                    .collect();
                if knot.iter().all(|n| n >= m) {
                    found.push(format!("{layer}: {}", knot.join(" ↔ ")));
                }
            }
        }
    }
    found
}

#[test]
fn files_functions_and_imports_stay_within_the_limits() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut big_files = Vec::new();
    let mut long = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let rel = f.strip_prefix(&src).unwrap().display().to_string();
        let n = text.lines().count();
        if n > MAX_FILE_LINES {
            big_files.push(format!("src/{rel}: {n} lines"));
        }
        for (name, at, len) in functions(&text) {
            if len > LONG_FN_LINES {
                long.push((len, format!("src/{rel}:{at} {name}: {len} lines")));
            }
        }
    }
    long.sort_by_key(|l| std::cmp::Reverse(l.0));
    let too_long: Vec<&String> = long
        .iter()
        .filter(|(n, _)| *n > MAX_FN_LINES)
        .map(|(_, s)| s)
        .collect();
    let knots = cycles(&src);
    println!("files over {MAX_FILE_LINES} lines: {}", big_files.len());
    for f in &big_files {
        println!("  {f}");
    }
    println!(
        "functions over {LONG_FN_LINES} lines: {} (over {MAX_FN_LINES}: {})",
        long.len(),
        too_long.len()
    );
    for (_, f) in &long {
        println!("  {f}");
    }
    println!("import cycles: {}", knots.len());
    for k in &knots {
        println!("  {k}");
    }
    let mut problems = Vec::new();
    if !big_files.is_empty() {
        problems.push(format!("files over {MAX_FILE_LINES} lines: {big_files:?}"));
    }
    if !too_long.is_empty() {
        problems.push(format!("functions over {MAX_FN_LINES} lines: {too_long:?}"));
    }
    if long.len() > MAX_LONG_FNS {
        problems.push(format!(
            "{} functions over {LONG_FN_LINES} lines (at most {MAX_LONG_FNS})",
            long.len()
        ));
    }
    if !knots.is_empty() {
        problems.push(format!("import cycles: {knots:?}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_counter_sees_through_strings_comments_and_chars() {
    let text = "fn a() {\n    let s = \"}\";\n    let c = '}';\n    // }\n    let r = r#\"{\"#;\n}\nfn b<'x>(v: &'x str) -> &'x str {\n    v\n}\nfn decl();\n";
    let f = functions(text);
    assert_eq!(
        f,
        vec![("a".to_string(), 1, 6), ("b".to_string(), 7, 3)],
        "{}",
        code_only(text)
    );
}
