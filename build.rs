//! Embeds the packaged defaults (`assets/`, `loops/`, `modes/`) in the binary.
//!
//! Generates `$OUT_DIR/packaged.rs` holding `PACKAGED: &[(&str, &str)]`, one
//! `(relative path, contents)` pair per file, sorted by path, so a compiled
//! plan never depends on files next to the executable.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let mut files = Vec::new();
    for dir in ["assets", "loops", "modes"] {
        println!("cargo:rerun-if-changed={dir}");
        collect(&root, &root.join(dir), &mut files);
    }
    files.sort();
    let mut out = String::from("/// Packaged defaults: (path relative to the crate root, contents).\npub static PACKAGED: &[(&str, &str)] = &[\n");
    for rel in &files {
        let abs = root.join(rel);
        writeln!(
            out,
            "    ({rel:?}, include_str!({:?})),",
            abs.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("packaged.rs");
    std::fs::write(dest, out).unwrap();
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_dir() {
            collect(root, &path, files);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "md" | "toml")
        ) {
            let rel = path.strip_prefix(root).unwrap();
            files.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}
