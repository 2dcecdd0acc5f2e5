//! Shared harness for integration tests: a temp workspace, fake agent CLIs
//! on PATH, and a runner for the real `millrace` binary.

#![allow(dead_code)]

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The longest any one command of a test may take; past it the command is
/// killed and the test fails instead of hanging.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// The date every test runs on: [`bin`] pins the binary's clock to noon UTC
/// of this day (`MILLRACE_NOW`), so card ids and usage days are known
/// whatever the machine's date and time zone. A test that names a date
/// names this one.
pub const TODAY: &str = "2026-11-24";

/// `MILLRACE_NOW` for every process this test binary starts: noon of
/// [`TODAY`], anchored to the real clock when the test binary started, so
/// the clock advances and never goes back between processes.
pub fn pinned_now() -> String {
    static ANCHOR: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    #[allow(clippy::disallowed_methods)]
    let anchor = *ANCHOR.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    });
    format!("{TODAY}T12:00:00Z@{anchor:.6}")
}

/// The `millrace` binary under test, its clock pinned to [`TODAY`].
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_millrace"));
    cmd.env("MILLRACE_NOW", pinned_now());
    isolate_git(&mut cmd);
    cmd
}

/// Keeps git (run by the binary or a test) from reading the user's or the
/// machine's git configuration: a test sees the same git everywhere.
pub fn isolate_git(cmd: &mut Command) -> &mut Command {
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "millrace-test")
        .env("GIT_AUTHOR_EMAIL", "test@millrace.invalid")
        .env("GIT_COMMITTER_NAME", "millrace-test")
        .env("GIT_COMMITTER_EMAIL", "test@millrace.invalid")
}

/// Whether to skip a test for a missing external tool, saying so. A tool
/// named in `MILLRACE_REQUIRE_TOOLS` (space-separated; `.ci/run` names
/// those it installed) must be there: its absence fails the test, so a
/// tool that went missing is never a silent pass.
#[track_caller]
pub fn skip_without(tool: &str, why: &str) -> bool {
    let present = Command::new(tool)
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if present {
        return false;
    }
    let required = std::env::var("MILLRACE_REQUIRE_TOOLS").unwrap_or_default();
    if required.split_whitespace().any(|t| t == tool) {
        panic!("{tool} is required here (MILLRACE_REQUIRE_TOOLS) but is not installed: {why}");
    }
    eprintln!("SKIPPED: {tool} is not installed: {why}");
    true
}

/// Waits for `child` at most [`TIMEOUT`]; kills it and fails past that.
#[track_caller]
pub fn wait_within(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pid {} did not exit within {TIMEOUT:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `wait_with_output` bounded by [`TIMEOUT`].
#[track_caller]
pub fn output_of(mut child: Child) -> Output {
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let status = wait_within(&mut child);
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// `Command::output` bounded by [`TIMEOUT`] (stdout and stderr piped).
pub trait OutputWithin {
    fn output_within(&mut self) -> Output;
}

impl OutputWithin for Command {
    #[track_caller]
    fn output_within(&mut self) -> Output {
        let child = self
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        output_of(child)
    }
}

/// Picks this node's directive for the current attempt from
/// `fake/<node>` (one line per attempt, the last line repeats), defaulting
/// to the stage's success marker, then acts on it. Sets `m` to the marker
/// to print (empty: none).
const BEHAVE: &str = r#"
W="$MILLRACE_WORKSPACE"; mkdir -p "$W/fake"
env | grep '^MILLRACE_' | cut -d= -f1 | sort > "$W/fake/$MILLRACE_NODE.env"
f="$W/fake/$MILLRACE_NODE"; m="${MILLRACE_OUTCOMES%%,*}"
if [ -f "$f" ]; then
  n=$(grep -c '' "$f"); a=$MILLRACE_ATTEMPT; [ "$a" -gt "$n" ] && a=$n
  m=$(sed -n "${a}p" "$f")
fi
echo "$MILLRACE_NODE#$MILLRACE_ATTEMPT $m" >> "$W/fake/trace.log"
case "$m" in
  SLEEP) sleep 60 & echo $! > "$W/fake/$MILLRACE_NODE.child.pid"; echo $$ > "$W/fake/$MILLRACE_NODE.pid"; wait; exit 0;;
  WAITGO) echo $$ > "$W/fake/$MILLRACE_NODE.pid"; touch "$W/fake/$MILLRACE_NODE.started"
          while [ ! -f "$W/fake/go" ]; do sleep 0.05; done; m="${MILLRACE_OUTCOMES%%,*}";;
  GRANDCHILD) (trap '' TERM; exec sleep 60) & echo $! > "$W/fake/grandchild.pid"
              echo $$ > "$W/fake/$MILLRACE_NODE.pid"; touch "$W/fake/$MILLRACE_NODE.started"
              sleep 60 & wait; exit 0;;
  TERM143) # Like Claude Code: one model call's usage streamed, a tool call
           # in its own session (setsid), and exit 143 on SIGTERM.
           [ "$(basename "$0")" = "claude" ] && printf '{"type":"assistant","message":{"id":"m1","content":[],"usage":{"input_tokens":7,"output_tokens":2}}}\n'
           setsid sh -c "echo \$\$ > '$W/fake/$MILLRACE_NODE.escapee.pid'; exec sleep 60" < /dev/null > /dev/null 2>&1 &
           trap 'exit 143' TERM
           sleep 60 & echo $! > "$W/fake/$MILLRACE_NODE.child.pid"; echo $$ > "$W/fake/$MILLRACE_NODE.pid"; wait; exit 0;;
  TAMPER\ *) # Edits a runtime file, then claims success.
           echo "x-changed-by-the-agent = 1" >> "$W/${m#TAMPER }"; m="${MILLRACE_OUTCOMES%%,*}";;
  COMMIT\ *) # Writes a file and commits it itself, then claims success.
           echo "by the agent" > "$W/${m#COMMIT }"
           git -C "$W" add -- "${m#COMMIT }" && git -C "$W" commit -q -m "agent: ${m#COMMIT }"
           m="${MILLRACE_OUTCOMES%%,*}";;
  NONE) m="";;
  EXIT3) echo "agent failed" >&2; exit 3;;
  BOGUS) m="BOGUS_MARKER";;
  NOART) m="${MILLRACE_OUTCOMES%%,*}";;
