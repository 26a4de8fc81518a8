//! The embedded `prepare.yml` on namespace hosts shaped like the local cloud's (own network
//! namespace, copy-on-write overlay of `/`, the machine's kernel and UTS namespace): it
//! succeeds, changes the hosts' files only, and a second run reports zero changes.
//!
//! Needs root, `ip`, `unshare` and `chroot` ([`NS_HOSTS`], through `support::require`).

use platform::playbook::{self, RunOptions, Status, Target};
use platform::ssh::host::Host;
use std::sync::Arc;
use support::{Need, require};

use super::ns_host::{NS_HOSTS, NsHost};

/// Puts the machine's hostname back even if the test fails: a prepare.yml that renamed the
/// machine must not leave it renamed.
struct RestoreHostname(String);

impl Drop for RestoreHostname {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/kernel/hostname", self.0.trim());
    }
}

#[tokio::test]
async fn prepare_succeeds_on_namespace_hosts_and_is_idempotent() {
    if !require(&NS_HOSTS) {
        return;
    }
    let machine_hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let _restore = RestoreHostname(machine_hostname.clone());
    let dir = tempfile::tempdir().unwrap();
    let hosts: Vec<Arc<NsHost>> = ["node-0", "node-1"]
        .iter()
        .map(|n| Arc::new(NsHost::create(dir.path(), n)))
        .collect();
    let targets: Vec<Target> = hosts
        .iter()
        .map(|h| Target {
            host: h.clone(),
            groups: vec!["servers".into()],
            vars: Default::default(),
        })
        .collect();
    let book = playbook::prepare();
    let first = playbook::run_playbook(&book, &targets, &RunOptions::default())
        .await
        .unwrap();
    let failures: Vec<_> = first
        .results
        .iter()
        .filter(|r| r.status == Status::Failed)
        .collect();
    assert!(first.success(), "{failures:#?}");
    assert!(first.changed() > 0);
    for h in &hosts {
        let up = |p: &str| h.upper.join(p);
        assert_eq!(
            std::fs::read_to_string(up("etc/hostname")).unwrap(),
            format!("{}\n", h.name())
        );
        assert!(
            std::fs::read_to_string(up("etc/hosts"))
                .unwrap()
                .contains(&format!("127.0.1.1 {}", h.name()))
        );
        assert_eq!(
            std::fs::read_to_string(up("etc/modules-load.d/k3s.conf")).unwrap(),
            "overlay\nbr_netfilter\n"
        );
        assert!(
            std::fs::read_to_string(up("etc/sysctl.d/90-k3s.conf"))
                .unwrap()
                .contains("net.ipv4.ip_forward = 1")
        );
        assert!(up("etc/rancher/k3s").is_dir());
        assert!(up("var/lib/rancher/k3s/server/manifests").is_dir());
    }
    // The machine itself was not renamed by a host sharing its UTS namespace.
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        machine_hostname
    );
    let second = playbook::run_playbook(&book, &targets, &RunOptions::default())
        .await
        .unwrap();
    let changed: Vec<_> = second
        .results
        .iter()
        .filter(|r| r.status != Status::Ok)
        .map(|r| (&r.host, &r.task, r.status))
        .collect();
    assert!(second.success() && changed.is_empty(), "{changed:?}");
    // Check mode after drift: reported, not changed.
    std::fs::write(
        hosts[0].upper.join("etc/modules-load.d/k3s.conf"),
        "overlay\n",
    )
    .unwrap();
    let opts = RunOptions {
        check: true,
        diff: true,
        ..RunOptions::default()
    };
    let check = playbook::run_playbook(&book, &targets, &opts)
        .await
        .unwrap();
    assert_eq!(check.hosts[0].changed, 1, "{:#?}", check.hosts);
    assert_eq!(check.hosts[1].changed, 0);
    assert_eq!(
        std::fs::read_to_string(hosts[0].upper.join("etc/modules-load.d/k3s.conf")).unwrap(),
        "overlay\n"
    );
}

/// `ansible-playbook -c local` run inside a namespace host on the very same prepare.yml gives
/// the same files, and our engine then finds nothing to change there (ansible-core from
/// `PLATFORM_ANSIBLE_BIN` or PATH).
#[tokio::test]
async fn ansible_playbook_runs_prepare_to_the_same_end_state() {
    if !(require(&NS_HOSTS) && require(&[Need::Ansible("ansible-playbook")])) {
        return;
    }
    let _restore = RestoreHostname(std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap());
    let dir = tempfile::tempdir().unwrap();
    let book_path = dir.path().join("prepare.yml");
    std::fs::write(&book_path, playbook::PREPARE_YML).unwrap();
    let host = Arc::new(NsHost::create(dir.path(), "node-a"));
    let (status, stdout) = host
        .ansible_playbook(&format!("-i node-a, -c local {}", book_path.display()))
        .await;
    assert_eq!(status, 0, "{stdout}");
    assert!(stdout.contains("failed=0"), "{stdout}");
    let up = |p: &str| std::fs::read_to_string(host.upper.join(p)).unwrap();
    assert_eq!(up("etc/hostname"), "node-a\n");
    assert_eq!(up("etc/modules-load.d/k3s.conf"), "overlay\nbr_netfilter\n");
    assert!(up("etc/hosts").contains("127.0.1.1 node-a\n"));
    let targets = vec![Target {
        host: host.clone(),
        groups: Vec::new(),
        vars: Default::default(),
    }];
    let ours = playbook::run_playbook(&playbook::prepare(), &targets, &RunOptions::default())
        .await
        .unwrap();
    let changed: Vec<_> = ours
        .results
        .iter()
        .filter(|r| r.status != Status::Ok)
        .map(|r| (&r.task, r.status, &r.msg))
        .collect();
    assert!(changed.is_empty(), "after ansible-playbook: {changed:?}");
}
