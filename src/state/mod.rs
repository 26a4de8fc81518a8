//! The versioned JSON state file (`<state_dir>/state.json`): the memory between phases.
//!
//! Invariants: every write is atomic (temp file in the same directory, fsync, rename, fsync
//! of the directory), the file is mode 0600, and a mutating command holds [`lock::StateLock`]
//! for its whole run. The schema is documented in `docs/state.md`.

pub mod lock;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

use crate::clock::now;
use crate::fsutil::{self, FsError, caps};
use crate::paths::STATE_FILE;
use crate::phase::Phase;

pub use lock::{LockHolder, StateLock};

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Errors reading or writing state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state is locked by pid {} (`{}`) since {}", .holder.pid, .holder.command, .holder.started_at)]
    Locked { holder: LockHolder, path: PathBuf },
    #[error(
        "{path} has state schema version {found}, newer than the {SCHEMA_VERSION} this platform {} understands; upgrade platform",
        env!("CARGO_PKG_VERSION")
    )]
    NewerSchema { path: PathBuf, found: u32 },
    #[error("{path} is not a valid state file: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// How a phase last ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseStatus {
    /// Started and not finished: the process died or was killed mid-phase.
    Running,
    Succeeded,
    Failed,
}

/// What a phase recorded about its last run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    pub status: PhaseStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Hash of the config sections and upstream outputs the phase read (`sha256:<hex>`).
    pub fingerprint: String,
    /// The phase's outputs (resource ids, hosts, ...), read by later phases.
    #[serde(default)]
    pub outputs: serde_json::Value,
    /// The error of a failed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How many times the phase has been started.
    #[serde(default)]
    pub attempts: u32,
}

impl PhaseRecord {
    /// Wall time of the last run, when it finished.
    pub fn duration(&self) -> Option<time::Duration> {
        self.finished_at.map(|f| f - self.started_at)
    }
}

/// The whole state file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub schema_version: u32,
    pub cluster: String,
    /// The `platform` version that last wrote the file.
    pub written_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Per-phase records, keyed by phase name.
    #[serde(default)]
    pub phases: BTreeMap<Phase, PhaseRecord>,
}

impl State {
    /// An empty state for a cluster.
    pub fn new(cluster: &str) -> State {
        let now = now();
        State {
            schema_version: SCHEMA_VERSION,
            cluster: cluster.to_owned(),
            written_by: env!("CARGO_PKG_VERSION").to_owned(),
            created_at: now,
            updated_at: now,
            phases: BTreeMap::new(),
        }
    }

    /// The record of a phase, if it ever ran.
    pub fn phase(&self, p: Phase) -> Option<&PhaseRecord> {
        self.phases.get(&p)
    }

    /// Reads the state file in `dir`; `Ok(None)` when there is none yet. Older schema versions
    /// are migrated in memory (and written back at the next save); newer ones are refused.
    pub fn load(dir: &Path) -> Result<Option<State>, StateError> {
        let path = dir.join(STATE_FILE);
        let text = match fsutil::read_capped(&path, caps::STATE) {
            Ok(t) => t,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let corrupt = |message: String| StateError::Corrupt {
            path: path.clone(),
            message,
        };
        let mut value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        let found = match value.get("schema_version") {
            None => return Err(corrupt("no schema_version".into())),
            Some(v) => v.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
                corrupt(format!(
                    "schema_version is {v}; it is a positive integer (this platform writes {SCHEMA_VERSION})"
                ))
            })?,
        };
        let found = u32::try_from(found).unwrap_or(u32::MAX);
        if found > SCHEMA_VERSION {
            return Err(StateError::NewerSchema { path, found });
        }
        for (from, migrate) in MIGRATIONS {
            if value["schema_version"].as_u64() == Some(u64::from(*from)) {
                migrate(&mut value);
                value["schema_version"] = (from + 1).into();
            }
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| corrupt(e.to_string()))
    }

    /// Writes the state atomically with mode 0600. The caller must hold the lock.
    pub fn save(&mut self, dir: &Path, _lock: &StateLock) -> Result<(), StateError> {
        self.updated_at = now();
        self.written_by = env!("CARGO_PKG_VERSION").to_owned();
        self.schema_version = SCHEMA_VERSION;
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| StateError::Corrupt {
            path: dir.join(STATE_FILE),
            message: e.to_string(),
        })?;
        bytes.push(b'\n');
        Ok(fsutil::write_atomic(&dir.join(STATE_FILE), &bytes)?)
    }
}

/// Schema migrations: `(from_version, step)`, applied in order to the raw JSON. Version 1 is
/// the first released schema, so the list is empty; a change to the schema adds a step here
/// and bumps [`SCHEMA_VERSION`].
type Migration = (u32, fn(&mut serde_json::Value));
const MIGRATIONS: &[Migration] = &[];

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn saves_with_mode_0600_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let lock = StateLock::acquire(dir.path(), "test").unwrap();
        let mut s = State::new("demo");
        s.phases.insert(
            Phase::Infra,
            PhaseRecord {
                status: PhaseStatus::Succeeded,
                started_at: now(),
                finished_at: Some(now()),
                fingerprint: "sha256:00".into(),
                outputs: serde_json::json!({"lb_ip": "203.0.113.7"}),
                error: None,
                attempts: 1,
            },
        );
        s.save(dir.path(), &lock).unwrap();
        let path = dir.path().join(STATE_FILE);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = State::load(dir.path()).unwrap().unwrap();
        assert_eq!(back.phases, s.phases);
        assert_eq!(back.cluster, "demo");
        // No temp files are left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp.")), "{names:?}");
    }

    #[test]
    fn newer_schema_is_refused_and_garbage_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_FILE);
        fs::write(&path, r#"{"schema_version": 99, "cluster": "x"}"#).unwrap();
        let e = State::load(dir.path()).unwrap_err();
        assert!(
            matches!(e, StateError::NewerSchema { found: 99, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("upgrade platform"));
        for bad in ["0", "-1", "1.5", "\"1\""] {
            fs::write(
                &path,
                format!("{{\"schema_version\": {bad}, \"cluster\": \"x\"}}"),
            )
            .unwrap();
            let e = State::load(dir.path()).unwrap_err().to_string();
            assert!(e.contains("it is a positive integer"), "{bad}: {e}");
        }
        fs::write(&path, "{\"schema_ver").unwrap();
        assert!(matches!(
            State::load(dir.path()).unwrap_err(),
            StateError::Corrupt { .. }
        ));
    }

    #[test]
    fn missing_file_is_no_state() {
        let dir = tempfile::tempdir().unwrap();
        assert!(State::load(dir.path()).unwrap().is_none());
    }
}
