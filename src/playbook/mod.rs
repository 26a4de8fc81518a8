//! The playbook engine: a subset of Ansible's playbook syntax, run over the [`Host`] seam,
//! so that `ansible-playbook` can run the very same files.
//!
//! - `parse`: YAML to [`Playbook`]; anything outside the subset is an error naming the file,
//!   line and keyword.
//! - `jinja`: `{{ }}` and conditions through minijinja (undefined variables are errors).
//! - `modules`: each module renders ONE shell script per task that checks and changes.
//! - `run`: plays, hosts concurrently (`forks`, `serial`), tasks in order per host.
//! - `report`: per-task results and the Ansible-shaped recap.
//!
//! The supported subset and what is left out are listed in `docs/playbooks.md`.
//!
//! [`Host`]: crate::ssh::host::Host

pub mod ast;
pub mod jinja;
pub mod modules;
mod parse;
pub mod report;
mod run;
mod task;

use std::path::{Path, PathBuf};

pub use ast::{Cond, ModuleKind, Play, Playbook, Serial, Task};
pub use parse::parse_playbook;
pub use report::{HostRecap, RunReport, Status, TaskResult};
pub use run::{Event, EventSink, RunOptions, Target, run_playbook};

/// The node preparation playbook (cloud-init, hostname, kernel modules, sysctls, k3s
/// directories), embedded so that the binary needs no files beside it.
pub const PREPARE_YML: &str = include_str!("../../playbooks/prepare.yml");

/// One problem in a playbook file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The tasks file it is in (`import_tasks`); `None`: the playbook itself.
    pub file: Option<PathBuf>,
    /// 1-based line (0 when unknown).
    pub line: u64,
    /// The keyword at fault (empty when the problem is not one keyword).
    pub keyword: String,
    pub message: String,
}

/// Why a playbook could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum PlaybookError {
    #[error("{}", invalid_message(file, issues))]
    Invalid { file: PathBuf, issues: Vec<Issue> },
    #[error("cannot read playbook {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("extra variable {0:?}: expected KEY=VALUE")]
    ExtraVar(String),
    #[error(transparent)]
    Pattern(#[from] crate::pattern::PatternError),
}

fn invalid_message(file: &Path, issues: &[Issue]) -> String {
    let n = issues.len();
    let mut s = format!(
        "{} is outside the supported playbook subset ({n} problem{}):",
        file.display(),
        if n == 1 { "" } else { "s" }
    );
    for i in issues {
        s.push_str(&format!(
            "\n  - {}:{}: {}",
            i.file.as_deref().unwrap_or(file).display(),
            i.line,
            i.message
        ));
    }
    s
}

/// Reads and parses a playbook file; `templates/` and `files/` are looked up beside it.
pub fn load(path: &Path) -> Result<Playbook, PlaybookError> {
    let text = crate::fsutil::read_capped(path, crate::fsutil::caps::PLAYBOOK).map_err(|e| {
        PlaybookError::Read {
            path: path.to_owned(),
            source: e.source,
        }
    })?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    parse_playbook(&text, path, &dir)
}

/// The embedded `prepare.yml`.
#[allow(
    clippy::expect_used,
    reason = "an embedded file that does not parse is a build defect, caught by its test"
)]
pub fn prepare() -> Playbook {
    parse_playbook(
        PREPARE_YML,
        Path::new("<embedded>/playbooks/prepare.yml"),
        Path::new("/nonexistent-embedded-playbooks"),
    )
    .expect("the embedded prepare.yml parses")
}

/// Parses `-e KEY=VALUE` pairs (values are strings, as on Ansible's command line; a value
/// that starts with `{` or `[` is read as JSON, like Ansible's `-e '{"k": 1}'` form).
pub fn parse_extra_vars(
    pairs: &[String],
) -> Result<serde_json::Map<String, serde_json::Value>, PlaybookError> {
    let mut m = serde_json::Map::new();
    for p in pairs {
        if p.trim_start().starts_with('{') {
            match serde_json::from_str::<serde_json::Value>(p) {
                Ok(serde_json::Value::Object(o)) => m.extend(o),
                _ => return Err(PlaybookError::ExtraVar(p.clone())),
            }
            continue;
        }
        let (k, v) = p
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| PlaybookError::ExtraVar(p.clone()))?;
        m.insert(k.to_owned(), serde_json::Value::String(v.to_owned()));
    }
    Ok(m)
}

#[cfg(test)]
mod import_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod until_tests;
