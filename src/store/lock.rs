//! Advisory file locks with an owner record.
//!
//! The OS lock (`flock` through `std::fs::File::try_lock`) is released by the
//! kernel when its process dies, so a lock left by a `kill -9` is reclaimed
//! by the next taker. The owner record (pid, host, start time) written into
//! the lock file says who holds it, and lets a taker tell a live holder from
//! the stale record of a dead one.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What a lock holder is doing. Recorded as text (`start --daemon`); a
/// text this build does not know reads as `Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerPurpose {
    /// `start --once`.
    Once,
    /// `start --daemon`: commands go through its mailbox.
    Daemon,
    /// A queue mutation holding `queue.lock`.
    QueueMutation,
    /// `config set` holding `config.lock`.
    ConfigEdit,
    /// The holder could not be read (it is still writing its record).
    Unknown,
    Other(String),
}

impl OwnerPurpose {
    pub fn as_str(&self) -> &str {
        match self {
            OwnerPurpose::Once => "start --once",
            OwnerPurpose::Daemon => "start --daemon",
            OwnerPurpose::QueueMutation => "queue mutation",
            OwnerPurpose::ConfigEdit => "config edit",
            OwnerPurpose::Unknown => "unknown",
            OwnerPurpose::Other(s) => s,
        }
    }

    fn parse(s: &str) -> OwnerPurpose {
        [
            OwnerPurpose::Once,
            OwnerPurpose::Daemon,
            OwnerPurpose::QueueMutation,
            OwnerPurpose::ConfigEdit,
            OwnerPurpose::Unknown,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
        .unwrap_or_else(|| OwnerPurpose::Other(s.to_string()))
    }
}

impl std::fmt::Display for OwnerPurpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for OwnerPurpose {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OwnerPurpose {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<OwnerPurpose, D::Error> {
        Ok(OwnerPurpose::parse(&String::deserialize(d)?))
    }
}

impl schemars::JsonSchema for OwnerPurpose {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OwnerPurpose".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "examples": ["start --once", "start --daemon", "queue mutation", "unknown"],
        })
    }
}

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Owner {
    pub pid: u32,
    pub host: String,
    pub started_at: String,
    /// What the holder is doing.
    pub purpose: OwnerPurpose,
}

impl Owner {
    pub fn me(purpose: OwnerPurpose) -> Owner {
        Owner {
            pid: std::process::id(),
            host: hostname(),
            started_at: crate::defs::clock::now_iso(),
            purpose,
        }
    }

