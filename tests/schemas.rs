//! The checked-in schemas under `schemas/` must match the Rust types, and
//! every packaged YAML file must point editors at its schema.

use std::path::Path;

#[test]
fn checked_in_schemas_match_the_types() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    for (name, text) in millrace::control::schema::all() {
        let on_disk = std::fs::read_to_string(root.join(name)).unwrap_or_default();
        assert!(
            on_disk == text,
            "schemas/{name} is out of date with the Rust types; run `cargo run -- schema export schemas`"
        );
    }
}

#[test]
fn packaged_yaml_files_declare_their_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for (dir, schema) in [
        ("assets/stages", "stage-kind.schema.json"),
        ("loops/execution", "loop.schema.json"),
        ("loops/research", "loop.schema.json"),
        ("modes", "mode.schema.json"),
    ] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let first = text.lines().next().unwrap_or_default();
            let target = first
                .strip_prefix("# yaml-language-server: $schema=")
                .unwrap_or_else(|| {
                    panic!(
                        "{} lacks a yaml-language-server schema line",
                        path.display()
                    )
                });
            assert!(
                target.ends_with(schema),
                "{}: points at {target}",
                path.display()
            );
            assert!(
                path.parent().unwrap().join(target).exists(),
                "{}: {target} does not exist",
                path.display()
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 24 + 8 + 9);
}
