//! Issue 11 end to end: `platform up` installs k3s on real local-cloud hosts (the local
//! cloud's k3s stand-in, fetched from its release mirror by the `download` path, run by the
//! hosts' systemctl), writes the cluster's kubeconfig and waits until every host is a Ready
//! node; real `kubectl` reads the cluster through that kubeconfig; a second `up` touches no
//! host (no change, no restart, the same token). Root needed (`support::require` skips with
//! the reason elsewhere, fails under CI).

#![allow(clippy::print_stderr)] // timings, shown with --nocapture

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;
use support::nodes::NodeHost;
use support::{Cluster, Need, require};

/// `result` of each phase in `platform up -o json`.
fn results(up: &Value) -> Vec<(String, String)> {
    up["phases"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["phase"].as_str().unwrap_or_default().to_owned(),
                        p["result"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The changes each k3s stage reported on stderr (`ok nodes <stage>: N changes (<time>)`).
fn stage_changes(stderr: &str) -> Vec<(String, u64)> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("ok nodes "))
        .filter_map(|l| l.rsplit_once(" changes ("))
        .filter_map(|(l, _)| l.rsplit_once(": "))
        .map(|(what, n)| (what.to_owned(), n.parse().unwrap_or(u64::MAX)))
        .collect()
}

/// What identifies a k3s run on `h`: the unit's main PID and the token file.
fn k3s_identity(c: &Cluster, h: &NodeHost, unit: &str) -> String {
    let cmd = format!(
        "sudo -n systemctl show -p MainPID --value {unit}; sudo -n systemctl is-active {unit}; \
         sudo -n sha256sum /etc/rancher/k3s/token"
    );
    c.ssh_ok(h, &cmd)
}

#[test]
fn three_servers_and_two_agents_from_empty_to_ready_and_a_second_up_changes_nothing() {
    if !require(&[Need::Hosts, Need::Command("kubectl")]) {
        return;
    }
    let c = Cluster::with_hosts("k3sup", 236, 3, 2).build();
    let t = std::time::Instant::now();
    let up = c.run(&["up", "-o", "json"]);
    let json: Value =
        serde_json::from_str(&up.stdout).unwrap_or_else(|_| panic!("up printed no JSON: {up:?}"));
    assert_eq!(up.code, 0, "{up:?}");
    let phases = results(&json);
    for p in ["infra", "inventory", "nodes"] {
        assert!(
            phases.contains(&(p.to_owned(), "succeeded".to_owned())),
            "{p}: {phases:?}\n{}",
            up.stderr
        );
    }
    eprintln!("up, 3 servers + 2 agents: {:?}", t.elapsed());

    // Outputs: the version the mirror's stable channel names, every node with its role, the
    // kubeconfig path, never the token.
    let out = c.outputs("nodes");
    let version = out["version"].as_str().unwrap().to_owned();
    assert!(
        version.starts_with("v1.") && version.contains("+k3s"),
        "{out}"
    );
    assert_eq!(out["channel"], "stable");
    // (node name, role, inventory host): scale-set VM names have a '_', so the Node is named
    // after the VM's computer name.
    let roles: Vec<(String, String, String)> = out["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap().to_owned(),
                n["role"].as_str().unwrap().to_owned(),
                n["host"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for r in &roles {
        assert!(r.2.contains('_') && !r.0.contains('_'), "{r:?}");
    }
    assert_eq!(roles.iter().filter(|r| r.1 == "server").count(), 3, "{out}");
    assert_eq!(roles.iter().filter(|r| r.1 == "agent").count(), 2, "{out}");
    let state_text = std::fs::read_to_string(c.state_dir().join("state.json")).unwrap();
    let token = std::fs::read_to_string(c.state_dir().join("secrets/k3s-token")).unwrap();
    assert!(token.starts_with("K10"), "the secure token is kept");
    assert!(
        !state_text.contains(token.trim()),
        "the token never goes into state"
    );
    assert!(!up.stderr.contains(token.trim()) && !up.stdout.contains(token.trim()));

    // The kubeconfig is private and real kubectl reads the cluster through it.
    let kubeconfig = c.state_dir().join("kubeconfig");
    let mode = std::fs::metadata(&kubeconfig).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let kubectl = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["get", "nodes", "-o", "json"])
        .output()
        .unwrap();
    assert!(
        kubectl.status.success(),
        "{}",
        String::from_utf8_lossy(&kubectl.stderr)
    );
    let nodes: Value = serde_json::from_slice(&kubectl.stdout).unwrap();
    let items = nodes["items"].as_array().unwrap();
    assert_eq!(items.len(), 5, "{nodes}");
    for n in items {
        let name = n["metadata"]["name"].as_str().unwrap();
        assert!(roles.iter().any(|r| r.0 == name), "{name} is not a host");
        assert_eq!(n["status"]["nodeInfo"]["kubeletVersion"], version.as_str());
        let ready = n["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["status"], "True", "{name}");
        let server = roles.iter().any(|r| r.0 == name && r.1 == "server");
        assert_eq!(
            n["metadata"]["labels"]
                .get("node-role.kubernetes.io/control-plane")
                .is_some(),
            server,
            "{name}"
        );
    }

    // A second run through the nodes phase changes nothing on any host: no file, no restart,
    // no new token.
    let hosts = c.hosts();
    let unit = |h: &NodeHost| {
        if roles.iter().any(|r| r.2 == h.name && r.1 == "server") {
            "k3s"
        } else {
            "k3s-agent"
        }
    };
    let before: Vec<String> = hosts.iter().map(|h| k3s_identity(&c, h, unit(h))).collect();
    for b in &before {
        assert!(b.contains("\nactive\n"), "{b}");
    }
    let again = c.run(&["up", "--force-phase", "nodes"]);
    assert_eq!(again.code, 0, "{again:?}");
    let changes = stage_changes(&again.stderr);
    assert_eq!(changes.len(), 3, "three k3s stages: {}", again.stderr);
    for (what, n) in &changes {
        assert_eq!(*n, 0, "{what}: {}", again.stderr);
    }
    // prepare.yml too: k3s left the modes of the directories it made alone.
    assert!(
        again
            .stderr
            .contains("ok nodes prepared 5 hosts (0 changes)"),
        "{}",
        again.stderr
    );
    let after: Vec<String> = hosts.iter().map(|h| k3s_identity(&c, h, unit(h))).collect();
    assert_eq!(before, after, "a k3s unit restarted or a token changed");
    assert_eq!(
        std::fs::read_to_string(c.state_dir().join("secrets/k3s-token")).unwrap(),
        token
    );

    // A plain `up` verifies the nodes live and skips the phase.
    let third = c.run(&["up"]);
    assert_eq!(third.code, 0, "{third:?}");
    assert!(
        third
            .stderr
            .contains("nodes: unchanged, skipped (verified live)"),
        "{}",
        third.stderr
    );
    c.teardown();
}