esac
# Research artifacts: `fake/link.<name>` makes the artifact a symlink to
# the path it holds; else `fake/art.<node>.<name>` or `fake/art.<name>` is
# copied to the artifact's path; an artifact with neither that does not
# exist yet gets a line of markdown. NOART writes none.
if [ "$(sed -n "${a:-1}p" "$f" 2>/dev/null)" != "NOART" ]; then
  for v in $(env | grep '^MILLRACE_ARTIFACT_' | cut -d= -f1); do
    n=$(echo "${v#MILLRACE_ARTIFACT_}" | tr 'A-Z' 'a-z'); p=$(printenv "$v")
    src="$W/fake/art.$MILLRACE_NODE.$n"; [ -f "$src" ] || src="$W/fake/art.$n"
    mkdir -p "$(dirname "$p")"
    if [ -f "$W/fake/link.$n" ]; then ln -sfn "$(cat "$W/fake/link.$n")" "$p"
    elif [ -f "$src" ]; then cp "$src" "$p"; elif [ ! -f "$p" ]; then echo "artifact $n by $MILLRACE_NODE" > "$p"; fi
  done
fi
if [ -n "$m" ]; then text="work done\\n### $m"; else text="work done, no marker"; fi
"#;

pub const FAKE_CODEX: &str = r#"#!/usr/bin/env bash
set -u
if [ "${1:-}" = "--version" ]; then echo "codex-cli 0.169.0 (fake)"; exit 0; fi
if [ "${1:-} ${2:-}" = "login status" ]; then
  # Like the real one: a key in the environment logs it in.
  if [ -f "$PWD/fake/logged_out" ] && [ -z "${OPENAI_API_KEY:-}" ]; then echo "Not logged in"; exit 1; fi
  echo "Logged in using an API key"; exit 0
fi
echo "codex $*" >> "$MILLRACE_WORKSPACE/fake-calls.log"
[ "${1:-}" = "exec" ] || { echo "usage: codex exec" >&2; exit 2; }
for a in "$@"; do [ "$a" = "--full-auto" ] && { echo "error: unexpected argument '--full-auto' found" >&2; exit 2; }; done
out=""; prev=""; for a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; done
[ -n "$out" ] || { echo "missing -o" >&2; exit 2; }
prompt=$(cat)   # hangs if stdin is left open, like the real CLI
BEHAVE
echo '{"type":"thread.started","thread_id":"th-1"}'
echo '{"type":"turn.started"}'
# Failure shapes of the real CLI (runner-clis.md).
case "$m" in
  AUTH) echo '{"type":"error","message":"Reconnecting... 1/5 (unexpected status 401 Unauthorized)"}'
        echo '{"type":"turn.failed","error":{"message":"unexpected status 401 Unauthorized: Missing bearer or basic authentication in header"}}'; exit 1;;
  DOWN) echo '{"type":"turn.failed","error":{"message":"unexpected status 500 Internal Server Error"}}'; exit 1;;
  LIMIT) echo '{"type":"turn.failed","error":{"message":"unexpected status 429 Too Many Requests"}}'; exit 1;;
  HANG) echo '{"type":"error","message":"Reconnecting... 2/5 (stream disconnected before completion)"}'; sleep 60 & wait; exit 0;;
