//! Child processes for stages: each in its own process group, with a
//! wall-clock timeout that terminates then kills the whole group, and no
//! zombies left behind.
//!
//! A stage's processes also carry a tag in their environment
//! ([`TAG_ENV`]): an agent's tool that moved to its own session (`setsid`,
//! as Claude Code 2.1.197's Bash tool does) has left the process group, and
//! is found by the tag and killed when the stage ends.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static SUBREAPER: AtomicBool = AtomicBool::new(false);

/// A handle on the process group of the stage a run is executing (none
/// between stages). The interpreter hands a clone to each stage it starts;
/// the daemon keeps one to end a stage that outlives its stop grace.
///
/// A recording group also writes the group id to a file while a stage runs,
/// so that the next owner of the workspace can end a stage whose runtime
/// was killed (`kill -9` cannot be caught).
#[derive(Debug, Clone, Default)]
pub struct StageGroup {
    pid: Arc<AtomicU32>,
    tag: Arc<Mutex<Option<String>>>,
    record: Option<Arc<std::path::PathBuf>>,
}

/// The environment variable that tags every process of one stage.
pub const TAG_ENV: &str = "MILLRACE_STAGE_TAG";

/// A tag no other stage of any runtime on this machine carries.
fn new_tag() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst),
        crate::defs::clock::now_stamp()
    )
}

impl StageGroup {
    /// A group that records its id in `file` while a stage runs.
    pub fn recording(file: std::path::PathBuf) -> StageGroup {
        StageGroup {
            pid: Arc::default(),
            tag: Arc::default(),
            record: Some(Arc::new(file)),
        }
    }

    /// Registers the stage's group leader `pid` and its tag (0: no stage).
    fn set(&self, pid: u32, tag: Option<String>) {
        let tag = if pid == 0 {
            None
        } else {
            tag.or_else(|| self.tag())
        };
        *self.tag.lock().unwrap_or_else(|e| e.into_inner()) = tag.clone();
        self.pid.store(pid, Ordering::SeqCst);
        if let Some(file) = &self.record {
            let _ = if pid == 0 {
                std::fs::remove_file(file.as_path())
            } else {
                std::fs::write(
                    file.as_path(),
                    format!(
                        "{pid} {} {}\n",
                        start_time(pid).unwrap_or(0),
                        tag.unwrap_or_default()
                    ),
                )
            };
        }
    }

    fn tag(&self) -> Option<String> {
        self.tag.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The running stage's process group id, if a stage runs.
    pub fn current(&self) -> Option<u32> {
        Some(self.pid.load(Ordering::SeqCst)).filter(|p| *p != 0)
    }

    /// Kills the group at once (a second Ctrl-C).
    pub fn kill(&self) {
        if let Some(pid) = self.current() {
            signal_group(pid, libc::SIGKILL);
        }
    }

    /// Terminates the running stage's process group: SIGTERM, then SIGKILL
    /// after `grace` if it is still there. Returns whether a stage was
    /// running.
    pub fn terminate(&self, grace: Duration) -> bool {
        let Some(pid) = self.current() else {
            return false;
        };
        signal_group(pid, libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while self.current() == Some(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if self.current() == Some(pid) {
            signal_group(pid, libc::SIGKILL);
        }
        true
    }
}

/// Ends what is left of a stage group recorded in `file` by a runtime that
/// died (its owner's lock is ours now). Returns the group id it killed.
pub fn sweep_recorded_group(file: &std::path::Path) -> Option<u32> {
    let text = std::fs::read_to_string(file).ok()?;
    let _ = std::fs::remove_file(file);
    let mut words = text.split_whitespace();
    let pgid: i32 = words.next()?.parse().ok().filter(|p| *p > 1)?;
    let recorded_start: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    if let Some(tag) = words.next() {
        kill_tagged(tag);
    }
    // A live leader must be the one recorded (pids are reused); with the
    // leader gone, a live group is still ours, since a pid is not reused
    // while a process group of that id exists.
    if start_time(pgid as u32).is_some_and(|t| t != recorded_start) {
        return None;
    }
    // SAFETY: kill with signal 0 only checks that the group exists.
    let alive = unsafe { libc::kill(-pgid, 0) } == 0;
    if alive {
        signal_group(pgid as u32, libc::SIGKILL);
        reap_orphans();
    }
    alive.then_some(pgid as u32)
}

/// Start time of process `pid` in clock ticks since boot (`/proc/<pid>/stat`
/// field 22), to tell a process from a later one with the same pid.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// Makes this process the reaper of its orphaned descendants (Linux), so
/// that processes an agent left behind are reaped here even when PID 1 does
/// not reap (as in some containers). Call once per runtime process.
pub fn become_subreaper() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl with PR_SET_CHILD_SUBREAPER only sets a flag.
        let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        SUBREAPER.store(rc == 0, Ordering::SeqCst);
    }
}

/// Reaps orphans that were re-parented to us, waiting briefly for ones that
/// are still dying. Only after [`become_subreaper`]: otherwise another
/// thread's child could be reaped from under its `Child` handle.
fn reap_orphans() {
    if !SUBREAPER.load(Ordering::SeqCst) {
        return;
    }
    let deadline = Instant::now() + Duration::from_millis(200);
    loop {
        let mut status = 0;
        // SAFETY: waitpid on any child with WNOHANG never blocks.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        match pid {
            p if p > 0 => continue,
            0 if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
            _ => return, // no children left (ECHILD), or give up
        }
    }
}

