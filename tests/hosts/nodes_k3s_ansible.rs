//! Issue 11, "`ansible-playbook` runs the same k3s playbooks with the inventory and reaches the
//! same state": after `platform up` (3 servers + 1 agent), the real `ansible-playbook` runs the
//! playbooks the phase wrote (`<state_dir>/playbooks/`) with the inventory and the variables
//! the phase kept for each stage (`<state_dir>/secrets/k3s-vars-<stage>.json`), as the
//! playbooks' headers say, and changes nothing on any host (no file, no restart); then it
//! installs an agent added to the cluster (prepare.yml and k3s-agent.yml), which ends with
//! the same files as the agent `platform` installed, and a following `platform up` finds
//! nothing to change and every node Ready. Root and ansible-core needed (`support::require`).

#![allow(clippy::print_stderr)] // timings, shown with --nocapture

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;
use support::nodes::{NodeHost, count, recap};
use support::{Cluster, Need, require};

use super::nodes_ansible::Ansible;
use super::nodes_k3s::{assert_nothing_changed, k3s_identity};

fn unit(h: &NodeHost) -> &'static str {
    if h.name.contains("servers") {
        "k3s"
    } else {
        "k3s-agent"
    }
}

/// `h`'s inventory variables (`hosts.json`).
fn hostvars(c: &Cluster, h: &NodeHost) -> Value {
    let text = std::fs::read_to_string(c.inventory_file("hosts.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["_meta"]["hostvars"][&h.name].clone()
}

/// What the k3s install leaves on an agent: modes and owners, the binary's and the token's
/// hashes, the config and the unit, with the host's own names and addresses replaced.
fn agent_state(c: &Cluster, h: &NodeHost) -> String {
    let files = "/usr/local/bin/k3s /etc/rancher/k3s /etc/rancher/k3s/token \
                 /etc/rancher/k3s/config.yaml /etc/systemd/system/k3s-agent.service";
    let mut text = c.ssh_ok(
        h,
        &format!(
            "sudo -n stat -c '%a %U:%G %F %n' {files}; \
             sudo -n sha256sum /usr/local/bin/k3s /etc/rancher/k3s/token; \
             sudo -n cat /etc/rancher/k3s/config.yaml /etc/systemd/system/k3s-agent.service; \
             sudo -n systemctl is-enabled k3s-agent; sudo -n systemctl is-active k3s-agent"
        ),
    );
    let vars = hostvars(c, h);
    for (key, placeholder) in [
        ("node_name", "NODE"),
        ("private_ip", "PRIVATE"),
        ("public_ip", "PUBLIC"),
        ("ansible_host", "ADDRESS"),
    ] {
        if let Some(v) = vars[key].as_str().filter(|v| !v.is_empty()) {
            text = text.replace(v, placeholder);
        }
    }
    text.replace(&h.name, "HOST")
}

/// Asserts that `ansible-playbook`'s recap shows no change and no failure on `hosts`.
fn unchanged(out: &str, hosts: &[&NodeHost]) {
    for h in hosts {
        let r = recap(out, &h.name);
        assert_eq!(
            (
                count(&r, "changed"),
                count(&r, "failed"),
                count(&r, "unreachable")
            ),
            (0, 0, 0),
            "{}: {out}",
            h.name
        );
    }
}

#[test]
fn ansible_playbook_runs_the_k3s_playbooks_to_the_state_platform_reaches() {
    if !require(&[
        Need::Hosts,
        Need::Command("kubectl"),
        Need::Ansible("ansible-playbook"),
    ]) {
        return;
    }
    let ansible = Ansible::new();
    let mut c = Cluster::with_hosts("k3sansible", 234, 3, 1).build();
    let t = std::time::Instant::now();
    let up = c.run(&["up"]);
    assert_eq!(up.code, 0, "{up:?}");
    eprintln!("up, 3 servers + 1 agent: {:?}", t.elapsed());

    // The variables of each stage, private, beside the other secrets.
    let secrets = c.state_dir().join("secrets");
    let token = std::fs::read_to_string(secrets.join("k3s-token")).unwrap();
    let password = std::fs::read_to_string(secrets.join("k3s-password")).unwrap();
    let mut stage_vars = Vec::new();
    for stage in ["init", "servers", "agents"] {
        let path = secrets.join(format!("k3s-vars-{stage}.json"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{stage}");
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        stage_vars.push(v);
    }
    assert_eq!(stage_vars[0]["k3s_token"], password.trim());
    assert_eq!(stage_vars[0]["k3s_server_url"], "");
    for v in &stage_vars[1..] {
        assert_eq!(v["k3s_token"], token.trim());
        assert!(
            v["k3s_server_url"]
                .as_str()
                .unwrap()
                .starts_with("https://")
        );
    }

    // ansible-playbook, as the playbooks' headers say, on the cluster platform installed.
    let hosts = c.hosts();
    let first = c.outputs("nodes")["init_server"]
        .as_str()
        .unwrap()
        .to_owned();
    let before: Vec<String> = hosts.iter().map(|h| k3s_identity(&c, h, unit(h))).collect();
    let inventory = c.inventory_file("hosts.yml");
    let books = ".platform/playbooks";
    let server_book = format!("{books}/k3s-server.yml");
    let agent_book = format!("{books}/k3s-agent.yml");
    let others = format!("servers:!{first}");
    let runs: [(&str, &str, Option<&str>); 3] = [
        (&server_book, "init", Some(&first)),
        (&server_book, "servers", Some(&others)),
        (&agent_book, "agents", None),
    ];
    let t = std::time::Instant::now();
    for (book, stage, limit) in runs {
        let vars = format!("@.platform/secrets/k3s-vars-{stage}.json");
        let mut extra = vec!["-e", &vars];
        if let Some(l) = limit {
            extra.extend(["--limit", l]);
        }
        let (ok, out) = ansible.playbook(c.path(), &inventory, book, &extra);
        assert!(ok, "{stage}: {out}");
        assert!(!out.contains(token.trim()), "the token was printed");
        let ran: Vec<&NodeHost> = hosts
            .iter()
            .filter(|h| match stage {
                "init" => h.name == first,
                "servers" => h.name.contains("servers") && h.name != first,
                _ => h.name.contains("agents"),
            })
            .collect();
        assert!(!ran.is_empty(), "{stage}");
        unchanged(&out, &ran);
    }
    eprintln!(
        "ansible-playbook, the three stages on 4 installed hosts: {:?}",
        t.elapsed()
    );
    let after: Vec<String> = hosts.iter().map(|h| k3s_identity(&c, h, unit(h))).collect();
    assert_eq!(before, after, "a k3s unit restarted or a token changed");

    // A new agent, installed by ansible-playbook alone, ends like the one platform installed.
    c.reconfigure(|_| Cluster::with_hosts("k3sansible", 234, 3, 2));
    let grow = c.run(&["up", "--only", "infra", "--only", "inventory"]);
    assert_eq!(grow.code, 0, "{grow:?}");
    let r = c.run(&["run", "--", "true"]); // pins the new host's key for Ansible's ssh
    assert_eq!(r.code, 0, "{r:?}");
    let all = c.hosts();
    let new = all
        .iter()
        .find(|h| !hosts.iter().any(|o| o.name == h.name))
        .unwrap();
    let old = hosts.iter().find(|h| h.name.contains("agents")).unwrap();
    let prepare = format!("{}/playbooks/prepare.yml", env!("CARGO_MANIFEST_DIR"));
    let t = std::time::Instant::now();
    for (book, extra) in [
        (prepare.as_str(), vec![]),
        (
            agent_book.as_str(),
            vec!["-e", "@.platform/secrets/k3s-vars-agents.json"],
        ),
    ] {
        let mut args = extra;
        args.extend(["--limit", new.name.as_str()]);
        let (ok, out) = ansible.playbook(c.path(), &inventory, book, &args);
        assert!(ok, "{book}: {out}");
        let r = recap(&out, &new.name);
        assert!(count(&r, "changed") > 0, "{book}: {out}");
    }
    eprintln!("ansible-playbook, a fresh agent: {:?}", t.elapsed());
    let theirs = agent_state(&c, new);
    for part in [
        "600 root:root regular file /etc/rancher/k3s/token\n",
        "node-name: \"NODE\"\n",
        "node-ip: \"PRIVATE\"\n",
        "ExecStart=/usr/local/bin/k3s agent\n",
        "enabled\nactive\n",
    ] {
        assert!(theirs.contains(part), "{part:?} not in:\n{theirs}");
    }
    assert_eq!(theirs, agent_state(&c, old));

    // platform finds nothing to do on the host Ansible installed, and the node is Ready.
    assert_nothing_changed(&c.run(&["up"]), 5);
    let version = c.outputs("nodes")["version"].as_str().unwrap().to_owned();
    let ready = c.ready_nodes();
    assert_eq!(ready.len(), 5, "{ready:?}");
    assert!(ready.iter().all(|(_, v)| *v == version), "{ready:?}");
    drop(ansible);
    c.teardown();
}
