//! The guides every workspace carries (`OPERATOR_GUIDE.md`, `ADVISOR.md`,
//! `agents/status_contract.md`, `agents/staging_manifest.yml`,
//! `docs/millrace/*.md`) are rendered from the binary's own definitions.
//! `docs/workspace/` holds the checked-in copy: it must be what this build
//! renders (refresh with `cargo run -- guides export docs/workspace`).
//! `init` writes them; `init --force` adds missing ones and keeps edited
//! ones, naming them.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use support::OutputWithin;

fn files(root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.insert(e.path().strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out
}

fn export(dir: &Path) {
    let out = support::bin()
        .args(["guides", "export"])
        .arg(dir)
        .output_within();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn checked_in_guides_are_current() {
    let tmp = tempfile::tempdir().unwrap();
    export(tmp.path());
    let checked_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/workspace");
    let fresh = files(tmp.path());
    assert_eq!(
        files(&checked_in),
        fresh,
        "docs/workspace/ holds other files than `guides export` writes; run `cargo run -- guides export docs/workspace`"
    );
    for rel in &fresh {
        let want = std::fs::read_to_string(tmp.path().join(rel)).unwrap();
        let have = std::fs::read_to_string(checked_in.join(rel)).unwrap();
        assert!(
            want == have,
            "docs/workspace/{} is out of date; run `cargo run -- guides export docs/workspace`",
            rel.display()
        );
    }
    // Rendered from definitions, not copied: they name what the binary has.
    let commands = std::fs::read_to_string(tmp.path().join("docs/millrace/commands.md")).unwrap();
    assert!(
        commands.contains("## `millrace queue reorder`"),
        "{commands}"
    );
    let events = std::fs::read_to_string(tmp.path().join("docs/millrace/events.md")).unwrap();
    assert!(
        events.contains("| `control.command.received` |"),
        "{events}"
    );
    let advisor = std::fs::read_to_string(tmp.path().join("ADVISOR.md")).unwrap();
    assert!(
        advisor.contains("| `tamper` |"),
        "every fault class: {advisor}"
    );
}

#[test]
fn init_writes_the_guides_and_force_keeps_the_edited_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("w");
    let out = support::bin().arg("init").arg(&ws).output_within();
    assert!(out.status.success());
    let reference = tmp.path().join("ref");
    export(&reference);
    for rel in files(&reference) {
        assert_eq!(
            std::fs::read(ws.join(&rel)).unwrap(),
            std::fs::read(reference.join(&rel)).unwrap(),
            "{}",
            rel.display()
        );
    }
    std::fs::write(ws.join("ADVISOR.md"), "my own advisor\n").unwrap();
    std::fs::remove_file(ws.join("OPERATOR_GUIDE.md")).unwrap();
    let out = support::bin()
        .args(["init", "--force", "--json"])
        .arg(&ws)
        .output_within();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["payload"]["guides_written"],
        serde_json::json!(["OPERATOR_GUIDE.md"])
    );
    assert_eq!(
        report["payload"]["guides_kept"],
        serde_json::json!(["ADVISOR.md"])
    );
    assert_eq!(
        std::fs::read_to_string(ws.join("ADVISOR.md")).unwrap(),
        "my own advisor\n"
    );
    assert!(ws.join("OPERATOR_GUIDE.md").is_file());
    let text = support::bin()
        .args(["init", "--force"])
        .arg(&ws)
        .output_within();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("guides_kept: ['ADVISOR.md']"), "{text}");
}
