//! The stage guard's cost per stage (`cargo bench --bench guard`): one
//! snapshot before the stage and one comparison after it, in-process, over
//! an initialised workspace with 10, 100 and 1,000 overlay files under
//! `agents/registry/`. Target: under 1 ms per stage at 100 overlay files.
//! Figures go to docs/benchmarks.md.

mod common;

use std::time::Instant;

use millrace::store::guard::GuardSet;

fn main() {
    for overlays in [10usize, 100, 1000] {
        let (_d, ws) = common::init();
        let dir = ws.join("agents/registry/stages");
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..overlays {
            std::fs::write(dir.join(format!("s{i}.yaml")), format!("id: s{i}\n")).unwrap();
        }
        let g = GuardSet {
            config_path: ws.join("millrace.toml"),
            root: ws.clone(),
            agents: ws.join("agents"),
        };
        let mut xs = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            let before = g.snapshot();
            let changes = g.changes(&before, &[]);
            xs.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(changes.is_empty());
        }
        xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "guard snapshot + check, {overlays} overlay files: median {:.3} ms, p95 {:.3} ms ({} runs)",
            xs[xs.len() / 2],
            xs[xs.len() * 95 / 100],
            xs.len()
        );
    }
}
