//! Every playbook we ship (`playbooks/*.yml`) passes `ansible-lint --profile production`,
//! the Ansible community linter's strictest profile, run offline (no Galaxy, no schema
//! refresh, no version check).

use std::path::{Path, PathBuf};
use std::process::Output;
use support::{Need, require};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `ansible-lint --offline --profile production TARGET` in `dir`, with a private HOME and
/// cache so nothing outside a temp dir is read or written.
fn lint(bin: &Path, dir: &Path, target: &str, home: &Path) -> Output {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin.parent().unwrap().to_owned()];
    dirs.extend(std::env::split_paths(&path));
    std::process::Command::new(bin)
        .current_dir(dir)
        .args(["--offline", "--profile", "production", target])
        // Offline: no schema refresh from the internet (--offline also implies it).
        .env("ANSIBLE_LINT_SKIP_SCHEMA_UPDATE", "1")
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
        // The virtualenv's own tools first, as an activated virtualenv has them.
        .env("PATH", std::env::join_paths(dirs).unwrap())
        .env("NO_COLOR", "1")
        .output()
        .expect("run ansible-lint")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn shipped_playbooks_pass_the_production_profile() {
    if !require(&[Need::Ansible("ansible-lint")]) {
        return;
    }
    let bin = support::ansible("ansible-lint");
    let home = tempfile::tempdir().unwrap();
    let books: Vec<_> = std::fs::read_dir(repo().join("playbooks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    assert!(!books.is_empty(), "no playbooks found");
    let out = lint(&bin, &repo(), "playbooks/", home.path());
    let report = text(&out);
    assert!(
        out.status.success(),
        "ansible-lint found problems:\n{report}"
    );
    assert!(report.contains("0 failure(s), 0 warning(s)"), "{report}");

    // The same run on a playbook with the findings prepare.yml once had must fail, so the
    // check above cannot pass because the linter checked nothing.
    let bad = tempfile::tempdir().unwrap();
    std::fs::create_dir(bad.path().join("playbooks")).unwrap();
    std::fs::write(
        bad.path().join("playbooks/bad.yml"),
        r#"---
- name: Bad
  hosts: all
  gather_facts: false
  tasks:
    - name: Create a directory without a mode
      ansible.builtin.file:
        path: /tmp/x
        state: directory

    - name: Pipe without pipefail
      ansible.builtin.shell: cat /etc/hostname | tr a-z A-Z
      changed_when: false
"#,
    )
    .unwrap();
    let out = lint(&bin, bad.path(), "playbooks/", home.path());
    let report = text(&out);
    assert!(!out.status.success(), "{report}");
    assert!(
        report.contains("risky-file-permissions") && report.contains("risky-shell-pipe"),
        "{report}"
    );
}
