//! Which executable becomes each host's init: one that calls `local_cloud::multicall()`
//! first thing in `main` (the `platform` binary, or this crate's `local-cloud-host`).

use std::path::{Path, PathBuf};

use super::HostError;

/// File names of the executables known to call `multicall()`.
const KNOWN: &[&str] = &["platform", "local-cloud-host"];

/// The host init executable: `given`, else this process's own executable when it is one of
/// the known ones, else the newest known one beside it or one directory up (a test binary
/// of cargo's `target/<profile>/deps/` finds `target/<profile>/platform` that way).
pub fn locate(given: Option<&Path>) -> Result<PathBuf, HostError> {
    if let Some(p) = given {
        return usable(p).ok_or_else(|| {
            HostError::Preflight(format!(
                "the host init executable {} is not an executable file",
                p.display()
            ))
        });
    }
    let me = std::env::current_exe().map_err(|source| HostError::Io {
        path: "/proc/self/exe".into(),
        source,
    })?;
    if me
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| KNOWN.contains(&n))
    {
        return Ok(me);
    }
    let dirs = [me.parent(), me.parent().and_then(Path::parent)];
    let newest = dirs
        .into_iter()
        .flatten()
        .flat_map(|d| KNOWN.iter().map(move |n| d.join(n)))
        .filter_map(|p| {
            let modified = std::fs::metadata(&p).ok()?.modified().ok()?;
            Some((modified, usable(&p)?))
        })
        .max_by_key(|(modified, _)| *modified);
    newest.map(|(_, p)| p).ok_or_else(|| {
        HostError::Preflight(format!(
            "no host init executable: {} does not call local_cloud::multicall() and no {} \
             is beside it; set LocalCloudOptions::host_exe to one that does",
            me.display(),
            KNOWN.join(" or ")
        ))
    })
}

/// `p`, absolute, if it is an executable regular file.
fn usable(p: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(p).ok()?;
    (meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .then(|| std::path::absolute(p).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_executable_must_exist_and_be_executable() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        assert!(locate(Some(&plain)).is_err());
        assert!(locate(Some(&dir.path().join("absent"))).is_err());
        let sh = Path::new("/bin/sh");
        assert!(locate(Some(sh)).unwrap().is_absolute());
    }
}
