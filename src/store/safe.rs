//! Reading files that anyone could have put in the workspace without being
//! blocked or flooded by them: only regular files are opened (a fifo, a
//! device, a socket or a directory is refused before any open that could
//! block), the open itself is non-blocking, and reads stop at a size bound.

use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum SafeReadError {
    #[error("{}: not a regular file ({kind})", .path.display())]
    NotRegular {
        path: std::path::PathBuf,
        kind: &'static str,
    },
    #[error("{}: larger than {limit} bytes", .path.display())]
    TooLarge {
        path: std::path::PathBuf,
        limit: u64,
    },
    #[error("{}: {source}", .path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
}

impl SafeReadError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, SafeReadError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// The 1-based line and column (in characters) just after `valid`, the
/// UTF-8 text before a bad byte.
pub fn line_column(valid: &[u8]) -> (usize, usize) {
    let line = 1 + valid.iter().filter(|b| **b == b'\n').count();
    let start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let column = 1 + std::str::from_utf8(&valid[start..]).map_or(0, |t| t.chars().count());
    (line, column)
}

/// [`read_bounded`] as UTF-8 text, with refusals as `io::Error`s (a
/// missing file stays `NotFound`), for callers that handle I/O errors.
pub fn read_text(path: &Path, limit: u64) -> io::Result<String> {
    read_text_with(path, limit, true)
}

/// Reads a file a stage's agent could have written (an artifact, a
/// decision, an idea, an incident, an audit request, a run file) as UTF-8
/// text: never through a symbolic link, neither the file itself nor a
/// directory on its way, and only under one of `bases` (the workspace
/// root, `agents/`), compared as canonical paths. A refusal is an
/// `InvalidInput` or `PermissionDenied` error saying what was found and
/// what was expected; a missing file stays `NotFound`.
pub fn read_confined(bases: &[&Path], path: &Path, limit: u64) -> io::Result<String> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        let to = std::fs::read_link(path)
            .map(|t| format!(" to {}", t.display()))
            .unwrap_or_default();
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a symbolic link{to}; expected a regular file (files agents write are never read through a link)"),
        ));
    }
    let parent = path.parent().unwrap_or(path).canonicalize()?;
    let inside = bases
        .iter()
        .filter_map(|b| b.canonicalize().ok())
        .any(|b| parent.starts_with(b));
    if !inside {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "its directory resolves to {}, outside the workspace (a directory on the way is a symbolic link); expected a file inside the workspace",
                parent.display()
            ),
        ));
    }
    read_text_with(path, limit, false)
}

/// [`read_text`] that refuses a symbolic link (for files an agent could
/// have replaced by one: run records, stage output).
pub fn read_text_nofollow(path: &Path, limit: u64) -> io::Result<String> {
    read_text_with(path, limit, false)
}

fn read_text_with(path: &Path, limit: u64, follow: bool) -> io::Result<String> {
    match read_bounded(path, limit, follow) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let (line, column) = line_column(&e.as_bytes()[..at]);
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line {line}, column {column}: not UTF-8 (first bad byte at offset {at})"),
            )
        }),
        Err(SafeReadError::Io { source, .. }) => Err(source),
        // The caller names the path.
        Err(SafeReadError::NotRegular { kind, .. }) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file ({kind}); refused without reading it"),
        )),
        Err(SafeReadError::TooLarge { limit, .. }) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("larger than {limit} bytes; refused"),
        )),
    }
}

/// Opens `path` for reading only if it is a regular file (a fifo or device
/// is refused before any open that could block).
pub fn open_regular(path: &Path) -> io::Result<std::fs::File> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "not a regular file ({}); refused without reading it",
                kind_of(&meta)
            ),
        ));
    }
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// Opens `path` for reading only if it is itself a regular file: a
/// symbolic link (to anything) is refused (`O_NOFOLLOW`), as is a fifo or
/// a device (checked on the open file, so a swap in between is caught).
pub fn open_regular_nofollow(path: &Path) -> io::Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                io::Error::new(io::ErrorKind::InvalidInput, "a symbolic link; refused")
            } else {
                e
            }
        })?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file ({}); refused", kind_of(&meta)),
        ));
    }
    Ok(f)
}

/// Largest record file read whole (plans, run records, journals).
pub const RECORD_LIMIT: u64 = 256 << 20;

/// What kind of file `meta` describes, in words.
pub fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a fifo"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "a regular file"
    }
}

