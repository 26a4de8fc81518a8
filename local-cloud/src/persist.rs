//! Persistence of the store: `cloud.json` in the data dir, written atomically.

use std::io::Write;
use std::path::Path;

use super::LocalCloudError;
use crate::arm::store::{FORMAT_VERSION, STORE_FILE, Store};

impl Store {
    /// Reads `cloud.json` from `dir`, or starts empty when there is none.
    pub fn load(dir: &Path) -> Result<Self, LocalCloudError> {
        let path = dir.join(STORE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| LocalCloudError::Corrupt {
                    path: path.display().to_string(),
                    source,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Store {
                version: FORMAT_VERSION,
                ..Store::default()
            }),
            Err(e) => Err(LocalCloudError::io(&path, e)),
        }
    }

    /// Writes the store to `dir/cloud.json` atomically.
    pub fn save(&self, dir: &Path) -> Result<(), LocalCloudError> {
        let bytes = serde_json::to_vec(self).map_err(|e| LocalCloudError::Io {
            path: STORE_FILE.into(),
            source: std::io::Error::other(e),
        })?;
        write_atomic(&dir.join(STORE_FILE), &bytes, false)
    }
}

/// Writes `bytes` to `path` through a temporary file, fsync and rename, so a crash leaves
/// either the old or the new content. `private` makes the file readable by the owner only.
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), LocalCloudError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = opts.open(&tmp).map_err(|e| LocalCloudError::io(&tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| LocalCloudError::io(&tmp, e))?;
    f.sync_all().map_err(|e| LocalCloudError::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| LocalCloudError::io(path, e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_round_trips_and_corruption_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let empty = Store::load(dir.path()).unwrap();
        assert!(empty.resources.is_empty());
        let s = Store {
            next_seq: 7,
            ..Store::default()
        };
        s.save(dir.path()).unwrap();
        assert_eq!(Store::load(dir.path()).unwrap().next_seq, 7);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary file is left behind");
        std::fs::write(dir.path().join(STORE_FILE), b"{oops").unwrap();
        assert!(matches!(
            Store::load(dir.path()),
            Err(LocalCloudError::Corrupt { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        write_atomic(&p, b"secret", true).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
