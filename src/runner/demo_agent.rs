//! The bundled demo agent (`millrace demo-agent`), run by the `demo` runner
//! through the same adapter path as real agents. It reads its prompt from
//! stdin, appends a line per stage to `demo/worklog.md` in the workspace,
//! and ends with the stage's success marker, so a task goes builder → qa →
//! update → archived on a machine with no agent CLI installed.

use std::io::{Read, Write};

/// Runs the demo agent; returns the process exit code.
pub fn main() -> i32 {
    let mut prompt = String::new();
    let _ = std::io::stdin().read_to_string(&mut prompt);
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let (node, run, attempt) = (
        var("MILLRACE_NODE"),
        var("MILLRACE_RUN_ID"),
        var("MILLRACE_ATTEMPT"),
    );
    let Some(marker) = var("MILLRACE_OUTCOMES")
        .split(',')
        .next()
        .map(str::to_string)
        .filter(|m| !m.is_empty())
    else {
        eprintln!("demo-agent: MILLRACE_OUTCOMES is not set; run me through `millrace start`");
        return 2;
    };
    let workspace = std::path::PathBuf::from(var("MILLRACE_WORKSPACE"));
    let dir = workspace.join("demo");
    let title = prompt
        .lines()
        .find_map(|l| l.strip_prefix("## Active task: "))
        .unwrap_or("(no task)")
        .to_string();
    let line = format!(
        "- {} run `{run}`: {node} (attempt {attempt}) on \"{title}\"\n",
        jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
    );
    let written = std::fs::create_dir_all(&dir).and_then(|_| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("worklog.md"))?;
        f.write_all(line.as_bytes())
    });
    let written = written.and_then(|_| {
        if node == "builder" {
            std::fs::write(
                dir.join("hello.txt"),
                format!("Hello from the millrace demo agent (run {run}).\n"),
            )
        } else {
            Ok(())
        }
    });
    if let Err(e) = written {
        println!("I could not write the work log: {e}\n### BLOCKED");
        return 0;
    }
    println!("Demo agent: {node} finished for \"{title}\"; see demo/worklog.md.\n\n### {marker}");
    0
}