esac
printf '{"type":"item.completed","item":{"id":"i1","type":"agent_message","text":"%s"}}\n' "$text"
echo '{"type":"turn.completed","usage":{"input_tokens":100,"cached_input_tokens":20,"output_tokens":10}}'
printf "$text" > "$out"
"#;

pub const FAKE_CLAUDE: &str = r#"#!/usr/bin/env bash
set -u
if [ "${1:-}" = "--version" ]; then echo "2.1.197 (Claude Code, fake)"; exit 0; fi
if [ "${1:-} ${2:-}" = "auth status" ]; then
  if [ -f "$PWD/fake/logged_out" ]; then echo '{"loggedIn":false}'; exit 1; fi
  echo '{"loggedIn":true,"authMethod":"api_key"}'; exit 0
fi
echo "claude $*" >> "$MILLRACE_WORKSPACE/fake-calls.log"
case " $* " in *" --output-format stream-json "*) case " $* " in *" --verbose "*) ;; *) echo "stream-json requires --verbose" >&2; exit 1;; esac;; esac
case " $* " in *" -p "*) ;; *) echo "interactive mode not supported in tests" >&2; exit 1;; esac
prompt=$(cat)
BEHAVE
echo '{"type":"system","subtype":"init","session_id":"s-1","model":"fake"}'
case "$m" in
  AUTH) echo '{"type":"assistant","message":{"content":[{"type":"text","text":"Invalid API key · Please run /login"}]},"error":"authentication_failed"}'
        echo '{"type":"result","subtype":"success","is_error":true,"api_error_status":401,"result":"Invalid API key · Please run /login","session_id":"s-1"}'; exit 1;;
  DOWN) echo '{"type":"result","subtype":"success","is_error":true,"api_error_status":500,"result":"API Error: 500 Internal Server Error","session_id":"s-1"}'; exit 1;;
  DENIED) text="work done\\n### ${MILLRACE_OUTCOMES%%,*}"
          printf '{"type":"result","subtype":"success","is_error":false,"result":"%s","session_id":"s-1","permission_denials":[{"tool_name":"Bash","tool_use_id":"t1","tool_input":{"command":"npm test"}}],"usage":{"input_tokens":1,"output_tokens":1}}\n' "$text"; exit 0;;
  ROOT) echo "--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons" >&2; exit 1;;
esac
cost=$(cat "$W/fake/cost" 2>/dev/null || echo 0.5)
printf '{"type":"result","subtype":"success","is_error":false,"result":"%s","session_id":"s-1","total_cost_usd":%s,"usage":{"input_tokens":10,"cache_read_input_tokens":5,"cache_creation_input_tokens":1,"output_tokens":3}}\n' "$text" "$cost"
"#;

pub const FAKE_PI: &str = r#"#!/usr/bin/env bash
set -u
if [ "${1:-}" = "--version" ]; then echo "0.73.1" >&2; exit 0; fi
echo "pi $*" >> "$MILLRACE_WORKSPACE/fake-calls.log"
case " $* " in *" --mode rpc "*) ;; *) echo "expected --mode rpc" >&2; exit 1;; esac
BEHAVE
while IFS= read -r line; do
  case "$line" in
    *'"set_auto_retry"'*) echo '{"type":"response","id":"retry","command":"set_auto_retry","success":true}';;
    *'"type":"prompt"'*)
      echo '{"type":"response","id":"p1","command":"prompt","success":true}'
      echo '{"type":"agent_start"}'
      echo '{"type":"message_update","bulky":true}'
      echo '{"type":"agent_end","messages":[{"role":"assistant","stopReason":"stop"}]}';;
    *'"get_last_assistant_text"'*) printf '{"type":"response","id":"t1","command":"get_last_assistant_text","success":true,"data":{"text":"%s"}}\n' "$text";;
    *'"get_session_stats"'*) echo '{"type":"response","id":"s1","command":"get_session_stats","success":true,"data":{"sessionId":"pi-session-1","tokens":{"input":5,"output":2,"cacheRead":1,"cacheWrite":0,"total":8},"cost":0.01}}';;
  esac