    /// Whether the recorded process still exists (on this host).
    pub fn is_alive(&self) -> bool {
        self.host != hostname() || pid_alive(self.pid)
    }
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    pub path: PathBuf,
    /// The dead owner whose stale record this lock replaced, if any.
    pub reclaimed_from: Option<Owner>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{} is held by pid {} on {} ({}, since {})", .path.display(), .owner.pid, .owner.host, .owner.purpose, .owner.started_at)]
    Held { path: PathBuf, owner: Owner },
    #[error("timed out after {:.1}s waiting for {}", .waited.as_secs_f64(), .path.display())]
    Timeout {
        path: PathBuf,
        waited: Duration,
        owner: Option<Owner>,
    },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl FileLock {
    /// Takes the lock now or fails with who holds it.
    pub fn try_acquire(path: &Path, purpose: OwnerPurpose) -> Result<FileLock, LockError> {
        let file = open(path)?;
        match file.try_lock() {
            Ok(()) => Self::claim(file, path, purpose),
            Err(TryLockError::WouldBlock) => Err(LockError::Held {
                path: path.to_path_buf(),
                owner: read_owner_settled(path).unwrap_or_else(|| Owner {
                    pid: 0,
                    host: "?".into(),
                    started_at: "?".into(),
                    purpose: OwnerPurpose::Unknown,
                }),
            }),
            Err(TryLockError::Error(source)) => Err(LockError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Retries for up to `timeout` (spec §3.3: 15 s for the queue), first
    /// after 1 ms and then backing off to every 50 ms: queue mutations
    /// take milliseconds, and a fixed 50 ms poll made every wait on one
    /// cost 50 ms.
    pub fn acquire(
        path: &Path,
        purpose: OwnerPurpose,
        timeout: Duration,
    ) -> Result<FileLock, LockError> {
        let start = Instant::now();
        let file = open(path)?;
        let mut pause = Duration::from_millis(1);
        let longest = Duration::from_millis(50).min(timeout / 100).max(pause);
        loop {
            match file.try_lock() {
                Ok(()) => return Self::claim(file, path, purpose),
                Err(TryLockError::WouldBlock) if start.elapsed() < timeout => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(longest);
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(LockError::Timeout {
                        path: path.to_path_buf(),
                        waited: start.elapsed(),
                        owner: read_owner(path),
                    })
                }
                Err(TryLockError::Error(source)) => {
                    return Err(LockError::Io {
                        path: path.to_path_buf(),
                        source,
                    })
                }
            }
        }
    }

    fn claim(mut file: File, path: &Path, purpose: OwnerPurpose) -> Result<FileLock, LockError> {
        let io_err = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let previous = read_owner_from(&mut file);
        let reclaimed_from = previous.filter(|o| !o.is_alive() && o.pid != std::process::id());
        let record = serde_json::to_string(&Owner::me(purpose)).expect("owner serialises");
        file.set_len(0).map_err(io_err)?;
        file.rewind().map_err(io_err)?;
        file.write_all(record.as_bytes()).map_err(io_err)?;
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
            reclaimed_from,
        })
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Clear the record so a reader does not mistake us for a holder; the
        // OS lock goes with the file handle.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

fn open(path: &Path) -> Result<File, LockError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    super::atomic::in_dir(dir, || {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
    })
    .map_err(|source| LockError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The owner record in a lock file, if any (held or stale).
/// The owner record of a lock just taken by another process, which may
/// still be writing it: read again for up to 200 ms.
fn read_owner_settled(path: &Path) -> Option<Owner> {
    let deadline = Instant::now() + Duration::from_millis(200);
    loop {
        match read_owner(path) {
            Some(o) => return Some(o),
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            None => return None,
        }
    }
}

pub fn read_owner(path: &Path) -> Option<Owner> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

fn read_owner_from(file: &mut File) -> Option<Owner> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether `path` is locked by a live process right now.
pub fn is_held(path: &Path) -> bool {
    let Ok(file) = OpenOptions::new().read(true).write(true).open(path) else {
        return false;
    };
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(_) => true,
    }
}

pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for the process's existence.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_taker_sees_the_owner_and_a_released_lock_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let held = FileLock::try_acquire(&p, OwnerPurpose::Other("test".into())).unwrap();
        match FileLock::try_acquire(&p, OwnerPurpose::Other("other".into())) {
            Err(LockError::Held { owner, .. }) => assert_eq!(owner.pid, std::process::id()),
            other => panic!("{other:?}"),
        }
        assert!(is_held(&p));
        drop(held);
        assert!(!is_held(&p));
        FileLock::acquire(
            &p,
            OwnerPurpose::Other("again".into()),
            Duration::from_millis(100),
        )
        .unwrap();
    }

    #[test]
    fn stale_records_of_dead_processes_are_reported_as_reclaimed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let dead = Owner {
            pid: 999_999_999,
            host: hostname(),
            started_at: "then".into(),
            purpose: OwnerPurpose::Other("crashed".into()),
        };
        std::fs::write(&p, serde_json::to_string(&dead).unwrap()).unwrap();
        let lock = FileLock::try_acquire(&p, OwnerPurpose::Other("me".into())).unwrap();
        assert_eq!(
            lock.reclaimed_from.as_ref().map(|o| o.purpose.as_str()),
            Some("crashed")
        );
    }

    #[test]
    fn this_process_is_alive() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(999_999_999));
    }
}
