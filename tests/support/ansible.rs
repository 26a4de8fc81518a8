//! Finding the real Ansible tools for the compatibility tests: `PLATFORM_ANSIBLE_BIN` (set by
//! scripts/test.sh to its `.venv-ansible`) or PATH. In CI a missing tool is a failure, not a
//! skip.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};

/// The path of Ansible tool `name` (`ansible-playbook`, `ansible-inventory`), if installed.
pub fn find(name: &str) -> Option<PathBuf> {
    locate(name, true)
}

/// `PLATFORM_ANSIBLE_BIN/name`, else `name` on PATH. `strict`: when PLATFORM_ANSIBLE_BIN is
/// set, the tool must be there (ansible-core's own tools always are).
fn locate(name: &str, strict: bool) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PLATFORM_ANSIBLE_BIN") {
        let p = Path::new(&dir).join(name);
        assert!(
            !strict || p.is_file(),
            "PLATFORM_ANSIBLE_BIN is set but {} does not exist",
            p.display()
        );
        if p.is_file() {
            return Some(p);
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The tool, or `None` (skip, with the reason printed) outside CI; in CI it must exist.
pub fn require(name: &str) -> Option<PathBuf> {
    report_missing(
        name,
        find(name),
        "run scripts/test.sh or set PLATFORM_ANSIBLE_BIN to test Ansible compatibility",
    )
}

/// Like [`require`] for a tool installed beside ansible-core rather than with it (an older
/// `.venv-ansible` may lack it): `ansible-lint`.
pub fn require_extra(name: &str) -> Option<PathBuf> {
    report_missing(
        name,
        locate(name, false),
        "scripts/test.sh installs it beside ansible-core in .venv-ansible (pip install ansible-lint)",
    )
}

#[allow(clippy::print_stderr)] // the skip reason must reach the person running the tests
fn report_missing(name: &str, found: Option<PathBuf>, how: &str) -> Option<PathBuf> {
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} not found (set PLATFORM_ANSIBLE_BIN or run scripts/test.sh, which installs it in .venv-ansible)"
        );
        eprintln!("skipped: {name} not found; {how}");
    }
    found
}
