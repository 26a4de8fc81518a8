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

/// Asserts that a run through the nodes phase (`run`, on `hosts` hosts) changed nothing:
/// prepare.yml and each of the three k3s stages report 0 changes.
pub(crate) fn assert_nothing_changed(run: &support::Run, hosts: usize) {
    assert_eq!(run.code, 0, "{run:?}");
    let changes = stage_changes(&run.stderr);
    assert_eq!(changes.len(), 3, "three k3s stages: {}", run.stderr);
    for (what, n) in &changes {
        assert_eq!(*n, 0, "{what}: {}", run.stderr);
    }
    // prepare.yml too: k3s left the modes of the directories it made alone.
    let prepared = format!("ok nodes prepared {hosts} hosts (0 changes)");
    assert!(run.stderr.contains(&prepared), "{}", run.stderr);
}

/// What identifies a k3s run on `h`: the unit's main PID and the token file.
pub(crate) fn k3s_identity(c: &Cluster, h: &NodeHost, unit: &str) -> String {
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
    let nodes = c.kubectl_nodes();
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
    assert_nothing_changed(&c.run(&["up", "--force-phase", "nodes"]), 5);
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

    // status: live hosts and nodes, healthy (exit 0); with an agent's VM stopped, unhealthy
    // (exit 4) naming it.
    let status = c.run(&["status"]);
    assert_eq!(status.code, 0, "{status:?}");
    assert!(
        status
            .stdout
            .contains("live: 5 of 5 hosts reachable over SSH"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("healthy: every host answers"),
        "{}",
        status.stdout
    );
    let victim = hosts
        .iter()
        .find(|h| unit(h) == "k3s-agent")
        .unwrap()
        .name
        .clone();
    let cloud = c.cloud();
    cloud.power(&victim, "stop");
    cloud.wait_host_state(&victim, "stopped");
    let status = c.run(&["status", "-o", "json"]);
    assert_eq!(status.code, 4, "{status:?}");
    let live: Value = serde_json::from_str(&status.stdout).unwrap();
    let problems = live["live"]["nodes"]["problems"].to_string();
    assert!(
        problems.contains(&format!("host {victim} is unreachable")),
        "{problems}"
    );
    assert!(status.stderr.contains("unhealthy"), "{}", status.stderr);
    c.teardown();
}

/// `(stopping, started)` times of each restart of `unit` on `h` from its journal
/// (`journalctl -o short-unix`), in seconds.
fn restarts(c: &Cluster, h: &NodeHost, unit: &str) -> Vec<(f64, f64)> {
    let text = c.ssh_ok(
        h,
        &format!("sudo -n journalctl -u {unit} -o short-unix --no-pager"),
    );
    let mut out = Vec::new();
    let mut stopping = None;
    for line in text.lines() {
        let t: f64 = line
            .split_whitespace()
            .next()
            .and_then(|t| t.parse().ok())
            .unwrap_or_default();
        if line.contains("systemd[1]: Stopping ") {
            stopping = Some(t);
        } else if line.contains("systemd[1]: Started ")
            && let Some(s) = stopping.take()
        {
            out.push((s, t));
        }
    }
    out
}

/// Every node's kubelet version and whether it is cordoned, by real kubectl.
fn node_versions(c: &Cluster) -> Vec<(String, String, bool)> {
    c.kubectl_nodes()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["metadata"]["name"].as_str().unwrap().to_owned(),
                n["status"]["nodeInfo"]["kubeletVersion"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                n["spec"]["unschedulable"] == true,
            )
        })
        .collect()
}

