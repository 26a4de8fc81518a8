//! A newcomer's first ten minutes (issue 9), the CLI: `platform completions` and `platform
//! man` describe every command; `platform doctor` reports what a config needs on this
//! machine, names what is missing with the command that installs it (`-o json` too); and
//! errors about a missing piece point to it.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;
use serde_json::Value;
use support::{Cluster, Need, finish, platform, require, run};

/// Every command name of the CLI, nested ones too (`local-cloud serve`).
fn command_names() -> Vec<String> {
    fn walk(c: &clap::Command, out: &mut Vec<String>) {
        for s in c.get_subcommands() {
            out.push(s.get_name().to_owned());
            walk(s, out);
        }
    }
    let mut out = Vec::new();
    walk(&platform::cli::Cli::command(), &mut out);
    assert!(out.len() > 10, "{out:?}");
    out
}

/// The top-level command names.
fn top_commands() -> Vec<String> {
    platform::cli::Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect()
}

#[test]
fn bash_completion_is_valid_bash_and_completes_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &["completions", "bash"]);
    assert_eq!(r.code, 0, "{r:?}");
    let file = dir.path().join("platform.bash");
    std::fs::write(&file, &r.stdout).unwrap();
    let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(check.status.success(), "bash -n: {check:?}");
    for name in command_names() {
        assert!(r.stdout.contains(&name), "no {name} in the bash completion");
    }
    // The other shells: a script that names every command too.
    for shell in ["zsh", "fish"] {
        let r = run(dir.path(), &["completions", shell]);
        assert_eq!(r.code, 0, "{r:?}");
        for name in command_names() {
            assert!(
                r.stdout.contains(&name),
                "no {name} in the {shell} completion"
            );
        }
    }
    let bad = run(dir.path(), &["completions", "tcsh"]);
    assert_eq!(bad.code, 2, "{bad:?}");
}

#[test]
fn man_page_has_its_header_and_every_command_and_renders() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &["man"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(".TH platform 1 "), "{}", r.stdout);
    // roff escapes the hyphen: platform\-local\-cloud(1).
    for name in &top_commands() {
        let page = format!("platform-{name}(1)").replace('-', "\\-");
        assert!(r.stdout.contains(&page), "no {page} in the man page");
    }
    // The page of one command, which the main page refers to.
    let sub = run(dir.path(), &["man", "local-cloud", "serve"]);
    assert_eq!(sub.code, 0, "{sub:?}");
    assert!(
        sub.stdout.contains(".TH platform-local-cloud-serve 1 "),
        "{}",
        sub.stdout
    );
    assert!(sub.stdout.contains("\\-\\-time\\-factor"), "{}", sub.stdout);
    let unknown = run(dir.path(), &["man", "nope"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown.stderr.contains("its commands: init, plan"),
        "{unknown:?}"
    );
}

/// The man page, rendered by man itself (scripts/install-deps.sh installs man-db), names
/// every command's page without a warning.
#[test]
fn man_renders_the_page_without_warnings() {
    if !require(&[Need::Command("man")]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &["man"]);
    assert_eq!(r.code, 0, "{r:?}");
    let file = dir.path().join("platform.1");
    std::fs::write(&file, &r.stdout).unwrap();
    let rendered = Command::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "200")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        rendered.status.success(),
        "man -l: {}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let errors = String::from_utf8_lossy(&rendered.stderr);
    assert!(!errors.contains("warning"), "{errors}");
    for name in top_commands() {
        assert!(text.contains(&format!("platform-{name}(1)")), "{text}");
    }
}

/// Parses `-o json doctor`'s stdout, which must be exactly one JSON document (no second
/// error document after a failing run).
fn doctor_json(cmd: &mut Command) -> (i32, Value) {
    let r = finish(cmd.args(["-o", "json", "doctor"]).output().unwrap());
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"));
    (r.code, v)
}

/// Asserts that `out` contains each of `parts`.
fn assert_has(out: &str, parts: &[&str]) {
    for p in parts {
        assert!(out.contains(p), "no {p:?} in\n{out}");
    }
}

/// The check of `item` in a doctor document.
fn item<'a>(doc: &'a Value, item: &str) -> &'a Value {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["item"] == item)
        .unwrap_or_else(|| panic!("no {item} in {doc:#}"))
}

#[test]
fn doctor_on_a_local_config_as_root_finds_root_sshd_and_ip() {
    if !require(&[Need::Hosts]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(run(dir.path(), &["init", "--cloud", "local"]).code, 0);
    let text = run(dir.path(), &["doctor"]);
    assert_eq!(text.code, 0, "{text:?}");
    assert_has(
        &text.stdout,
        &[
            "ok       required  root ",
            "ok       required  openssh-server  ",
            "ok       required  iproute2 (ip) ",
            "ok       required  sudo ",
            "ok       required  etcd-server (etcd) ",
            "ok       required  address space ",
            "ok       required  local cloud data dir ",
        ],
    );
    assert!(text.stdout.contains("everything this config needs is here"));
    let (code, doc) = doctor_json(&mut platform(dir.path()));
    assert_eq!(code, 0);
    assert_eq!(doc["ok"], true, "{doc:#}");
    assert_eq!(doc["cloud"], "local");
    assert_eq!(item(&doc, "openssh-server")["detail"], "/usr/sbin/sshd");
    assert_eq!(item(&doc, "root")["ok"], true);
    assert_eq!(item(&doc, "kubectl")["required"], false);
    // Doctor only looks: nothing was created.
    assert!(!dir.path().join(".platform").exists());
}

/// A `PATH` directory holding links to the system's copies of `tools` only.
fn path_with(dir: &Path, tools: &[&str]) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = std::env::var_os("PATH").unwrap_or_default();
    for tool in tools {
        let found = std::env::split_paths(&path)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
            .map(|d| d.join(tool))
            .find(|p| p.is_file());
        if let Some(p) = found {
            std::os::unix::fs::symlink(p, bin.join(tool)).unwrap();
        }
    }
    bin
}

