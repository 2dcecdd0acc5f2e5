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
    // Identifies the compiler's code: a plan persisted by a binary with a
    // different compiler must not be reused (see compile::fingerprint).
    let mut sources = Vec::new();
    for dir in ["src/defs", "src/compile"] {
        println!("cargo:rerun-if-changed={dir}");
        collect_rs(&root, &root.join(dir), &mut sources);
    }
    sources.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for rel in &sources {
        for b in rel.bytes().chain(std::fs::read(root.join(rel)).unwrap()) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    writeln!(out, "/// Hash of the compiler's sources (FNV-1a), part of every plan fingerprint.\npub const COMPILER_BUILD: &str = \"{hash:016x}\";").unwrap();
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("packaged.rs");
    std::fs::write(dest, out).unwrap();
}

fn collect_rs(root: &Path, dir: &Path, files: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(root, &path, files);
        } else if path.extension().and_then(|e| e.to_str()) == Some("rs") {
            files.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/"),
            );
        }
    }
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
