//! The state lock (`<state_dir>/state.lock`): one mutating command per state directory.
//!
//! An advisory `flock` does the exclusion, so the kernel releases it when the holder dies,
//! however it dies. The file's content only describes the holder (pid, command, start time)
//! for the message a second process shows, and lets a new holder warn that it takes over
//! after a process that died without cleaning up.

use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::StateError;
use crate::fsutil::{self, FsError};
use crate::paths::STATE_LOCK;

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StateError {
    let path = path.to_owned();
    move |source| StateError::Fs(FsError { what, path, source })
}

/// Who holds the lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub pid: u32,
    pub command: String,
    /// RFC 3339 start time of the holder's command.
    pub started_at: String,
}

/// A held state lock; released on drop (and by the kernel if the process dies).
#[derive(Debug)]
pub struct StateLock {
    file: File,
    path: PathBuf,
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn read_holder(file: &mut File) -> Option<LockHolder> {
    let mut s = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut s).ok()?;
    serde_json::from_str(&s).ok()
}

impl StateLock {
    /// Takes the lock of `dir` for `command` (for example `platform up`), creating the
    /// directory if needed. Fails at once with [`StateError::Locked`] when another process
    /// holds it.
    pub fn acquire(dir: &Path, command: &str) -> Result<StateLock, StateError> {
        fsutil::ensure_private_dir(dir)?;
        let path = dir.join(STATE_LOCK);
        let mut file = fsutil::open_lock_file(&path)?;
        let got = file
            .try_lock_exclusive()
            .map_err(io("cannot lock", &path))?;
        if !got {
            let holder = read_holder(&mut file).unwrap_or(LockHolder {
                pid: 0,
                command: "another platform command".into(),
                started_at: "just now".into(),
            });
            return Err(StateError::Locked { holder, path });
        }
        if let Some(prev) = read_holder(&mut file)
            && prev.pid != std::process::id()
            && !pid_alive(prev.pid)
        {
            tracing::warn!(
                "taking over a stale state lock: pid {} (`{}`, started {}) is no longer running",
                prev.pid,
                prev.command,
                prev.started_at
            );
        }
        let me = LockHolder {
            pid: std::process::id(),
            command: command.to_owned(),
            started_at: crate::clock::timestamp(),
        };
        let json = serde_json::to_vec(&me).unwrap_or_default();
        file.set_len(0).map_err(io("cannot write", &path))?;
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(&json))
            .and_then(|_| file.sync_data())
            .map_err(io("cannot write", &path))?;
        Ok(StateLock { file, path })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // An empty file means "released cleanly": the next holder has nothing to warn about.
        let _ = self.file.set_len(0);
        let _ = FileExt::unlock(&self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_names_the_holder_and_release_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateLock::acquire(dir.path(), "platform up").unwrap();
        // flock locks belong to the open file description, so a second open in the same
        // process contends like another process would.
        let err = StateLock::acquire(dir.path(), "platform down").unwrap_err();
        match err {
            StateError::Locked { holder, .. } => {
                assert_eq!(holder.pid, std::process::id());
                assert_eq!(holder.command, "platform up");
            }
            other => panic!("{other}"),
        }
        drop(first);
        let again = StateLock::acquire(dir.path(), "platform down").unwrap();
        assert!(again.path().ends_with(STATE_LOCK));
    }
}
