//! Finding the real Ansible tools for the compatibility tests: `PLATFORM_ANSIBLE_BIN` (set by
//! scripts/test.sh to its `.venv-ansible`) or PATH. In CI a missing tool is a failure, not a
//! skip.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};

/// The path of Ansible tool `name` (`ansible-playbook`, `ansible-inventory`), if installed.
pub fn find(name: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PLATFORM_ANSIBLE_BIN") {
        let p = Path::new(&dir).join(name);
        assert!(
            p.is_file(),
            "PLATFORM_ANSIBLE_BIN is set but {} does not exist",
            p.display()
        );
        return Some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The tool, or `None` (skip, with the reason printed) outside CI; in CI it must exist.
#[allow(clippy::print_stderr)] // the skip reason must reach the person running the tests
pub fn require(name: &str) -> Option<PathBuf> {
    let found = find(name);
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} not found (set PLATFORM_ANSIBLE_BIN or run scripts/test.sh, which installs ansible-core in .venv-ansible)"
        );
        eprintln!(
            "SKIPPED: {name} not found; run scripts/test.sh or set PLATFORM_ANSIBLE_BIN to test Ansible compatibility"
        );
    }
    found
}