#[test]
fn an_upgrade_rolls_servers_one_at_a_time_and_a_downgrade_is_refused() {
    if !require(&[Need::Hosts, Need::Command("kubectl")]) {
        return;
    }
    let (old, new) = ("v1.31.4+k3s1", "v1.32.5+k3s1");
    let c = Cluster::with_hosts("k3sroll", 237, 3, 2)
        .yaml(&format!("k3s:\n  version: {old}\n"))
        .build();
    let up = c.run(&["up"]);
    assert_eq!(up.code, 0, "{up:?}");
    assert_eq!(c.outputs("nodes")["version"], old);
    assert!(node_versions(&c).iter().all(|n| n.1 == old));
    let hosts = c.hosts();
    let servers: Vec<&NodeHost> = hosts
        .iter()
        .filter(|h| h.name.contains("-servers_"))
        .collect();
    let agents: Vec<&NodeHost> = hosts
        .iter()
        .filter(|h| h.name.contains("-agents_"))
        .collect();
    assert_eq!((servers.len(), agents.len()), (3, 2));
    for s in &servers {
        assert!(
            restarts(&c, s, "k3s").is_empty(),
            "no restart before the upgrade"
        );
    }

    edit(&c, old, new);
    let t = std::time::Instant::now();
    let up = c.run(&["up"]);
    assert_eq!(up.code, 0, "{up:?}");
    eprintln!("rolling upgrade of 3+2: {:?}", t.elapsed());
    assert!(
        up.stderr.contains(&format!("upgrading k3s {old} -> {new}")),
        "{}",
        up.stderr
    );
    assert_eq!(c.outputs("nodes")["version"], new);
    let nodes = node_versions(&c);
    assert_eq!(nodes.len(), 5);
    for n in &nodes {
        assert_eq!(n.1, new, "{n:?}");
        assert!(!n.2, "{} is left cordoned", n.0);
    }
    // Each server restarted once, and never while another one was down: the restart
    // windows from the servers' own journals do not overlap.
    let mut windows: Vec<(f64, f64)> = Vec::new();
    for s in &servers {
        let r = restarts(&c, s, "k3s");
        assert_eq!(r.len(), 1, "{}: {r:?}", s.name);
        windows.push(r[0]);
    }
    windows.sort_by(|a, b| a.0.total_cmp(&b.0));
    for w in windows.windows(2) {
        assert!(
            w[0].1 <= w[1].0,
            "two servers were down at once: {windows:?}"
        );
    }
    // The agents came after the last server.
    for a in &agents {
        let r = restarts(&c, a, "k3s-agent");
        assert_eq!(r.len(), 1, "{}: {r:?}", a.name);
        assert!(
            r[0].0 >= windows[2].1,
            "agent before the servers: {r:?} {windows:?}"
        );
    }

    // Back to the old version: refused before any host is touched.
    edit(&c, new, old);
    let down = c.run(&["up"]);
    assert_eq!(down.code, 2, "{down:?}");
    assert!(
        down.stderr.contains("downgrades") && down.stderr.contains("k3s.version"),
        "{}",
        down.stderr
    );
    assert!(node_versions(&c).iter().all(|n| n.1 == new));
    c.teardown();
}

/// Rewrites `from` to `to` in the cluster's `platform.yaml`.
fn edit(c: &Cluster, from: &str, to: &str) {
    let path = c.path().join("platform.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{text}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn agents_scale_out_and_in_with_the_node_objects_following() {
    if !require(&[Need::Hosts, Need::Command("kubectl")]) {
        return;
    }
    let c = Cluster::with_hosts("k3sscale", 238, 1, 2).build();
    let up = c.run(&["up"]);
    assert_eq!(up.code, 0, "{up:?}");
    let first: Vec<String> = node_versions(&c).into_iter().map(|n| n.0).collect();
    assert_eq!(first.len(), 3);
    let agents_before: Vec<NodeHost> = c
        .hosts()
        .into_iter()
        .filter(|h| h.name.contains("-agents_"))
        .collect();

    // 2 -> 4: k3s goes on the two new agents only; the others are not restarted.
    edit(&c, "agents: {count: 2}", "agents: {count: 4}");
    let up = c.run(&["up"]);
    assert_eq!(up.code, 0, "{up:?}");
    let nodes = node_versions(&c);
    assert_eq!(nodes.len(), 5, "{nodes:?}");
    for a in &agents_before {
        assert!(
            restarts(&c, a, "k3s-agent").is_empty(),
            "{} restarted",
            a.name
        );
    }
    assert_eq!(c.outputs("nodes")["nodes"].as_array().unwrap().len(), 5);

    // 4 -> 1: the three newest agents are drained, their Nodes deleted, their VMs deleted;
    // the oldest agent stays.
    edit(&c, "agents: {count: 4}", "agents: {count: 1}");
    let up = c.run(&["up"]);
    assert_eq!(up.code, 0, "{up:?}");
    assert!(up.stderr.contains("scaling agents in"), "{}", up.stderr);
    let nodes: Vec<String> = node_versions(&c).into_iter().map(|n| n.0).collect();
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    assert!(
        nodes.iter().all(|n| first.contains(n)),
        "a node of the first run went instead of a newer one: {nodes:?} (first: {first:?})"
    );
    let agents_left: Vec<NodeHost> = c
        .hosts()
        .into_iter()
        .filter(|h| h.name.contains("-agents_"))
        .collect();
    assert_eq!(agents_left.len(), 1);
    assert!(agents_before.iter().any(|a| a.name == agents_left[0].name));
    assert_eq!(c.outputs("nodes")["nodes"].as_array().unwrap().len(), 2);
    // The next up changes nothing and removes nothing more.
    let again = c.run(&["up"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        !again.stderr.contains("scaling agents in"),
        "{}",
        again.stderr
    );
    assert_eq!(node_versions(&c).len(), 2);
    c.teardown();
}