/// Time between SIGTERM and SIGKILL on timeout.
pub const GRACE: Duration = Duration::from_secs(5);

/// How a child ended.
#[derive(Debug, Clone, Default)]
pub struct Exit {
    /// Exit code; 124 after a timeout, 127 when it could not start.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// Ended because it wrote nothing for the stall limit.
    pub stalled: bool,
    pub duration: Duration,
    pub spawn_error: Option<String>,
}

/// A stall limit: the child is ended when none of `files` grew for `after`.
#[derive(Debug, Clone, Copy)]
pub struct Stall<'a> {
    pub after: Duration,
    pub files: &'a [&'a std::path::Path],
}

impl Stall<'_> {
    fn size(&self) -> u64 {
        self.files
            .iter()
            .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
            .sum()
    }
}

impl Exit {
    /// Whether the process ended on a signal: killed by one, or exiting
    /// with the shell's 128+N for SIGINT, SIGKILL or SIGTERM, as CLIs that
    /// handle the signal do (Claude Code exits 143 on SIGTERM). A timeout's
    /// 124 is not one.
    pub fn ended_by_signal(&self) -> bool {
        self.signal.is_some() || matches!(self.code, Some(130 | 137 | 143))
    }

    pub fn spawn_failed(err: &std::io::Error) -> Exit {
        Exit {
            code: Some(127),
            spawn_error: Some(err.to_string()),
            ..Exit::default()
        }
    }
}

/// Starts `cmd` as the leader of a new process group, tagged, and
/// registers the group with `group` at once, so a stop reaches it from its
/// first instant (a Pi stage talks to us for its whole life before
/// [`wait`]).
pub fn spawn_in_group(cmd: &mut Command, group: &StageGroup) -> std::io::Result<Child> {
    let tag = new_tag();
    let child = cmd.env(TAG_ENV, &tag).process_group(0).spawn()?;
    group.set(child.id(), Some(tag));
    Ok(child)
}

/// SIGKILLs every process (but this one) whose environment carries `tag`,
/// in rounds until none is left (a forking process may add one between a
/// scan and its kill); returns how many it killed.
pub fn kill_tagged(tag: &str) -> usize {
    let needle = format!("{TAG_ENV}={tag}\0");
    let me = std::process::id();
    let mut killed = 0;
    for _ in 0..5 {
        let found: Vec<i32> = tagged(needle.as_bytes(), me);
        if found.is_empty() {
            break;
        }
        for pid in &found {
            // SAFETY: kill only sends a signal; a pid that just exited gives
            // ESRCH, which is ignored.
            unsafe {
                libc::kill(*pid, libc::SIGKILL);
            }
        }
        killed += found.len();
        reap_orphans();
    }
    killed
}

