//! Crash-safe file replacement: write a temp file in the same directory,
//! fsync it, rename it over the target, fsync the directory. A reader sees
//! either the old or the new contents, never a torn file.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Atomically and durably replaces `path` with `contents`, creating parent
/// directories.
pub fn write(path: &Path, contents: &[u8]) -> io::Result<()> {
    replace(path, contents, Sync::FileAndDir)
}

/// Like [`write`] but leaves the directory entry to a later [`sync_dir`]:
/// for callers that replace several files in one directory.
pub fn write_file_synced(path: &Path, contents: &[u8]) -> io::Result<()> {
    replace(path, contents, Sync::File)
}

/// Atomically replaces `path` without waiting for the disk: readers and a
/// process crash see the old or the new contents, but after a power loss the
/// old contents may come back. For derived files that the runtime rebuilds
/// from durable records (status markers), where an fsync per write would
/// dominate the cost of a stage.
pub fn write_volatile(path: &Path, contents: &[u8]) -> io::Result<()> {
    replace(path, contents, Sync::None)
}

#[derive(Clone, Copy, PartialEq)]
enum Sync {
    None,
    File,
    FileAndDir,
}

fn replace(path: &Path, contents: &[u8], sync: Sync) -> io::Result<()> {
    // A symlinked file (a store kept elsewhere) is written where it points,
    // not replaced by a regular file.
    let resolved;
    let path = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            resolved = fs::canonicalize(path)?;
            resolved.as_path()
        }
        _ => path,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    // Keep the mode of the file replaced; a new file gets 0666 less the
    // umask, as any other new file would.
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path).map_or(0o666, |m| m.permissions().mode() & 0o7777);
    let mut tmp = tempfile::Builder::new()
        .prefix(".millrace-")
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)?;
    tmp.write_all(contents)?;
    if sync != Sync::None {
        tmp.as_file().sync_data()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    if sync == Sync::FileAndDir {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Makes `path` its first `base` bytes followed by `suffix`, then syncs:
/// nothing to do when it already is; a longer file (a torn or complete
/// earlier attempt) is truncated back to `base` first. Safe to repeat after
/// a crash at any point.
pub fn append_at(path: &Path, base: u64, suffix: &[u8]) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let len = f.metadata()?.len();
    if len < base {
        // Not the file the journal saw: append without truncating anything.
        drop(f);
        return append_once(path, suffix);
    }
    if len == base + suffix.len() as u64 {
        let mut tail = vec![0; suffix.len()];
        f.seek(SeekFrom::Start(base))?;
        f.read_exact(&mut tail)?;
        if tail == suffix {
            return Ok(());
        }
    }
    if len != base {
        f.set_len(base)?;
    }
    f.seek(SeekFrom::Start(base))?;
    if super::failpoint::action("append.torn") == Some(super::failpoint::Action::Torn) {
        f.write_all(&suffix[..suffix.len() / 2])?;
        return Err(io::Error::from_raw_os_error(libc::ENOSPC));
    }
    f.write_all(suffix)?;
    f.sync_data()
}

/// Creates `path` with `contents` atomically and durably, refusing to
/// replace an existing file (`AlreadyExists`).
pub fn write_new(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".millrace-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_data()?;
    tmp.persist_noclobber(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Appends `suffix` unless `path` already ends with it, then syncs. Safe to
/// repeat after a crash: a second apply changes nothing.
pub fn append_once(path: &Path, suffix: &[u8]) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut f = fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let len = f.metadata()?.len();
    if len >= suffix.len() as u64 {
        let mut tail = vec![0; suffix.len()];
        f.seek(SeekFrom::Start(len - suffix.len() as u64))?;
        f.read_exact(&mut tail)?;
        if tail == suffix {
            return Ok(());
        }
    }
    f.write_all(suffix)?;
    f.sync_data()
}

/// Writes `path` only if its contents differ; returns whether it wrote.
pub fn write_if_changed(path: &Path, contents: &[u8]) -> io::Result<bool> {
    if fs::read(path).is_ok_and(|old| old == contents) {
        return Ok(false);
    }
    write(path, contents)?;
    Ok(true)
}

/// Makes renames and new entries in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    // Directory fsync makes the rename itself durable; not all platforms
    // allow opening a directory, and there the rename is the best we have.
    match File::open(dir) {
        Ok(f) => f.sync_all().or(Ok(())),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacing_keeps_modes_and_writes_through_symlinks() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.md");
        std::fs::write(&target, "old").unwrap();
        std::fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("store.md");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(
            fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let fresh = dir.path().join("fresh.md");
        write(&fresh, b"x").unwrap();
        let mode = fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_ne!(
            mode, 0o600,
            "new files honour the umask, not tempfile's 0600"
        );
    }

    #[test]
    fn replaces_contents_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/file.txt");
        write(&p, b"one").unwrap();
        write(&p, b"two").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "two");
        assert!(!write_if_changed(&p, b"two").unwrap());
        assert!(write_if_changed(&p, b"three").unwrap());
        let names: Vec<_> = fs::read_dir(p.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
