//! What per-task commits cost (`cargo bench --bench git_work`): the base
//! commit read at run start and the seal when the task is archived (status,
//! add, unstage `agents/`, commit with trailers, the commit range), in a
//! real git repository of 1,000, 10,000 and 100,000 tracked files where the
//! task changed one. Figures go to docs/benchmarks.md.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use millrace::interp::git_work::{self, Task};
use millrace::interp::Runtime;

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@millrace.invalid")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@millrace.invalid")
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "git {args:?}");
}

fn main() {
    std::env::set_var("GIT_CONFIG_GLOBAL", "/dev/null");
    std::env::set_var("GIT_CONFIG_NOSYSTEM", "1");
    for files in [1_000usize, 10_000, 100_000] {
        let (_d, ws) = common::init();
        std::fs::write(ws.join(".gitignore"), "agents/\n").unwrap();
        for i in 0..files {
            let dir = ws.join(format!("src/d{}", i / 500));
            if i % 500 == 0 {
                std::fs::create_dir_all(&dir).unwrap();
            }
            std::fs::write(dir.join(format!("f{i}.txt")), format!("line {i}\n")).unwrap();
        }
        git(&ws, &["init", "-q", "-b", "main"]);
        git(&ws, &["add", "-A"]);
        git(&ws, &["commit", "-q", "-m", "initial"]);
        let text = std::fs::read_to_string(ws.join("millrace.toml")).unwrap();
        let config = millrace::defs::config::Config::parse("millrace.toml", &text).unwrap();
        let rt = Runtime::new(ws.clone(), ws.join("agents"), config);
        let (mut base_ms, mut seal_ms) = (Vec::new(), Vec::new());
        for round in 0..15 {
            let t = Instant::now();
            let mut g = git_work::base(&rt).expect("a repository");
            base_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            std::fs::write(ws.join("src/d0/f0.txt"), format!("changed {round}\n")).unwrap();
            let run_id = format!("run-{round}");
            let task = Task {
                id: "t",
                title: "Change one file",
                run_id: &run_id,
            };
            let t = Instant::now();
            git_work::seal(&rt, &mut g, &task);
            seal_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(g.error.is_none(), "{:?}", g.error);
            assert_eq!(g.commits.len(), 1);
        }
        for xs in [&mut base_ms, &mut seal_ms] {
            xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
        }
        println!(
            "{files} tracked files: base median {:.1} ms; seal (1 changed file) median {:.1} ms, max {:.1} ms ({} runs)",
            base_ms[base_ms.len() / 2],
            seal_ms[seal_ms.len() / 2],
            seal_ms[seal_ms.len() - 1],
            seal_ms.len()
        );
    }
}
