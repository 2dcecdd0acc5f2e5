//! Copying into the staging repository without following a symlink on
//! either side: a source reached through a symlink is skipped with a
//! warning, a symlink where the copy goes is removed (the link, never what
//! it points to) before anything is written, files are created with
//! `O_EXCL` (which never writes through a link) and read with
//! `O_NOFOLLOW`, and special files are skipped.

use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::super::{ControlError, Result};

/// The canonical form of `path`, which may not exist yet: its longest
/// existing ancestor canonicalised, the rest appended with `.` and `..`
/// resolved lexically (they cannot cross a link that does not exist).
pub fn canonical_lenient(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        if let Ok(c) = existing.canonicalize() {
            let mut out = c;
            for part in rest.iter().rev() {
                match Path::new(part).components().next() {
                    Some(Component::ParentDir) => {
                        out.pop();
                    }
                    Some(Component::CurDir) | None => {}
                    _ => out.push(part),
                }
            }
            return out;
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => {
                // `..` or `.` as the last component: keep it for later.
                let last = existing.components().next_back();
                match (last, existing.parent()) {
                    (Some(c), Some(parent)) => {
                        rest.push(c.as_os_str().to_os_string());
                        existing = parent.to_path_buf();
                    }
                    _ => return path.to_path_buf(),
                }
            }
        }
    }
}

/// Whether some component of `rel` under `root` is a symlink (or missing:
/// `None`).
pub fn through_link(root: &Path, rel: &Path) -> Option<bool> {
    let mut p = root.to_path_buf();
    for c in rel.components() {
        p.push(c);
        let m = std::fs::symlink_metadata(&p).ok()?;
        if m.file_type().is_symlink() {
            return Some(true);
        }
    }
    Some(false)
}

/// Removes whatever is at `path` without following it.
pub fn remove_any(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path).map_err(ControlError::io(path)),
        Ok(_) => std::fs::remove_file(path).map_err(ControlError::io(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ControlError::io(path)(e)),
    }
}

/// Makes every directory of `rel` under `base` a real directory (a link or
/// a file in the way is removed first, with a warning for a link).
pub fn real_dirs(base: &Path, rel: &Path, warnings: &mut Vec<String>) -> Result<()> {
    let mut p = base.to_path_buf();
    for c in rel.components() {
        p.push(c);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => continue,
            Ok(m) => {
                if m.file_type().is_symlink() {
                    warnings.push(format!(
                        "{}: a symlink in the staging repository was replaced by a directory (never written through)",
                        p.display()
                    ));
                }
                remove_any(&p)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(ControlError::io(&p)(e)),
        }
        std::fs::create_dir(&p).map_err(ControlError::io(&p))?;
    }
    Ok(())
}

/// Copies the regular file `src` to `dest` (replaced), following neither.
/// `Ok(false)`: `src` was not a regular file (skipped).
pub fn copy_file(src: &Path, dest: &Path) -> Result<bool> {
    let mut from = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(src)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(false),
        Err(e) => return Err(ControlError::io(src)(e)),
    };
    let meta = from.metadata().map_err(ControlError::io(src))?;
    if !meta.is_file() {
        return Ok(false);
    }
    remove_any(dest)?;
    let mut to = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(meta.permissions().mode() & 0o777)
        .open(dest)
        .map_err(ControlError::io(dest))?;
    io::copy(&mut from, &mut to).map_err(ControlError::io(dest))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_lenient_resolves_dotdot_and_links_of_what_exists() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("ws")).unwrap();
        std::os::unix::fs::symlink(root.join("ws"), root.join("link")).unwrap();
        assert_eq!(
            canonical_lenient(&root.join("ws/agents/..")),
            root.join("ws")
        );
        assert_eq!(
            canonical_lenient(&root.join("link/new/x")),
            root.join("ws/new/x")
        );
        assert_eq!(
            canonical_lenient(&root.join("link/new/..")),
            root.join("ws")
        );
    }

    #[test]
    fn a_link_at_the_destination_is_replaced_never_written_through() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside.txt");
        std::fs::write(&outside, "keep").unwrap();
        std::fs::write(d.path().join("src.txt"), "new").unwrap();
        std::os::unix::fs::symlink(&outside, d.path().join("dest.txt")).unwrap();
        assert!(copy_file(&d.path().join("src.txt"), &d.path().join("dest.txt")).unwrap());
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
        assert_eq!(
            std::fs::read_to_string(d.path().join("dest.txt")).unwrap(),
            "new"
        );
        // A link as the source is skipped.
        std::os::unix::fs::symlink(&outside, d.path().join("ln")).unwrap();
        assert!(!copy_file(&d.path().join("ln"), &d.path().join("out")).unwrap());
    }
}
