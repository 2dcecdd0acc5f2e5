//! The layering of docs/ARCHITECTURE.md, enforced: a module may import only
//! from layers to its left (`store` and `runner` are siblings).

mod support;

use std::path::Path;

use support::rust_files;

const LAYERS: [(&str, &[&str]); 9] = [
    ("defs", &["defs"]),
    ("compile", &["defs", "compile"]),
    ("store", &["defs", "compile", "store"]),
    ("runner", &["defs", "compile", "runner"]),
    ("interp", &["defs", "compile", "store", "runner", "interp"]),
    (
        "engine",
        &["defs", "compile", "store", "runner", "interp", "engine"],
    ),
    (
        "control",
        &[
            "defs", "compile", "store", "runner", "interp", "engine", "control",
        ],
    ),
    (
        "cli",
        &[
            "defs", "compile", "store", "runner", "interp", "engine", "control", "cli", "tui",
        ],
    ),
    (
        "tui",
        &[
            "defs", "compile", "store", "runner", "interp", "engine", "control", "tui",
        ],
    ),
];

#[test]
fn modules_import_only_from_layers_to_their_left() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    for (layer, allowed) in LAYERS {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "no sources for layer {layer}");
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for (n, line) in text.lines().enumerate() {
                for (i, _) in line.match_indices("crate::") {
                    let target: String = line[i + 7..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    let is_layer = LAYERS.iter().any(|(l, _)| *l == target);
                    if is_layer && !allowed.contains(&target.as_str()) {
                        violations.push(format!(
                            "{}:{}: {layer} imports {target}",
                            f.display(),
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
}
