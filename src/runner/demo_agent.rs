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
        .map(str::to_string)
        .or_else(|| std::env::var("MILLRACE_ITEM_TITLE").ok())
        .unwrap_or_else(|| "(no task)".into());
    let line = format!(
        "- {} run `{run}`: {node} (attempt {attempt}) on \"{title}\"\n",
        crate::defs::clock::now_iso()
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
    let written = written.and_then(|_| {
        write_artifacts(
            &var("MILLRACE_ARTIFACTS"),
            &node,
            &var("MILLRACE_ITEM_TITLE"),
            &var("MILLRACE_ITEM_ID"),
        )
    });
    if let Err(e) = written {
        println!("I could not write my files: {e}\n### BLOCKED");
        return 0;
    }
    println!("Demo agent: {node} finished for \"{title}\"; see demo/worklog.md.\n\n### {marker}");
    0
}

/// Writes small valid artifacts for a research stage: the ones this stage
/// owes are the outputs named in `MILLRACE_ARTIFACTS` that its inputs do
/// not already hold (inputs exist by the time it runs).
fn write_artifacts(
    artifacts: &str,
    node: &str,
    item_title: &str,
    item_id: &str,
) -> std::io::Result<()> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(artifacts)
    else {
        return Ok(());
    };
    let today = crate::defs::clock::today_str();
    let topic = if item_title.is_empty() {
        "the idea"
    } else {
        item_title
    };
    for (name, path) in map {
        let Some(path) = path.as_str().map(std::path::PathBuf::from) else {
            continue;
        };
        if path.exists() && !name.ends_with("decision") {
            continue;
        }
        let text = if name.ends_with("cards") {
            if node.starts_with("incident") {
                format!("# Remediation\n\n## {today} - Remediate {item_id}\n\nFix what {item_id} found before the frozen work resumes.\n")
            } else if node.starts_with("audit") {
                format!("# Remediation\n\n## {today} - Close the audit gap for {item_id}\n\nDo what the audit found missing.\n")
            } else {
                format!(
                    "# Cards\n\n## {today} - Build {topic}\n\nImplement {topic} as the spec says.\n\n## {today} - Verify {topic}\n\nCheck {topic} against the spec's acceptance criteria.\n"
                )
            }
        } else if name.ends_with("decision") {
            "{\"decision\": \"PASS\", \"reasons\": []}\n".to_string()
        } else {
            format!("# {name}\n\nWritten by the millrace demo agent at {node} for {topic}.\n")
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)?;
    }
    Ok(())
}
