//! The error classes every command can end with, and their exit codes.
//!
//! Exit codes (also in `--help` and the README): 0 ok, 1 operation failed, 2 bad usage or
//! config, 3 the state is locked by another `platform` process.

use crate::config::ConfigError;
use crate::phase::Phase;
use crate::state::StateError;

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: an operation failed (cloud, SSH, a phase).
pub const EXIT_FAILED: i32 = 1;
/// Exit code: bad usage or an invalid config; nothing was touched.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: another process holds the state lock.
pub const EXIT_LOCKED: i32 = 3;
/// `status` found the cluster unhealthy (a host unreachable, a node not Ready, a resource
/// not Succeeded).
pub const EXIT_UNHEALTHY: i32 = 4;

/// The hint of every error about something this machine lacks.
const DOCTOR_HINT: &str = "`platform doctor` lists what this machine lacks for this config and the commands that install it";

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Fs(#[from] crate::fsutil::FsError),
    #[error("phase {phase} is not built yet: {what}")]
    NotBuilt { phase: Phase, what: &'static str },
    /// A phase ended with an error; `hint` is that error's own hint, if it had one.
    #[error("phase {phase} failed: {message}")]
    PhaseFailed {
        phase: Phase,
        message: String,
        hint: Option<String>,
    },
    /// This machine lacks what the config needs (root, a package, free addresses):
    /// `platform doctor` lists it with the commands that install it. `explicit` when the
    /// config asked for it in so many words (then a usage error, exit 2).
    #[error("{message}")]
    Unmet { message: String, explicit: bool },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Arm(#[from] crate::azure::ArmError),
    #[error("local cloud: {0}")]
    LocalCloud(#[from] local_cloud::LocalCloudError),
    #[error(transparent)]
    Playbook(#[from] crate::playbook::PlaybookError),
    #[error("{0}")]
    Failed(String),
    /// `status`: the cluster answered, and not as recorded.
    #[error("the cluster is unhealthy: {0}")]
    Unhealthy(String),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Usage(_) => EXIT_USAGE,
            Error::Unmet { explicit: true, .. } => EXIT_USAGE,
            Error::Playbook(
                crate::playbook::PlaybookError::Invalid { .. }
                | crate::playbook::PlaybookError::ExtraVar(_)
                | crate::playbook::PlaybookError::Pattern(_)
                | crate::playbook::PlaybookError::Read { .. },
            ) => EXIT_USAGE,
            Error::State(StateError::Locked { .. }) => EXIT_LOCKED,
            Error::Unhealthy(_) => EXIT_UNHEALTHY,
            Error::State(StateError::NewerSchema { .. }) => EXIT_USAGE,
            _ => EXIT_FAILED,
        }
    }

    /// An I/O error with what was being done and to which path.
    pub fn io(what: &str, path: &std::path::Path, source: std::io::Error) -> Error {
        Error::Io {
            context: format!("{what} {}", path.display()),
            source,
        }
    }

    /// A one-line `hint:` for the user, when there is an obvious next step.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::State(StateError::Locked { .. }) => {
                Some("wait for that command to finish; the lock is released when it exits".into())
            }
            Error::PhaseFailed { phase, hint, .. } => Some(match hint {
                Some(h) => format!("{h}; then run `platform up` again: it resumes at {phase}"),
                None => format!("fix the cause and run `platform up` again: it resumes at {phase}"),
            }),
            Error::Unmet { .. } => Some(DOCTOR_HINT.into()),
            Error::NotBuilt { .. } => {
                Some("`platform plan` shows which phases this build can run".into())
            }
            // Azure's own advice for its error codes, whichever command met them.
            Error::Arm(e) => e.hint(),
            _ => None,
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