#[test]
fn doctor_names_what_is_missing_with_the_apt_get_command() {
    // A local config that asks for hosts, on a PATH without `ip` and `sudo`.
    let c = Cluster::local("doctor").realize_hosts().build();
    let bin = path_with(
        c.path(),
        &["ssh", "unshare", "chroot", "mknod", "mount", "hostname"],
    );
    let r = finish(
        c.command()
            .env("PATH", &bin)
            .arg("doctor")
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert_has(
        &r.stdout,
        &[
            "missing  required  sudo ",
            "missing  required  iproute2 (ip) ",
            "  sudo: apt-get install -y sudo",
            "  iproute2 (ip): apt-get install -y iproute2",
        ],
    );
    let install = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("install every missing package: "))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(install.ends_with("sudo iproute2"), "{install}");
    assert!(r.stderr.contains("required items for this config"), "{r:?}");
    assert!(r.stderr.contains("sudo, iproute2 (ip)"), "{r:?}");

    let (code, doc) = doctor_json(c.command().env("PATH", &bin));
    assert_eq!(code, 1);
    assert_eq!(doc["ok"], false);
    assert_eq!(item(&doc, "sudo")["ok"], false);
    assert_eq!(item(&doc, "sudo")["fix"], "apt-get install -y sudo");
    assert_eq!(item(&doc, "iproute2 (ip)")["detail"], "ip not on PATH");
    assert!(
        doc["install"].as_str().unwrap().ends_with("sudo iproute2"),
        "{doc:#}"
    );
    assert_eq!(item(&doc, "openssh-client (ssh)")["ok"], true, "{doc:#}");
}

#[test]
fn doctor_on_azure_names_the_credential_source_and_never_its_value() {
    let c = Cluster::azure("prod").build();
    // A service principal in the environment: the chain takes it without probing anything
    // on the network.
    let secret = "s3cr3t-value-never-printed";
    let mut cmd = c.command();
    cmd.env("AZURE_TENANT_ID", "tenant-x")
        .env("AZURE_CLIENT_ID", "client-x")
        .env("AZURE_CLIENT_SECRET", secret)
        .env_remove("AZURE_FEDERATED_TOKEN_FILE");
    let text = finish(cmd.arg("doctor").output().unwrap());
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout.contains(
            "would use service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET set (values not shown)"
        ),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("credential chain, in order:"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("workload identity: skipped: AZURE_FEDERATED_TOKEN_FILE not set"),
        "{}",
        text.stdout
    );
    let mut cmd = c.command();
    cmd.env("AZURE_TENANT_ID", "tenant-x")
        .env("AZURE_CLIENT_ID", "client-x")
        .env("AZURE_CLIENT_SECRET", secret);
    let (code, doc) = doctor_json(&mut cmd);
    assert_eq!(code, 0);
    assert_eq!(doc["cloud"], "azure");
    assert_eq!(doc["credential_chain"][0]["name"], "service principal");
    assert_eq!(doc["credential_chain"][0]["available"], true);
    for out in [&text.stdout, &text.stderr, &doc.to_string()] {
        assert!(!out.contains(secret), "the secret was printed: {out}");
        assert!(
            !out.contains("tenant-x") && !out.contains("client-x"),
            "{out}"
        );
    }
}

#[test]
fn a_missing_piece_points_to_doctor() {
    // VMs that are records only: the nodes phase says so, and where to look.
    let c = Cluster::local("records").build();
    let up = c.run(&["up"]);
    assert_eq!(up.code, 1, "{up:?}");
    assert!(
        up.stderr
            .contains("error: phase nodes failed: the local cloud's VMs are records only"),
        "{up:?}"
    );
    assert!(
        up.stderr.contains(
            "hint: `platform doctor` lists what this machine lacks for this config and the commands that install it; then run `platform up` again: it resumes at nodes"
        ),
        "{up:?}"
    );

    // `cloud.local_hosts: true` without root: refused as a usage error (exit 2), with the
    // same hint. As root, the binary runs as `nobody` (setpriv drops every privilege).
    let c = Cluster::local("noroot").realize_hosts().build();
    let root =
        std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    let mut cmd = if root {
        std::fs::set_permissions(
            c.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        let mut setpriv = Command::new("setpriv");
        setpriv
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(support::platform_bin())
            .current_dir(c.path())
            .env("NO_COLOR", "1")
            .env_remove("PLATFORM_CONFIG")
            .env_remove("PLATFORM_STATE_DIR");
        setpriv
    } else {
        c.command()
    };
    let r = finish(cmd.args(["up", "--only", "infra"]).output().unwrap());
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("cloud.local_hosts: realizing VMs as hosts needs root"),
        "{r:?}"
    );
    assert!(r.stderr.contains("hint: `platform doctor` lists"), "{r:?}");
}
