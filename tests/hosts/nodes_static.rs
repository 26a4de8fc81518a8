//! Bring-your-own hosts (`cloud.kind: static`) through k3s and back: a static inventory of
//! real hosts (here, hosts a local cloud made and `platform` never installed anything on),
//! `up` installs k3s on them like on any other, and `down` takes k3s off again and leaves
//! the hosts running. Root needed (`support::require` skips with the reason elsewhere,
//! fails under CI).

use support::{Cluster, Need, require};

#[test]
fn down_on_static_hosts_removes_k3s_and_leaves_the_hosts() {
    if !require(&[Need::Hosts, Need::Command("curl")]) {
        return;
    }
    // The machines: a local cloud's VMs, listed but never touched by their own cluster.
    let machines = Cluster::with_hosts("byomach", 239, 1, 1).build();
    let r = machines.run(&["up", "--only", "infra", "--only", "inventory"]);
    assert_eq!(r.code, 0, "{r:?}");
    let hosts = machines.hosts();
    assert_eq!(hosts.len(), 2);
    // The test's own SSH checks go through the machines' cluster, which pins the keys here.
    let r = machines.run(&["run", "--", "true"]);
    assert_eq!(r.code, 0, "{r:?}");
    let key = machines.key();
    let mut inventory = String::from("all:\n  children:\n    k3s_cluster:\n      children:\n");
    for (group, part) in [("servers", "-servers_"), ("agents", "-agents_")] {
        inventory.push_str(&format!("        {group}:\n          hosts:\n"));
        for h in hosts.iter().filter(|h| h.name.contains(part)) {
            inventory.push_str(&format!(
                "            {}: {{ansible_host: {}, ansible_ssh_private_key_file: {}}}\n",
                h.name.replace('_', "-"),
                h.ip,
                key.display()
            ));
        }
    }
    // Hosts of its own have no local release mirror: the k3s.install airgap path, with the
    // release's files fetched beforehand (here from the machines' local cloud's mirror).
    let tag = "v1.32.5+k3s1";
    let files = tempfile::tempdir().unwrap();
    for asset in [
        "k3s",
        "k3s-airgap-images-amd64.tar.zst",
        "sha256sum-amd64.txt",
    ] {
        let url = format!(
            "http://10.239.1.1:80/k3s-io/k3s/releases/download/{}/{asset}",
            tag.replace('+', "%2B")
        );
        let ok = std::process::Command::new("curl")
            .args(["-fsS", "-o"])
            .arg(files.path().join(asset))
            .arg(&url)
            .status()
            .unwrap()
            .success();
        assert!(ok, "{url}");
    }
    let f = |n: &str| files.path().join(n).display().to_string();
    let byo = Cluster::static_hosts("byo")
        .without_postgres()
        .inventory("byo.yml")
        .admin_cidrs("[127.0.0.0/8]")
        .yaml(&format!(
            "k3s:\n  version: {tag}\n  install: airgap\n  airgap:\n    binary: {}\n    images: {}\n    checksums: {}\n",
            f("k3s"),
            f("k3s-airgap-images-amd64.tar.zst"),
            f("sha256sum-amd64.txt")
        ))
        .build();
    std::fs::write(byo.path().join("byo.yml"), inventory).unwrap();
    let up = byo.run(&["up"]);
    assert_eq!(up.code, 0, "{up:?}");
    let nodes = byo.outputs("nodes");
    assert_eq!(nodes["nodes"].as_array().unwrap().len(), 2, "{nodes}");
    // k3s (the local cloud's stand-in) runs under its unit on both hosts.
    let active = |h| {
        machines.ssh_ok(
            h,
            "sudo -n systemctl is-active k3s k3s-agent || true; ls -d /usr/local/bin/k3s \
             /etc/rancher/k3s /var/lib/rancher/k3s /etc/systemd/system/k3s*.service 2>/dev/null \
             | wc -l",
        )
    };
    for h in &hosts {
        let out = active(h);
        assert_eq!(
            out.matches("\nactive\n").count() + usize::from(out.starts_with("active\n")),
            1,
            "{}: {out}",
            h.name
        );
        assert!(out.trim_end().ends_with('4'), "{}: {out}", h.name);
    }

    let down = byo.run(&["down", "--yes"]);
    assert_eq!(down.code, 0, "{down:?}");
    assert!(
        down.stderr.contains("removed k3s from 2 hosts"),
        "{}",
        down.stderr
    );
    for h in &hosts {
        // The host still answers; k3s's units, binary, configuration and data are gone, and
        // nothing runs under them.
        let out = active(h);
        assert_eq!(out, "inactive\ninactive\n0\n", "{}", h.name);
    }
    // Phases are forgotten; a second down finds nothing to remove and succeeds.
    assert_eq!(byo.phase_status("nodes"), None);
    let again = byo.run(&["down", "--yes"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stderr.contains("(0 changes)"), "{}", again.stderr);
    machines.teardown();
}
