//! One gate for the tests that need what a machine may lack: root, OpenSSH, iproute2,
//! Ansible. A test that cannot run here says so on the terminal, as
//! `SKIPPED <test>: <what is missing and how to get it>`, written straight to the process's
//! stderr (libtest captures `eprintln!`, so a green run would hide it); when `CI` is set it
//! fails instead, so CI cannot skip anything.
//!
//! Tools are found one way: an Ansible tool in `$PLATFORM_ANSIBLE_BIN` when it is set
//! (scripts/test.sh sets it to `.venv-ansible/bin`), else on PATH; a system command on PATH
//! or in the sbin directories. kubectl is to be found the same way as Ansible, through a
//! variable of its own.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The directory holding `ansible-playbook`, `ansible-inventory` and `ansible-lint`.
pub const ANSIBLE_BIN_ENV: &str = "PLATFORM_ANSIBLE_BIN";

/// How to get the Ansible tools.
const ANSIBLE_HOW: &str = "scripts/test.sh installs ansible-core and ansible-lint into \
     .venv-ansible and sets PLATFORM_ANSIBLE_BIN to its bin/";

/// Something a test needs from the machine.
#[derive(Clone, Copy, Debug)]
pub enum Need {
    /// Running as root (network namespaces, mounts, a test user, sudoers).
    Root,
    /// Real SSH hosts on this machine, as the local cloud and the test sshds make them:
    /// root, `ip` (iproute2), `sshd` and `ssh` (OpenSSH), `sudo`.
    Hosts,
    /// A system command (`ip`, `unshare`, `chroot`).
    Command(&'static str),
    /// An Ansible tool (`ansible-playbook`, `ansible-inventory`, `ansible-lint`).
    Ansible(&'static str),
}

impl Need {
    /// What is missing of this need, each with how to get it.
    fn missing(self) -> Vec<String> {
        match self {
            Need::Root if !is_root() => vec![
                "needs root (network namespaces, mounts, sshd, a test user); run the tests as \
                 root, e.g. `sudo ./scripts/test.sh`"
                    .to_owned(),
            ],
            Need::Root => Vec::new(),
            Need::Hosts => [
                Need::Root,
                Need::Command("ip"),
                Need::Command("sshd"),
                Need::Command("ssh"),
                Need::Command("sudo"),
            ]
            .into_iter()
            .flat_map(Need::missing)
            .collect(),
            Need::Command(name) => match command(name) {
                Some(_) => Vec::new(),
                None => vec![format!(
                    "`{name}` not found (Debian package {}; scripts/test.sh installs it when \
                     run as root)",
                    package_of(name)
                )],
            },
            Need::Ansible(tool) => find_ansible(tool).err().into_iter().collect(),
        }
    }
}

/// Whether the test may run: true when every need is met. Otherwise prints
/// `SKIPPED <test>: <reasons>` to the terminal and returns false, or panics when `CI` is set.
/// The test's name is libtest's name for it (the thread it runs on).
pub fn require(needs: &[Need]) -> bool {
    let missing: Vec<String> = needs.iter().flat_map(|n| n.missing()).collect();
    match verdict(&test_name(), &missing, std::env::var_os("CI").is_some()) {
        Verdict::Run => true,
        Verdict::Skip(line) => {
            // Straight to fd 2: libtest's capture covers only the print macros.
            let _ = std::io::stderr().write_all(line.as_bytes());
            false
        }
        Verdict::Fail(why) => panic!("{why}"),
    }
}

/// What [`require`] does about a test.
#[derive(Debug, PartialEq)]
enum Verdict {
    Run,
    /// Skip it, printing this line.
    Skip(String),
    /// Fail it (CI), with this message.
    Fail(String),
}

/// The verdict on `test` given what is `missing` and whether `CI` is set.
fn verdict(test: &str, missing: &[String], ci: bool) -> Verdict {
    if missing.is_empty() {
        return Verdict::Run;
    }
    let why = missing.join("; ");
    if ci {
        Verdict::Fail(format!(
            "{test}: {why} (CI is set, and CI runs every test: a test that cannot run fails there)"
        ))
    } else {
        Verdict::Skip(format!("SKIPPED {test}: {why}\n"))
    }
}

/// The path of Ansible tool `tool`, which [`require`] found (`Need::Ansible(tool)`).
pub fn ansible(tool: &str) -> PathBuf {
    find_ansible(tool).unwrap_or_else(|why| panic!("{why} (gate the test with support::require)"))
}

/// `$PLATFORM_ANSIBLE_BIN/<tool>` when the variable is set (and nothing else then), else
/// `tool` on PATH; the error says what is missing and how to get it.
fn find_ansible(tool: &str) -> Result<PathBuf, String> {
    match std::env::var_os(ANSIBLE_BIN_ENV) {
        Some(dir) => {
            let p = Path::new(&dir).join(tool);
            if p.is_file() {
                Ok(p)
            } else {
                Err(format!(
                    "`{tool}` is not in {ANSIBLE_BIN_ENV}={} ({ANSIBLE_HOW})",
                    Path::new(&dir).display()
                ))
            }
        }
        None => on_path(tool).ok_or_else(|| {
            format!(
                "`{tool}` not found: {ANSIBLE_BIN_ENV} is not set and PATH has none ({ANSIBLE_HOW})"
            )
        }),
    }
}

/// A system command on PATH or in the sbin directories (which a non-root PATH may lack).
pub fn command(name: &str) -> Option<PathBuf> {
    on_path(name).or_else(|| {
        ["/usr/sbin", "/sbin"]
            .iter()
            .map(|d| Path::new(d).join(name))
            .find(|p| p.is_file())
    })
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The Debian package of a command the tests use.
fn package_of(name: &str) -> &'static str {
    match name {
        "ip" => "iproute2",
        "sshd" => "openssh-server",
        "ssh" | "ssh-keygen" => "openssh-client",
        "sudo" => "sudo",
        "unshare" | "flock" => "util-linux",
        "chroot" => "coreutils",
        "man" => "man-db",
        _ => "unknown: install it",
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// libtest runs each test on a thread named after it (`group::module::test`); a benchmark's
/// `main` runs on `main`, named here after its executable.
fn test_name() -> String {
    match std::thread::current().name() {
        Some(n) if n != "main" => n.to_owned(),
        _ => exe_name(),
    }
}

/// This executable's name without the `-<hash>` Cargo gives it.
pub(crate) fn exe_name() -> String {
    let arg0 = std::env::args().next().unwrap_or_default();
    let stem = Path::new(&arg0)
        .file_name()
        .map_or(arg0.clone(), |f| f.to_string_lossy().into_owned());
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_owned(),
        _ => stem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_with_everything_runs_and_one_without_skips_or_fails_in_ci() {
        assert_eq!(verdict("g::m::t", &[], false), Verdict::Run);
        assert_eq!(verdict("g::m::t", &[], true), Verdict::Run);
        let missing = ["needs root".to_owned(), "`ip` not found".to_owned()];
        assert_eq!(
            verdict("g::m::t", &missing, false),
            Verdict::Skip("SKIPPED g::m::t: needs root; `ip` not found\n".to_owned())
        );
        let Verdict::Fail(why) = verdict("g::m::t", &missing, true) else {
            panic!("CI must fail the test");
        };
        assert!(
            why.starts_with("g::m::t: needs root; `ip` not found (CI is set"),
            "{why}"
        );
    }

    #[test]
    fn a_missing_command_says_which_package_has_it() {
        let missing = Need::Command("sshd-of-no-package").missing();
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(missing[0].starts_with("`sshd-of-no-package` not found (Debian package"));
        assert_eq!(package_of("sshd"), "openssh-server");
        assert!(Need::Command("sh").missing().is_empty());
    }

    #[test]
    fn a_test_is_named_after_its_libtest_thread() {
        assert_eq!(
            test_name(),
            "require::tests::a_test_is_named_after_its_libtest_thread"
        );
    }
}
