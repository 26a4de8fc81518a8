//! File primitives every layer shares: bounded reads of user files, atomic private writes,
//! private directories. Nothing here follows a link planted where a temp file goes, and
//! nothing reads an unbounded amount of data.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A file operation that failed, with what was being done and to which path.
#[derive(Debug, thiserror::Error)]
#[error("{what} {}: {source}", path.display())]
pub struct FsError {
    pub what: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl FsError {
    /// Whether the file was missing.
    pub fn is_not_found(&self) -> bool {
        self.source.kind() == std::io::ErrorKind::NotFound
    }
}

fn err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FsError {
    let path = path.to_owned();
    move |source| FsError { what, path, source }
}

/// Where `name` would be run from: the first executable regular file of that name in the
/// directories of `PATH`, as `execvp` searches them (no fallback directories, so what is
/// reported is what a spawned command would really find).
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0))
}

/// Caps for files users hand us: far above any real one, far below what hurts.
pub mod caps {
    /// `platform.yaml`.
    pub const CONFIG: u64 = 1 << 20;
    /// A playbook.
    pub const PLAYBOOK: u64 = 4 << 20;
    /// A static or generated inventory.
    pub const INVENTORY: u64 = 16 << 20;
    /// A controller's install manifests (Argo CD's are about 2 MiB).
    pub const MANIFESTS: u64 = 32 << 20;
    /// The state file (grows with hosts and resources).
    pub const STATE: u64 = 64 << 20;
    /// A PEM CA bundle (Mozilla's whole root store is about 220 KiB).
    pub const CA_BUNDLE: u64 = 1 << 20;
}

/// Reads a regular file of at most `cap` bytes as UTF-8. A FIFO, a device or a directory is
/// refused without blocking (the open does not wait for a FIFO's writer), and so is a file
/// larger than the cap, checked both before and while reading (it may grow).
pub fn read_capped(path: &Path, cap: u64) -> Result<String, FsError> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(err("cannot read", path))?;
    let meta = f.metadata().map_err(err("cannot read", path))?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else {
            "not a regular file (a FIFO, socket or device)"
        };
        return Err(err("cannot read", path)(std::io::Error::other(format!(
            "is {what}; give a regular file"
        ))));
    }
    let too_big = || {
        err("cannot read", path)(std::io::Error::other(format!(
            "is larger than {} KiB, the limit for this kind of file",
            cap / 1024
        )))
    };
    if meta.len() > cap {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(err("cannot read", path))?;
    if bytes.len() as u64 > cap {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|e| {
        err("cannot read", path)(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        ))
    })
}

/// Creates `dir` (and its parents) and makes it private (0700) when we create it. An existing
/// directory that the group or others can write is refused: a temp or lock file in it could
/// be swapped by another user.
pub fn ensure_private_dir(dir: &Path) -> Result<(), FsError> {
    if !dir.is_dir() {
        fs::create_dir_all(dir).map_err(err("cannot create", dir))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(err("cannot set permissions of", dir))?;
        return Ok(());
    }
    check_not_shared(dir)
}

/// Refuses a directory writable by group or others, unless it is sticky (like `/tmp`, where
/// nobody can rename or remove another user's files).
pub fn check_not_shared(dir: &Path) -> Result<(), FsError> {
    let meta = fs::metadata(dir).map_err(err("cannot inspect", dir))?;
    let mode = meta.mode();
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(err("refusing to use", dir)(std::io::Error::other(format!(
            "it is writable by other users (mode {:o}); run `chmod go-w {}`",
            mode & 0o7777,
            dir.display()
        ))));
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically and privately: a temp file with a random name created
/// exclusively (`O_EXCL | O_NOFOLLOW`, mode 0600) in the same directory, fsync, rename over
/// `path`, fsync of the directory. A reader sees the old or the new content, never a mix,
/// even if the process is killed at any point; a link planted at a temp name is never
/// followed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let (tmp, mut f) = create_temp(dir, name)?;
    let result = (|| {
        f.write_all(bytes).map_err(err("cannot write", &tmp))?;
        f.sync_all().map_err(err("cannot sync", &tmp))?;
        fs::rename(&tmp, path).map_err(err("cannot replace", path))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err("cannot sync directory", dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A new file `.<name>.tmp.<random>` in `dir`, created exclusively without following links.
fn create_temp(dir: &Path, name: &str) -> Result<(PathBuf, File), FsError> {
    let mut last = None;
    for _ in 0..8 {
        let tmp = dir.join(format!(".{name}.tmp.{:016x}", rand::random::<u64>()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o600)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(err("cannot create", &tmp)(e)),
        }
    }
    Err(err("cannot create a temp file in", dir)(
        last.unwrap_or_else(|| std::io::Error::other("name collisions")),
    ))
}

/// Opens (creating if needed, mode 0600) a file that is only ever locked and rewritten in
/// place, refusing to follow a symlink planted at its path.
pub fn open_lock_file(path: &Path) -> Result<File, FsError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(err("cannot open", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_fifos_directories_and_big_files_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo (coreutils) failed");
        let e = read_capped(&fifo, 100).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let e = read_capped(d.path(), 100).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
        let big = d.path().join("big");
        fs::write(&big, vec![b'x'; 101]).unwrap();
        let e = read_capped(&big, 100).unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
        fs::write(&big, "ok").unwrap();
        assert_eq!(read_capped(&big, 100).unwrap(), "ok");
        let e = read_capped(Path::new("/dev/zero"), 100).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }

    #[test]
    fn atomic_writes_never_follow_a_planted_link() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        fs::write(&victim, "untouched").unwrap();
        let target = d.path().join("state.json");
        // Every name the old pid-based scheme would use points at the victim.
        std::os::unix::fs::symlink(
            &victim,
            d.path()
                .join(format!(".state.json.tmp.{}", std::process::id())),
        )
        .unwrap();
        write_atomic(&target, b"new").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched");
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(fs::metadata(&target).unwrap().mode() & 0o777, 0o600);
        let lock = d.path().join("lock");
        std::os::unix::fs::symlink(&victim, &lock).unwrap();
        assert!(open_lock_file(&lock).is_err());
    }

    #[test]
    fn shared_writable_directories_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let shared = d.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
        let e = ensure_private_dir(&shared).unwrap_err();
        assert!(e.to_string().contains("writable by other users"), "{e}");
        let fresh = d.path().join("a/b");
        ensure_private_dir(&fresh).unwrap();
        assert_eq!(fs::metadata(&fresh).unwrap().mode() & 0o777, 0o700);
    }
}
