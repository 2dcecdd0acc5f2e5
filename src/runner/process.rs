//! Child processes for stages: each in its own process group, with a
//! wall-clock timeout that terminates then kills the whole group, and no
//! zombies left behind.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
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
    record: Option<Arc<std::path::PathBuf>>,
}

impl StageGroup {
    /// A group that records its id in `file` while a stage runs.
    pub fn recording(file: std::path::PathBuf) -> StageGroup {
        StageGroup {
            pid: Arc::default(),
            record: Some(Arc::new(file)),
        }
    }

    fn set(&self, pid: u32) {
        self.pid.store(pid, Ordering::SeqCst);
        if let Some(file) = &self.record {
            let _ = if pid == 0 {
                std::fs::remove_file(file.as_path())
            } else {
                std::fs::write(
                    file.as_path(),
                    format!("{pid} {}\n", start_time(pid).unwrap_or(0)),
                )
            };
        }
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
    pub fn spawn_failed(err: &std::io::Error) -> Exit {
        Exit {
            code: Some(127),
            spawn_error: Some(err.to_string()),
            ..Exit::default()
        }
    }
}

/// Starts `cmd` as the leader of a new process group.
pub fn spawn_in_group(cmd: &mut Command) -> std::io::Result<Child> {
    cmd.process_group(0).spawn()
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
    group.set(pid);
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
    // Stragglers (background jobs of the agent) must not outlive the stage.
    signal_group(pid, libc::SIGKILL);
    group.set(0);
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
    let mut child = match spawn_in_group(cmd) {
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
