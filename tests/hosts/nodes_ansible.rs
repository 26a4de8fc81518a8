//! Compatibility with the real Ansible on real hosts (issue 5, "Done when"): the plain
//! `ansible-playbook -i inventories/<cluster>/hosts.yml playbooks/prepare.yml` (no extra
//! options: the inventory carries the user, the key and the cluster's known_hosts with
//! strict host key checking) prepares a fresh host of a local-cloud cluster, `platform play`
//! prepares another fresh host, both end in the same state, and each tool then finds
//! nothing to change on the host the other one prepared.
//!
//! `ansible-playbook` is found in `$PLATFORM_ANSIBLE_BIN` (a directory; `scripts/test.sh`
//! sets it to its virtualenv) or on PATH; it and root (for the hosts) go through
//! `support::require`.

#![allow(clippy::print_stderr)] // timings, shown with --nocapture

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::nodes::{NodeHost, count, recap};
use support::{Cluster, Need, require};

/// Runs `ansible-playbook` with its state (home, temp files, ControlPersist sockets) in a
/// directory of its own; dropping it closes the master connections Ansible leaves behind.
pub(crate) struct Ansible {
    bin: PathBuf,
    home: tempfile::TempDir,
}

impl Ansible {
    /// `ansible-playbook` from `support::ansible`, with a home of its own.
    pub(crate) fn new() -> Ansible {
        Ansible {
            bin: support::ansible("ansible-playbook"),
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// `ansible-playbook -i INVENTORY PLAYBOOK [EXTRA]` in `dir`: (success, stdout+stderr).
    pub(crate) fn playbook(
        &self,
        dir: &Path,
        inventory: &Path,
        book: &str,
        extra: &[&str],
    ) -> (bool, String) {
        let home = self.home.path();
        let out = Command::new(&self.bin)
            .arg("-i")
            .arg(inventory)
            .arg(book)
            .args(extra)
            .current_dir(dir)
            .env("ANSIBLE_HOME", home)
            .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
            .env("ANSIBLE_SSH_CONTROL_PATH_DIR", home.join("cp"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env_remove("ANSIBLE_CONFIG")
            .env_remove("ANSIBLE_HOST_KEY_CHECKING")
            .env_remove("ANSIBLE_SSH_ARGS")
            .env_remove("ANSIBLE_SSH_COMMON_ARGS")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

impl Drop for Ansible {
    fn drop(&mut self) {
        let cp = self.home.path().join("cp");
        for sock in std::fs::read_dir(cp).into_iter().flatten().flatten() {
            let _ = Command::new("ssh")
                .args(["-F", "/dev/null", "-O", "exit", "-o"])
                .arg(format!("ControlPath={}", sock.path().display()))
                .arg("unused")
                .output();
        }
    }
}

/// What prepare.yml leaves on a host, with the host's own names and address replaced: mode,
/// owner and type of every file and directory it makes (parents included, as Ansible's
/// `file` creates them), and the content of every file it writes.
fn end_state(c: &Cluster, h: &NodeHost) -> String {
    let paths = "/etc/hostname /etc/hosts /etc/modules-load.d /etc/modules-load.d/k3s.conf \
                 /etc/sysctl.d/90-k3s.conf /etc/rancher /etc/rancher/k3s /var/lib/rancher \
                 /var/lib/rancher/k3s /var/lib/rancher/k3s/server \
                 /var/lib/rancher/k3s/server/manifests /var/lib/rancher/k3s/agent \
                 /var/lib/rancher/k3s/agent/images";
    let script = format!(
        "sudo -n stat -c '%a %U:%G %F %n' {paths}; for f in /etc/hostname /etc/hosts \
         /etc/modules-load.d/k3s.conf /etc/sysctl.d/90-k3s.conf; do echo \"== $f\"; \
         sudo -n cat $f; done"
    );
    // The local cloud names each VM in its /etc/hosts (address, computer name) at boot.
    let vm = c.cloud().vm(&h.name);
    let computer = vm["computerName"].as_str().unwrap();
    c.ssh_ok(h, &script)
        .replace(&h.name, "HOST")
        .replace(computer, "COMPUTER")
        .replace(&h.ip, "ADDRESS")
}

/// Per-host `changed` counts of `platform play -o json`.
fn platform_changes(c: &Cluster, book: &str, limit: Option<&str>) -> Vec<(String, u64)> {
    let mut args = vec!["play", book, "-o", "json"];
    if let Some(l) = limit {
        args.extend(["--limit", l]);
    }
    let r = c.run(&args);
    assert_eq!(r.code, 0, "{r:?}");
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    json["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            assert_eq!(h["failed"], 0, "{h}");
            assert_eq!(h["unreachable"], 0, "{h}");
            (
                h["host"].as_str().unwrap().to_owned(),
                h["changed"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn ansible_playbook_and_platform_prepare_hosts_to_the_same_state() {
    if !require(&[Need::Hosts, Need::Ansible("ansible-playbook")]) {
        return;
    }
    let ansible = Ansible::new();
    let c = Cluster::with_hosts("e2eansible", 244, 1, 1).build();
    let book = format!("{}/playbooks/prepare.yml", env!("CARGO_MANIFEST_DIR"));

    // Fresh hosts: the cloud and the inventory, not the nodes phase.
    let up = c.run(&["up", "--only", "infra", "--only", "inventory"]);
    assert_eq!(up.code, 0, "{up:?}");
    let hosts = c.hosts();
    assert_eq!(hosts.len(), 2);
    let inventory = c.inventory_file("hosts.yml");
    let text = std::fs::read_to_string(&inventory).unwrap();
    let pin = format!(
        "-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes",
        c.known_hosts().display()
    );
    assert!(text.contains(&pin), "{text}");
    // First contact through platform records the host keys Ansible will be held to.
    let r = c.run(&["run", "--", "true"]);
    assert_eq!(r.code, 0, "{r:?}");

    let (server, agent) = (&hosts[1], &hosts[0]);
    assert!(server.name.contains("servers") && agent.name.contains("agents"));

    // Ansible prepares the agent, platform the server.
    let t = std::time::Instant::now();
    let (ok, out) = ansible.playbook(c.path(), &inventory, &book, &["--limit", &agent.name]);
    eprintln!("ansible-playbook, 1 fresh host: {:?}", t.elapsed());
    assert!(ok, "{out}");
    let r = recap(&out, &agent.name);
    assert_eq!(count(&r, "failed") + count(&r, "unreachable"), 0, "{out}");
    assert!(count(&r, "changed") >= 7, "{out}");
    let ours = platform_changes(&c, &book, Some(&server.name));
    assert_eq!(ours.len(), 1);
    assert!(ours[0].1 >= 7, "{ours:?}");

    // The same end state, file by file.
    let theirs = end_state(&c, agent);
    // prepare.yml names the host after its node name, the VM's computer name.
    assert!(theirs.contains("== /etc/hostname\nCOMPUTER\n"), "{theirs}");
    assert_eq!(end_state(&c, server), theirs);

    // Neither tool finds anything to change after the other.
    let t = std::time::Instant::now();
    let (ok, out) = ansible.playbook(c.path(), &inventory, &book, &[]);
    eprintln!("ansible-playbook, 2 prepared hosts: {:?}", t.elapsed());
    assert!(ok, "{out}");
    for h in &hosts {
        let r = recap(&out, &h.name);
        assert_eq!(
            (count(&r, "changed"), count(&r, "failed")),
            (0, 0),
            "{}: {out}",
            h.name
        );
    }
    for (host, changed) in platform_changes(&c, &book, None) {
        assert_eq!(changed, 0, "{host}");
    }
    drop(ansible);
    c.teardown();
}