/// Live (not zombie) processes whose environment holds `needle`.
fn tagged(needle: &[u8], me: u32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid as u32 != me && *pid > 1)
        .filter(|pid| {
            let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| Some(s.rsplit_once(')')?.1.trim_start().starts_with('Z')))
                .unwrap_or(true);
            !zombie
                && std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle))
        })
        .collect()
}

/// Sends `signal` to every process of the group led by `pid`.
pub fn signal_group(pid: u32, signal: libc::c_int) {
    if let Ok(pgid) = libc::pid_t::try_from(pid) {
        // SAFETY: killpg only sends a signal; errors (ESRCH) are ignored.
        unsafe {
            libc::killpg(pgid, signal);
        }
    }
}

/// Waits for `child` up to `timeout`; on expiry sends SIGTERM to its group,
/// waits [`GRACE`], then SIGKILL. The child is always reaped, and any
/// process it left in its group is killed.
pub fn wait(
    child: Child,
    started: Instant,
    timeout: Duration,
    group: &StageGroup,
    stall: Option<Stall<'_>>,
) -> Exit {
    let pid = child.id();
    if group.current() != Some(pid) {
        group.set(pid, None);
    }
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let mut child = child;
        let status = child.wait();
        let _ = tx.send(status);
    });
    let mut stalled = false;
    let mut seen = stall.map_or(0, |s| s.size());
    let mut last_activity = Instant::now();
    let first = loop {
        let remaining = timeout.saturating_sub(started.elapsed());
        // Look at the output once a second when a stall limit is set.
        let slice = match stall {
            Some(_) => remaining.min(Duration::from_secs(1)),
            None => remaining,
        };
        match rx.recv_timeout(slice) {
            Ok(status) => break Some(status),
            Err(_) if remaining.is_zero() || slice == remaining => break None,
            Err(_) => {
                let s = stall.expect("sliced only with a stall limit");
                let size = s.size();
                if size != seen {
                    seen = size;
                    last_activity = Instant::now();
                } else if last_activity.elapsed() >= s.after {
                    stalled = true;
                    break None;
                }
            }
        }
    };
    let (status, timed_out) = match first {
        Some(status) => (status, false),
        None => {
            signal_group(pid, libc::SIGTERM);
            let status = match rx.recv_timeout(GRACE) {
                Ok(s) => s,
                Err(_) => {
                    signal_group(pid, libc::SIGKILL);
                    rx.recv()
                        .unwrap_or_else(|_| Err(std::io::Error::other("waiter thread vanished")))
                }
            };
            (status, !stalled)
        }
    };
    let _ = waiter.join();
    // Stragglers (background jobs of the agent, tools in their own
    // session) must not outlive the stage.
    signal_group(pid, libc::SIGKILL);
    if let Some(tag) = group.tag() {
        kill_tagged(&tag);
    }
    group.set(0, None);
    reap_orphans();
    let mut exit = describe(status.ok());
    exit.timed_out = timed_out;
    exit.stalled = stalled;
    exit.duration = started.elapsed();
    if timed_out {
        exit.code = Some(124);
    }
    exit
}

fn describe(status: Option<ExitStatus>) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(s) => Exit {
            code: s.code(),
            signal: s.signal(),
            ..Exit::default()
        },
        None => Exit::default(),
    }
}