done
"#;

/// Copies the directory tree `from` into `to` (which exists).
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// A workspace made by `millrace init`, with fake agents on PATH.
pub struct Ws {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub bin: PathBuf,
}

impl Ws {
    pub fn new() -> Ws {
        Ws::with_init(&[])
    }

    pub fn with_init(extra: &[&str]) -> Ws {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("w");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let out = self::bin()
            .arg("init")
            .arg(&root)
            .args(extra)
            .output_within();
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ws = Ws { dir, root, bin };
        ws.install("codex", FAKE_CODEX);
        ws.install("claude", FAKE_CLAUDE);
        ws.install("pi", FAKE_PI);
        ws
    }

    /// Writes an executable named `name` into the PATH dir.
    pub fn install(&self, name: &str, script: &str) {
        let p = self.bin.join(name);
        std::fs::write(&p, script.replace("BEHAVE", BEHAVE)).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    pub fn uninstall(&self, name: &str) {
        let _ = std::fs::remove_file(self.bin.join(name));
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    /// Scripts node `node`: one directive or marker per attempt.
    pub fn script(&self, node: &str, lines: &[&str]) {
        self.write(&format!("fake/{node}"), &(lines.join("\n") + "\n"));
    }

    /// Sets `[engine] stop_grace_seconds`.
    pub fn set_stop_grace(&self, seconds: u64) {
        let cfg = self.read("millrace.toml").replace(
            "inter_task_delay_seconds = 0",
            &format!("inter_task_delay_seconds = 0\nstop_grace_seconds = {seconds}"),
        );
        self.write("millrace.toml", &cfg);
    }

    pub fn append_config(&self, text: &str) {
        let mut c = self.read("millrace.toml");
        c.push('\n');
        c.push_str(text);
        self.write("millrace.toml", &c);
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("millrace.toml")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = bin();
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.arg("--config")
            .arg(self.path("millrace.toml"))
            .args(args)
            .current_dir(&self.root)
            .env("PATH", path);
        cmd
    }

    /// Runs `args` with failpoint `point` set to abort (as `kill -9` would
    /// at that write); true when the process was killed there.
    pub fn killed_at(&self, args: &[&str], point: &str) -> bool {
        let child = self
            .command(args)
            .env("MILLRACE_FAILPOINTS", format!("{point}=abort"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        !output_of(child).status.success()
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output_within();
        Run::new(out, args).in_workspace(&self.root)
    }

    /// Titles of the backlog, in order (`queue inspect --json`).
    pub fn backlog_titles(&self) -> Vec<String> {
        self.run(&["queue", "inspect", "--json"]).code(0).json()["backlog"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn add(&self, title: &str) {
        self.run(&["add-task", title]).code(0);
    }

    pub fn add_with_body(&self, title: &str, body: &str) {
        self.run(&["add-task", title, "--body", body]).code(0);
    }

    /// Node visits (`node#attempt directive`) recorded by the fakes.
    pub fn trace(&self) -> Vec<String> {
        self.read("fake/trace.log")
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn nodes_visited(&self) -> Vec<String> {
        self.trace()
            .iter()
            .map(|l| l.split('#').next().unwrap().to_string())
            .collect()
    }

    pub fn events(&self) -> Vec<serde_json::Value> {
        self.read("agents/engine_events.log")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn event_types(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn cards_in(&self, store: &str) -> usize {
        self.read(&format!("agents/{store}"))
            .lines()
            .filter(|l| l.starts_with("## 20"))
            .count()
    }
}

pub struct Run {
    pub out: Output,
    pub stdout: String,
    pub stderr: String,
    what: String,
}

impl Run {
    pub fn new(out: Output, args: &[&str]) -> Run {
        Run {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            what: format!("millrace {}", args.join(" ")),
            out,
        }
    }

    /// Replaces the workspace path with `[WS]` in both streams, so that
    /// output can be snapshot.
    pub fn in_workspace(mut self, root: &Path) -> Run {
        let root = root.display().to_string();
        self.stdout = self.stdout.replace(&root, "[WS]");
        self.stderr = self.stderr.replace(&root, "[WS]");
        self
    }

    #[track_caller]
    pub fn code(self, expected: i32) -> Run {
        assert_eq!(
            self.out.status.code(),
            Some(expected),
            "{}\n--- stdout\n{}\n--- stderr\n{}",
            self.what,
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// Whether `pid` is a running (not zombie) process.
pub fn running(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty()
        && !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
}

pub fn wait_for(path: &Path, secs: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {}",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Every `.rs` file under `dir`, recursively.
pub fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}