/// Reads `path` if it is a regular file of at most `limit` bytes. With
/// `follow`, a symlink to a regular file is read; without, a symlink is
/// refused.
pub fn read_bounded(path: &Path, limit: u64, follow: bool) -> Result<Vec<u8>, SafeReadError> {
    let io_err = |source| SafeReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = if follow {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    }
    .map_err(io_err)?;
    if !meta.is_file() {
        return Err(SafeReadError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(&meta),
        });
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true).custom_flags(libc::O_NONBLOCK);
    if !follow {
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    }
    let file = options.open(path).map_err(io_err)?;
    // It may have been swapped since the first look.
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(SafeReadError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(&meta),
        });
    }
    let mut buf = Vec::new();
    file.take(limit + 1).read_to_end(&mut buf).map_err(io_err)?;
    if buf.len() as u64 > limit {
        return Err(SafeReadError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(buf)
}

#[cfg(test)]
mod confined_tests {
    use super::read_confined;

    #[test]
    fn links_out_of_the_workspace_are_refused_and_files_inside_are_read() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        let outside = d.path().join("outside");
        std::fs::create_dir_all(ws.join("in")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("PASS"), "PASS").unwrap();
        std::fs::write(ws.join("in/ok.md"), "ok").unwrap();
        assert_eq!(
            read_confined(&[&ws], &ws.join("in/ok.md"), 100).unwrap(),
            "ok"
        );
        std::os::unix::fs::symlink(outside.join("PASS"), ws.join("in/file")).unwrap();
        let e = read_confined(&[&ws], &ws.join("in/file"), 100).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        std::os::unix::fs::symlink(&outside, ws.join("dir")).unwrap();
        let e = read_confined(&[&ws], &ws.join("dir/PASS"), 100).unwrap_err();
        assert!(e.to_string().contains("outside the workspace"), "{e}");
        let e = read_confined(&[&ws], &ws.join("in/missing"), 100).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let err = read_bounded(&fifo, 10, true).unwrap_err();
        assert!(err.to_string().contains("a fifo"), "{err}");
        let err = read_bounded(dir.path(), 10, true).unwrap_err();
        assert!(err.to_string().contains("a directory"), "{err}");
        let err = read_bounded(Path::new("/dev/zero"), 10, true).unwrap_err();
        assert!(err.to_string().contains("a device"), "{err}");
        let file = dir.path().join("x");
        std::fs::write(&file, "hello").unwrap();
        assert_eq!(read_bounded(&file, 10, true).unwrap(), b"hello");
        assert!(read_bounded(&file, 3, true)
            .unwrap_err()
            .to_string()
            .contains("larger than 3"));
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read_bounded(&link, 10, true).unwrap(), b"hello");
        assert!(read_bounded(&link, 10, false)
            .unwrap_err()
            .to_string()
            .contains("symbolic link"));
    }
}

/// How long ago `path` was last modified, by the file system's own clock:
/// measured against the modification time of a probe file written in
/// `dir` now, not against this process's wall clock. A workspace on a file
/// server whose clock is skewed from ours (NFS), or a process under a
/// faked clock, still tells a fresh file from an old one.
pub struct FsClock {
    now: std::time::SystemTime,
}

impl FsClock {
    /// Reads the file system's clock in `dir` (writes and removes a probe).
    pub fn of(dir: &Path) -> Option<FsClock> {
        let probe = tempfile::Builder::new()
            .prefix(".millrace-clock-")
            .tempfile_in(dir)
            .ok()?;
        let now = probe.as_file().metadata().ok()?.modified().ok()?;
        Some(FsClock { now })
    }

    /// The age of `path` on this clock (zero for a file from the future).
    pub fn age(&self, path: &Path) -> Option<std::time::Duration> {
        let modified = std::fs::symlink_metadata(path).ok()?.modified().ok()?;
        Some(self.now.duration_since(modified).unwrap_or_default())
    }
}

#[cfg(test)]
mod fs_clock_tests {
    #[test]
    fn ages_come_from_the_file_systems_clock() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh");
        std::fs::write(&fresh, "x").unwrap();
        let clock = super::FsClock::of(dir.path()).unwrap();
        assert!(clock.age(&fresh).unwrap() < std::time::Duration::from_secs(60));
        let old = std::fs::File::create(dir.path().join("old")).unwrap();
        let then = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        old.set_modified(then).unwrap();
        assert!(clock.age(&dir.path().join("old")).unwrap() > std::time::Duration::from_secs(3600));
        // The probe is gone.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}

#[cfg(test)]
mod utf8_tests {
    #[test]
    fn a_bad_byte_is_located_by_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, b"ok\nca\xc3\xa9 \xe9\n").unwrap();
        let e = super::read_text(&p, 1024).unwrap_err().to_string();
        assert_eq!(
            e,
            "line 2, column 5: not UTF-8 (first bad byte at offset 8)"
        );
    }
}
