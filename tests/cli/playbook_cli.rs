//! `platform play --connection local` on a temp dir: real changes, a second run with no
//! changes, `--check --diff`, failures and exit codes, JSON output, and (when ansible-core is
//! installed) the same playbook through `ansible-playbook` with the same end state.

use std::path::{Path, PathBuf};
use support::{Need, Run, require, run};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/playbook/site.yml")
}

fn play(dir: &Path, extra: &[&str]) -> Run {
    let base = format!("base={}", dir.display());
    let book = fixture();
    let mut args = vec![
        "play",
        book.to_str().unwrap(),
        "--connection",
        "local",
        "-e",
        &base,
    ];
    args.extend_from_slice(extra);
    run(dir, &args)
}

fn recap_counts(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("localhost"))
        .unwrap_or_else(|| panic!("no recap in {stdout}"));
    line.split_whitespace()
        .skip(2)
        .take(5)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_playbook_changes_once_then_reports_no_changes() {
    let dir = tempfile::tempdir().unwrap();
    let first = play(dir.path(), &[]);
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(
        recap_counts(&first.stdout),
        "ok=8 changed=5 unreachable=0 failed=0 skipped=0"
    );
    let app = dir.path().join("etc/app");
    assert_eq!(
        std::fs::read_to_string(app.join("app.conf")).unwrap(),
        "greeting = hello from localhost\nport = 8080\n"
    );
    assert_eq!(
        std::fs::read_to_string(app.join("motd")).unwrap(),
        "Welcome to localhost.\nHELLO FROM LOCALHOST\n"
    );
    assert_eq!(
        std::fs::read_to_string(app.join("limits.conf")).unwrap(),
        "max_open = 4096\n"
    );
    let second = play(dir.path(), &[]);
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(
        recap_counts(&second.stdout),
        "ok=8 changed=0 unreachable=0 failed=0 skipped=0"
    );
    // Drift, then --check --diff: reported with a diff, nothing changed.
    std::fs::write(app.join("app.conf"), "greeting = drifted\nport = 8080\n").unwrap();
    let check = play(dir.path(), &["--check", "--diff"]);
    assert_eq!(check.code, 0, "{check:?}");
    assert!(
        check.stdout.contains("-greeting = drifted")
            && check.stdout.contains("+greeting = hello from localhost"),
        "{}",
        check.stdout
    );
    assert_eq!(
        std::fs::read_to_string(app.join("app.conf")).unwrap(),
        "greeting = drifted\nport = 8080\n"
    );
    assert_eq!(
        recap_counts(&check.stdout),
        // As ansible-playbook --check: `command` and `wait_for` are skipped.
        "ok=6 changed=1 unreachable=0 failed=0 skipped=2"
    );
}

#[test]
fn json_output_has_results_and_recap() {
    let dir = tempfile::tempdir().unwrap();
    let out = play(dir.path(), &["--output", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["hosts"][0]["host"], "localhost");
    assert_eq!(v["hosts"][0]["changed"], 5);
    assert_eq!(v["results"].as_array().unwrap().len(), 8);
    assert_eq!(v["results"][0]["status"], "changed");
}

#[test]
fn failures_and_rejected_playbooks_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "- hosts: all\n  tasks:\n    - name: x\n      command: echo\n      with_items: [1]\n",
    )
    .unwrap();
    let r = run(dir.path(), &["play", "bad.yml", "--connection", "local"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("bad.yml:5: `with_items`"), "{}", r.stderr);

    let failing = dir.path().join("fail.yml");
    std::fs::write(
        &failing,
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - shell: echo broken >&2; exit 7\n    - command: \"true\"\n",
    )
    .unwrap();
    let r = run(dir.path(), &["play", "fail.yml", "--connection", "local"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("fatal: [localhost]") && r.stdout.contains("broken"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("failed=1"), "{}", r.stdout);
    assert!(
        !r.stdout.contains("command true"),
        "a failed host must stop: {}",
        r.stdout
    );

    // Over SSH (the default) the play needs a cluster: without its config, exit 2 saying so.
    let r = run(dir.path(), &["play", "fail.yml"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("platform.yaml") && r.stderr.contains("platform init"),
        "{}",
        r.stderr
    );
}

/// The very same file through `ansible-playbook` (in `PLATFORM_ANSIBLE_BIN`, which
/// scripts/test.sh sets to its virtualenv, or on PATH).
#[test]
fn ansible_playbook_runs_the_same_file_to_the_same_end_state() {
    if !require(&[Need::Ansible("ansible-playbook")]) {
        return;
    }
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    assert_eq!(play(ours.path(), &[]).code, 0);
    let base = format!("base={}", theirs.path().display());
    let (ok, stdout) = ansible_local(&fixture(), &["-e", &base]);
    assert!(ok, "{stdout}");
    assert!(stdout.contains("ok=8    changed=5"), "{stdout}");
    for f in ["app.conf", "motd", "limits.conf", "stamp"] {
        let a = ours.path().join("etc/app").join(f);
        let b = theirs.path().join("etc/app").join(f);
        assert_eq!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "{f} differs"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(mode(&a), mode(&b), "{f} mode differs");
    }
}

/// `ansible-playbook -i localhost, -c local ARGS BOOK` (gate the test with
/// `Need::Ansible("ansible-playbook")`): whether it succeeded, and its stdout and stderr.
pub(crate) fn ansible_local(book: &Path, args: &[&str]) -> (bool, String) {
    let ansible = support::ansible("ansible-playbook");
    // Use the interpreter next to ansible-playbook: the system's may not be usable.
    let python = ansible.with_file_name("python");
    let mut cmd = std::process::Command::new(&ansible);
    cmd.args(["-i", "localhost,", "-c", "local"])
        .args(args)
        .env("ANSIBLE_NOCOLOR", "1");
    if python.exists() {
        cmd.arg("-e")
            .arg(format!("ansible_python_interpreter={}", python.display()));
    }
    let out = cmd.arg(book).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
