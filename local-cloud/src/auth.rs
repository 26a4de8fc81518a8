//! The local cloud's API token: every request to its API (ARM and `/_local/` control) must
//! carry `Authorization: Bearer <token>`; anything else gets 401.
//!
//! Azure checks a signed Entra ID token; the local cloud cannot, so it keeps one random
//! secret per data directory in [`TOKEN_FILE`] (mode 0600, created exclusively, never through
//! a symlink) and compares in constant time. Whoever can read that file can drive the cloud,
//! which with real hosts means root on them: the same trust as the data directory itself.
//! Services the hosts use (the release mirror) listen separately and need no token; no host
//! ever holds it.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use base64::Engine;
use rand::RngCore;

use crate::LocalCloudError;

/// File name of the API token inside the data directory.
pub const TOKEN_FILE: &str = "api-token";
/// Random bytes in a token (256 bits).
const TOKEN_BYTES: usize = 32;
/// A token file larger than this is not one of ours.
const MAX_TOKEN_FILE: u64 = 1024;

/// The token of `data_dir`: read when present, else created (0600, exclusive, no symlink
/// followed). A token file that is not a regular file or that group or others can read is
/// refused: it would hand the cloud to every local user.
pub fn prepare(data_dir: &Path) -> Result<String, LocalCloudError> {
    let path = data_dir.join(TOKEN_FILE);
    let mut open = std::fs::OpenOptions::new();
    open.read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    match open.open(&path) {
        Ok(f) => read_existing(&path, f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(&path),
        Err(e) => Err(LocalCloudError::io(&path, e)),
    }
}

fn read_existing(path: &Path, f: std::fs::File) -> Result<String, LocalCloudError> {
    let meta = f.metadata().map_err(|e| LocalCloudError::io(path, e))?;
    let refuse = |why: &str| {
        LocalCloudError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::PermissionDenied, why.to_string()),
        )
    };
    if !meta.is_file() || meta.len() > MAX_TOKEN_FILE {
        return Err(refuse("the API token file is not a small regular file"));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(refuse(
            "the API token file is readable or writable by group or others; chmod 600 it",
        ));
    }
    let mut text = String::new();
    f.take(MAX_TOKEN_FILE)
        .read_to_string(&mut text)
        .map_err(|e| LocalCloudError::io(path, e))?;
    let token = text.trim().to_string();
    if token.len() < 32 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(refuse("the API token file does not hold a token"));
    }
    Ok(token)
}

fn create(path: &Path) -> Result<String, LocalCloudError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| LocalCloudError::io(path, e))?;
    f.write_all(format!("{token}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| LocalCloudError::io(path, e))?;
    Ok(token)
}

/// Whether `headers` carry `Bearer <token>`, compared in constant time.
pub fn bearer_matches(header: Option<&str>, token: &str) -> Result<(), Refusal> {
    let Some(v) = header else {
        return Err(Refusal::Missing);
    };
    match v.split_once(' ') {
        Some((scheme, given))
            if scheme.eq_ignore_ascii_case("bearer") && constant_eq(given.trim(), token) =>
        {
            Ok(())
        }
        _ => Err(Refusal::Invalid),
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization` header.
    Missing,
    /// Not `Bearer`, or not this cloud's token.
    Invalid,
}

/// Equality whose time depends on the lengths only, not on where the bytes differ.
fn constant_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::*;

    #[test]
    fn a_token_is_created_private_and_kept_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let t = prepare(dir.path()).unwrap();
        assert_eq!(t.len(), 43);
        let meta = std::fs::metadata(dir.path().join(TOKEN_FILE)).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert_eq!(prepare(dir.path()).unwrap(), t);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(prepare(other.path()).unwrap(), t);
    }

    #[test]
    fn a_readable_or_planted_token_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path()).unwrap();
        let path = dir.path().join(TOKEN_FILE);
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        let e = prepare(dir.path()).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "x".repeat(40)).unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join(TOKEN_FILE)).unwrap();
        assert!(prepare(dir.path()).is_err());
    }

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let t = "a".repeat(43);
        assert_eq!(bearer_matches(Some(&format!("Bearer {t}")), &t), Ok(()));
        assert_eq!(bearer_matches(Some(&format!("bearer {t}")), &t), Ok(()));
        assert_eq!(bearer_matches(None, &t), Err(Refusal::Missing));
        for bad in [
            format!("Bearer {}", "a".repeat(42)),
            format!("Bearer {}b", "a".repeat(42)),
            format!("Basic {t}"),
            "Bearer".to_string(),
            format!("Bearer {t}{t}"),
        ] {
            assert_eq!(
                bearer_matches(Some(&bad), &t),
                Err(Refusal::Invalid),
                "{bad}"
            );
        }
    }
}