/// Runs a command with stdout/stderr to files and `stdin` piped in (then
/// closed) or null.
pub fn run_to_files(
    cmd: &mut Command,
    stdin: Option<Vec<u8>>,
    stdout: std::fs::File,
    stderr: std::fs::File,
    timeout: Duration,
    group: &StageGroup,
    stall: Option<Stall<'_>>,
) -> Exit {
    let started = Instant::now();
    cmd.stdout(Stdio::from(stdout)).stderr(Stdio::from(stderr));
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = match spawn_in_group(cmd, group) {
        Ok(c) => c,
        Err(e) => return Exit::spawn_failed(&e),
    };
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A writer thread: a child that never reads must not block us.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    wait(child, started, timeout, group, stall)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &std::path::Path) -> (std::fs::File, std::fs::File) {
        (
            std::fs::File::create(dir.join("out")).unwrap(),
            std::fs::File::create(dir.join("err")).unwrap(),
        )
    }

    #[test]
    fn exit_codes_and_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let (o, e) = files(dir.path());
        let exit = run_to_files(
            Command::new("sh").args(["-c", "cat; exit 3"]),
            Some(b"hello".to_vec()),
            o,
            e,
            Duration::from_secs(10),
            &StageGroup::default(),
            None,
        );
        assert_eq!(exit.code, Some(3));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out")).unwrap(),
            "hello"
        );
    }

    #[test]
    fn timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let (o, e) = files(dir.path());
        let pidfile = dir.path().join("child.pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let exit = run_to_files(
            Command::new("sh").args(["-c", &script]),
            None,
            o,
            e,
            Duration::from_millis(300),
            &StageGroup::default(),
            None,
        );
        assert!(exit.timed_out);
        assert_eq!(exit.code, Some(124));
        assert!(
            exit.duration < Duration::from_secs(5),
            "{:?}",
            exit.duration
        );
        let child: u32 = std::fs::read_to_string(pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        // Gone, or a zombie waiting for PID 1: either way no longer running.
        let state = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        let running = state
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'));
        assert!(!running, "grandchild survived: {state}");
    }

    fn alive(pid: u32) -> bool {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        state
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.is_empty() && !rest.trim_start().starts_with('Z'))
    }

    #[test]
    fn a_descendant_in_its_own_session_ends_with_the_stage() {
        let dir = tempfile::tempdir().unwrap();
        let (o, e) = files(dir.path());
        let pidfile = dir.path().join("escapee.pid");
        // The grandchild leaves the group with setsid and outlives its
        // parent, as Claude Code 2.1.197's Bash tool calls do.
        let script = format!(
            "setsid sh -c 'echo $$ > {}; exec sleep 30' & sleep 0.3; exit 0",
            pidfile.display()
        );
        let group = StageGroup::default();
        let exit = run_to_files(
            Command::new("sh").args(["-c", &script]),
            None,
            o,
            e,
            Duration::from_secs(10),
            &group,
            None,
        );
        assert_eq!(exit.code, Some(0));
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            !alive(pid),
            "the setsid grandchild {pid} survived the stage"
        );
        assert_eq!(group.current(), None);
    }

    #[test]
    fn the_group_is_known_from_the_spawn() {
        let group = StageGroup::default();
        let mut child = spawn_in_group(Command::new("sleep").arg("30"), &group).unwrap();
        assert_eq!(group.current(), Some(child.id()));
        assert!(group.terminate(Duration::from_millis(100)));
        let status = child.wait().unwrap();
        assert!(!status.success());
    }

    #[test]
    fn signal_exits_are_told_from_failures() {
        for (code, signal, by_signal) in [
            (Some(143), None, true),
            (Some(130), None, true),
            (None, Some(15), true),
            (Some(1), None, false),
            (Some(124), None, false),
        ] {
            let exit = Exit {
                code,
                signal,
                ..Exit::default()
            };
            assert_eq!(exit.ended_by_signal(), by_signal, "{code:?} {signal:?}");
        }
    }

    #[test]
    fn spawn_failure_is_127() {
        let dir = tempfile::tempdir().unwrap();
        let (o, e) = files(dir.path());
        let exit = run_to_files(
            &mut Command::new("/nonexistent/agent"),
            None,
            o,
            e,
            Duration::from_secs(1),
            &StageGroup::default(),
            None,
        );
        assert_eq!(exit.code, Some(127));
        assert!(exit.spawn_error.is_some());
    }
}
