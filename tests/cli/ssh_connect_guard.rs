//! `SshHost::connect` itself refuses a target whose address or user `ssh` would read as an
//! option, before it starts any process: whatever produced the target (an inventory reader
//! that forgot the check, a future source), no `ssh`, `ssh-keygen` or `ssh-keyscan` runs.
//!
//! The connecting side is this test binary re-executed (the ignored `connect_child`) with a
//! `PATH` whose `ssh`, `ssh-keygen` and `ssh-keyscan` only record that they ran.

use platform::ssh::{SshHost, SshOptions, Target};
use std::path::Path;
use std::time::Duration;

const DIR_ENV: &str = "PLATFORM_TEST_CONNECT_DIR";

#[test]
#[ignore = "the connecting process of ssh_connect_refuses_option_like_targets_before_running_ssh"]
fn connect_child() {
    let Some(dir) = std::env::var_os(DIR_ENV) else {
        panic!("connect_child is re-executed by its test; run that test instead");
    };
    let dir = Path::new(&dir);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let user = read("user");
    let target = Target {
        name: "web-1".into(),
        address: read("address"),
        port: 22,
        user: (!user.is_empty()).then_some(user),
        keyfile: None,
    };
    let mut opts = SshOptions::new(dir.join("known_hosts"), dir.join("ssh"), "ubuntu");
    opts.boot_wait = Duration::ZERO;
    let result = support::block_on(SshHost::connect(&target, &opts));
    let err = result
        .map(|_| ())
        .expect_err("the fake ssh connects nowhere");
    std::fs::write(dir.join("error"), err.to_string()).unwrap();
}

/// Connects to `address` as `user` ("" for none) with the recording `ssh` first on `PATH`;
/// gives the error and what ran (one line per process, empty when nothing did).
fn connect(address: &str, user: &str) -> (String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let ran = dir.path().join("ran");
    for tool in ["ssh", "ssh-keygen", "ssh-keyscan"] {
        let script = format!(
            "#!/bin/sh\necho \"{tool} $*\" >> '{}'\necho 'fake {tool}: refused' >&2\nexit 255\n",
            ran.display()
        );
        let path = bin.join(tool);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    std::fs::write(dir.path().join("address"), address).unwrap();
    std::fs::write(dir.path().join("user"), user).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let out = support::rerun_ignored(module_path!(), "connect_child")
        .env(DIR_ENV, dir.path())
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let error = std::fs::read_to_string(dir.path().join("error")).unwrap();
    let ran = std::fs::read_to_string(&ran).unwrap_or_default();
    (error, ran, dir)
}

#[test]
fn ssh_connect_refuses_option_like_targets_before_running_ssh() {
    // Control: an ordinary address does reach the recording tools.
    let (error, ran, _dir) = connect("192.0.2.10", "");
    assert!(error.starts_with("web-1: "), "{error}");
    assert!(ran.lines().any(|l| l.starts_with("ssh ")), "{ran}");

    let marker = tempfile::tempdir().unwrap();
    let marker = marker.path().join("pwned");
    let hostile = format!("-oProxyCommand=touch {}", marker.display());
    for (address, user, want) in [
        (
            hostile.as_str(),
            "",
            format!(
                "web-1: ansible_host {hostile:?} starts with '-', which ssh would read as an option; give an address or host name"
            ),
        ),
        (
            "192.0.2.10",
            "-lroot",
            "web-1: ansible_user \"-lroot\" starts with '-', which ssh would read as an option; give an address or host name".to_owned(),
        ),
    ] {
        let (error, ran, dir) = connect(address, user);
        assert_eq!(ran, "", "{address} {user}: a process ran");
        assert_eq!(error, want);
        // Refused before anything was prepared for the host.
        assert!(!dir.path().join("ssh").exists());
        assert!(!dir.path().join("known_hosts").exists());
    }
    assert!(!marker.exists());
}
