//! Daemon benchmarks (`cargo bench --bench daemon`), release binary:
//! draining 50 standard-loop tasks with a trivial runner, mailbox command
//! latency, and idle CPU and memory. Figures go to docs/benchmarks.md.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{archived, millrace, trivial_runner_workspace, BIN};
use std::time::{Duration, Instant};

fn workspace() -> (tempfile::TempDir, std::path::PathBuf) {
    trivial_runner_workspace()
}

fn daemon(ws: &Path) -> Child {
    Command::new(BIN)
        .arg("--config")
        .arg(ws.join("millrace.toml"))
        .args(["start", "--daemon"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn stop(ws: &Path, mut d: Child) {
    millrace(ws, &["stop"]);
    d.wait().unwrap();
}

fn drain_50() {
    let (_d, ws) = workspace();
    for i in 0..50 {
        millrace(&ws, &["add-task", &format!("Drain task {i}")]);
    }
    let t = Instant::now();
    let d = daemon(&ws);
    while archived(&ws) < 50 {
        assert!(t.elapsed() < Duration::from_secs(120), "drain stalled");
        std::thread::sleep(Duration::from_millis(5));
    }
    let total = t.elapsed();
    stop(&ws, d);
    println!("drain 50 standard-loop tasks (150 stages), daemon start to 50th archived: {:.2} s ({:.1} ms per task)", total.as_secs_f64(), total.as_secs_f64() * 1000.0 / 50.0);
}

fn mailbox_latency_and_idle() {
    let (_d, ws) = workspace();
    let d = daemon(&ws);
    std::thread::sleep(Duration::from_millis(500));
    let processed = ws.join("agents/.runtime/commands/processed");
    let mut xs = Vec::new();
    for i in 0..20 {
        let command = if i % 2 == 0 { "pause" } else { "resume" };
        let id = format!("bench{i:03}__{command}");
        let env = format!("{{\"command_id\":\"{id}\",\"issued_at\":\"t\",\"command\":\"{command}\",\"payload\":{{}},\"issuer\":\"bench\"}}");
        let tmp = ws.join(format!("agents/.runtime/commands/incoming/.{id}.tmp"));
        std::fs::write(&tmp, env).unwrap();
        let t = Instant::now();
        std::fs::rename(
            &tmp,
            ws.join(format!("agents/.runtime/commands/incoming/{id}.json")),
        )
        .unwrap();
        while !processed.join(format!("{id}.json")).exists() {
            assert!(t.elapsed() < Duration::from_secs(10), "command not applied");
            std::thread::sleep(Duration::from_micros(200));
        }
        xs.push(t.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(50));
    }
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("mailbox command written → applied and archived: median {:.1} ms, max {:.1} ms (20 commands, idle daemon)", xs[10], xs[19]);

    // idle CPU and memory over 5 s
    let pid = d.id();
    let cpu = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let f: Vec<u64> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|x| x.parse().unwrap())
            .collect();
        f[0] + f[1]
    };
    let ticks = unsafe { libc_sysconf_clk_tck() };
    let before = cpu();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    let used = (cpu() - before) as f64 / ticks;
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .map(|l| l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap())
        .unwrap();
    println!(
        "idle daemon: CPU {:.2}% over {:.0} s, RSS {:.1} MB",
        used / t.elapsed().as_secs_f64() * 100.0,
        t.elapsed().as_secs_f64(),
        rss as f64 / 1024.0
    );
    stop(&ws, d);
}

unsafe fn libc_sysconf_clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

fn main() {
    drain_50();
    mailbox_latency_and_idle();
}
