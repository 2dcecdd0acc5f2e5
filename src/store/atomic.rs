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
    let path = &resolve_link(path)?;
    let mut tmp = temp_beside(path)?;
    tmp.write_all(contents)?;
    if sync != Sync::None {
        tmp.as_file().sync_data()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    if sync == Sync::FileAndDir {
        sync_dir(parent(path))?;
    }
    Ok(())
}

/// A symlinked file (a store kept elsewhere) is written where it points,
/// not replaced by a regular file.
fn resolve_link(path: &Path) -> io::Result<std::path::PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path),
        _ => Ok(path.to_path_buf()),
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// A temp file in `path`'s directory (created if missing) with the mode of
/// the file it will replace; a new file gets 0666 less the umask, as any
/// other new file would.
fn temp_beside(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    let dir = parent(path);
    let mode = fs::metadata(path).map_or(0o666, |m| m.permissions().mode() & 0o7777);
    in_dir(dir, || {
        tempfile::Builder::new()
            .prefix(".millrace-")
            .suffix(".tmp")
            .permissions(fs::Permissions::from_mode(mode))
            .tempfile_in(dir)
    })
}

/// Runs `create` (which makes a file in `dir`), creating `dir` and trying
/// again only when it is missing: directories exist after `init`, so the
/// common case costs no `mkdir`.
pub fn in_dir<T>(dir: &Path, create: impl Fn() -> io::Result<T>) -> io::Result<T> {
    match create() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir)?;
            create()
        }
        other => other,
    }
}

/// Makes `path` its first `base` bytes followed by `suffix`, then syncs:
/// nothing to do when it already is; a longer file (a torn or complete
/// earlier attempt) is truncated back to `base` first. Safe to repeat after
/// a crash at any point.
pub fn append_at(path: &Path, base: u64, suffix: &[u8]) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = in_dir(parent(path), || {
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
    })?;
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

/// Cuts `bytes` out of `path` at byte `at` by writing the rest to a temp
/// file and renaming it over (synced, directory left to the caller, like
/// [`write_file_synced`]). Returns `false`, changing nothing, when the file
/// does not hold `bytes` at `at` (the cut was already made). The rest is
/// copied by the kernel (`copy_file_range`), never read into memory, so
/// taking the first card off a large backlog costs a copy, not a parse.
pub fn cut(path: &Path, at: u64, bytes: &[u8]) -> io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let path = &resolve_link(path)?;
    let mut src = super::safe::open_regular(path)?;
    let len = src.metadata()?.len();
    let end = at + bytes.len() as u64;
    if end > len {
        return Ok(false);
    }
    let mut held = vec![0; bytes.len()];
    src.seek(SeekFrom::Start(at))?;
    src.read_exact(&mut held)?;
    if held != bytes {
        return Ok(false);
    }
    let mut tmp = temp_beside(path)?;
    src.seek(SeekFrom::Start(0))?;
    io::copy(&mut (&src).take(at), tmp.as_file_mut())?;
    src.seek(SeekFrom::Start(end))?;
    io::copy(&mut src, tmp.as_file_mut())?;
    tmp.as_file().sync_data()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(true)
}

/// Creates `path` with `contents` atomically and durably, refusing to
/// replace an existing file (`AlreadyExists`).
pub fn write_new(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut tmp = temp_beside(path)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_data()?;
    tmp.persist_noclobber(path).map_err(|e| e.error)?;
    sync_dir(parent(path))
}

/// Appends `suffix` unless `path` already ends with it, then syncs. Safe to
/// repeat after a crash: a second apply changes nothing.
pub fn append_once(path: &Path, suffix: &[u8]) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = in_dir(parent(path), || {
        fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
    })?;
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
    fn a_cut_happens_once_keeps_the_mode_and_writes_through_a_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.md");
        fs::write(&real, "head\nCARD\ntail\n").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.md");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(cut(&link, 5, b"CARD\n").unwrap());
        assert_eq!(fs::read_to_string(&real).unwrap(), "head\ntail\n");
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            fs::metadata(&real).unwrap().permissions().mode() & 0o777,
            0o640
        );
        // A replay finds other bytes there (or the file too short): no change.
        assert!(!cut(&link, 5, b"CARD\n").unwrap());
        assert!(!cut(&link, 50, b"CARD\n").unwrap());
        assert_eq!(fs::read_to_string(&real).unwrap(), "head\ntail\n");
    }

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
