//! What the lanes' git parts cost (`cargo bench --bench lanes_git`): a
//! lane's worktree added once and switched to each next task, and landing
//! a task's branch on the target
//! (rebase onto a target another lane just moved, then fast-forward; no
//! check stage) — the merge-queue overhead per task — in repositories of
//! 1,000, 10,000 and 100,000 tracked files. Target: landing under 50 ms at
//! 10k files. Figures go to docs/benchmarks.md.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use millrace::runner::worktree::{self, Integrate, Landing};

fn sh(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=b",
            "-c",
            "user.email=b@b",
            "-c",
            "commit.gpgSign=false",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "git {args:?}");
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

fn main() {
    for (files, rounds) in [(1_000usize, 10), (10_000, 10), (100_000, 4)] {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("ws");
        for i in 0..files {
            let dir = root.join(format!("src/d{}", i / 500));
            if i % 500 == 0 {
                std::fs::create_dir_all(&dir).unwrap();
            }
            std::fs::write(dir.join(format!("f{i}.txt")), format!("line {i}\n")).unwrap();
        }
        sh(&root, &["init", "-q", "-b", "main"]);
        sh(&root, &["add", "-A"]);
        sh(&root, &["commit", "-q", "-m", "initial"]);
        let lanes = d.path().join("lanes");
        let main = worktree::main_repo(&root).unwrap();
        let (mut add, mut reuse, mut land) = (Vec::new(), Vec::new(), Vec::new());
        let mut wts = Vec::new();
        for lane in 0..2 {
            let t = Instant::now();
            let path = lanes.join(format!("lane-{lane}"));
            wts.push(worktree::add(&main, &root, &path, &format!("r0-l{lane}"), "main").unwrap());
            add.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        for round in 0..rounds {
            for (lane, wt) in wts.iter_mut().enumerate() {
                if round > 0 {
                    let t = Instant::now();
                    let next =
                        worktree::reuse(&main, &root, wt, &format!("r{round}-l{lane}"), "main")
                            .unwrap();
                    reuse.push(t.elapsed().as_secs_f64() * 1000.0);
                    worktree::drop_branch(&main, &wt.branch).unwrap();
                    *wt = next;
                }
                std::fs::write(
                    wt.path.join(format!("src/d0/f{lane}.txt")),
                    format!("round {round}\n"),
                )
                .unwrap();
                sh(&wt.path, &["commit", "-q", "-am", "work"]);
            }
            for wt in &wts {
                let t = Instant::now();
                let landed = worktree::land(&main, &root, wt, "main", Integrate::Rebase).unwrap();
                land.push(t.elapsed().as_secs_f64() * 1000.0);
                assert!(matches!(landed, Landing::Landed { .. }), "{landed:?}");
            }
        }
        let t = Instant::now();
        for wt in &wts {
            worktree::remove(&main, wt).unwrap();
        }
        let remove = t.elapsed().as_secs_f64() * 1000.0 / wts.len() as f64;
        println!(
            "{files} tracked files: lane worktree add median {:.1} ms; reuse for the next task median {:.1} ms; land (rebase + fast-forward) median {:.1} ms, max {:.1} ms; remove {:.1} ms ({} landings)",
            median(&mut add),
            median(&mut reuse),
            median(&mut land.clone()),
            land.iter().cloned().fold(0.0, f64::max),
            remove,
            land.len()
        );
    }
}
