//! The local cloud's scale-set VMs as real hosts (root needed): reachable over SSH with a
//! pinned host key as the scale set's admin user with passwordless sudo, copy-on-write
//! isolated from the machine and each other, stopped and started through the control API,
//! removed by scale-in and delete without leaving namespaces, mounts or processes.

use std::path::Path;

use serde_json::Value;
use support::local_cloud::{
    client_key, eventually, fast, instance_prefix, mounts_under, network, power, put_vmss,
    res_path, start_with_hosts, vms, vmss,
};
use support::nodes::Ssh;
use support::procs::{alive, links_with, netns_with, procs_with};
use support::{Need, require};

fn field(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_set_vms_are_ssh_hosts_that_come_and_go_with_it() {
    if !require(&[Need::Hosts]) {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let env = start_with_hosts(data.path(), fast()).await;
    let prefix = instance_prefix(data.path());
    let (key, public) = client_key(env.dir.path());
    let ssh = Ssh {
        key,
        known_hosts: env.dir.path().join("known_hosts"),
        user: "azureuser".into(),
    };
    network(&env, "rg", "10.231").await;
    let status = put_vmss(&env, "rg", "pool", vmss(&env, "rg", 3, &public)).await;
    assert_eq!(status, "Succeeded");
    let vms = vms(&env).await;
    assert_eq!(vms.len(), 3);
    for vm in &vms {
        // Succeeded means reachable: the operation waited for every sshd.
        assert_eq!(vm["host"]["state"], "running", "{vm}");
        let ip = field(vm, "address");
        assert!(ip.starts_with("10.231.1."), "{ip}");
        let host_key = vm["host"]["host_public_key"].as_str().unwrap();
        let fp = ssh_key::PublicKey::from_openssh(host_key)
            .unwrap()
            .fingerprint(ssh_key::HashAlg::Sha256)
            .to_string();
        assert_eq!(fp, field(vm, "host_key_fingerprint"));
        ssh.pin(&ip, host_key);
    }
    for vm in &vms {
        let (ip, name) = (field(vm, "address"), field(vm, "name"));
        let out = ssh.ok(
            &ip,
            "id -un; sudo -n true && echo sudo-ok; hostname; ls -A ~; echo $SHELL",
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "azureuser");
        assert_eq!(lines[1], "sudo-ok");
        assert_eq!(lines[2], field(vm, "computerName"));
        assert_eq!(lines[3], ".ssh", "a fresh home holds only .ssh");
        assert_eq!(lines[4], "/bin/bash");
        ssh.ok(
            &ip,
            &format!("echo {name} > ~/mine && sudo sh -c 'echo {name} > /etc/platform-iso-{name}'"),
        );
        assert!(
            !Path::new(&format!("/etc/platform-iso-{name}")).exists(),
            "written on the machine"
        );
    }
    // Copy-on-write isolation: nothing one host wrote is visible on another.
    for vm in &vms {
        let ip = field(vm, "address");
        for other in &vms {
            let oname = field(other, "name");
            let expect = if other["name"] == vm["name"] {
                "yes"
            } else {
                "no"
            };
            let seen = ssh.ok(
                &ip,
                &format!("test -e /etc/platform-iso-{oname} && echo yes || echo no"),
            );
            assert_eq!(seen, expect, "{} sees {oname}'s file", field(vm, "name"));
        }
        let mine = ssh.ok(&ip, "cat ~/mine");
        assert_eq!(mine, field(vm, "name"));
        // The data dir (CA key, other hosts' disks) is hidden from the hosts.
        let listing = ssh.ok(&ip, &format!("sudo ls -A {}", data.path().display()));
        assert_eq!(listing, "", "the data dir is hidden");
    }
    // A host key other than the pinned one is refused.
    let (ip0, name0) = (field(&vms[0], "address"), field(&vms[0], "name"));
    let wrong = Ssh {
        key: ssh.key.clone(),
        known_hosts: env.dir.path().join("wrong_known_hosts"),
        user: "azureuser".into(),
    };
    wrong.pin(&ip0, &public);
    assert!(
        !wrong.run(&ip0, "true").0,
        "a different pinned key must be refused"
    );

    // Stop and start through the control API.
    power(&env, &name0, "stop").await;
    eventually(10, "sshd stops", || !ssh.run(&ip0, "true").0).await;
    power(&env, &name0, "start").await;
    let mut back = false;
    for _ in 0..100 {
        if ssh.run(&ip0, "cat ~/mine").1 == name0 {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(back, "the host comes back with its disk after start");

    // Scale-in removes one host entirely.
    assert_eq!(
        put_vmss(&env, "rg", "pool", vmss(&env, "rg", 2, &public)).await,
        "Succeeded"
    );
    let left = support::local_cloud::vms(&env).await;
    assert_eq!(left.len(), 2);
    let gone: Vec<&Value> = vms
        .iter()
        .filter(|v| !left.iter().any(|l| l["name"] == v["name"]))
        .collect();
    assert_eq!(gone.len(), 1);
    let gone_ns = gone[0]["host"]["netns"].as_str().unwrap().to_string();
    let gone_pid = gone[0]["host"]["sshd_pid"].as_u64().unwrap();
    eventually(10, "the removed host's namespace goes", || {
        !Path::new("/run/netns").join(&gone_ns).exists()
    })
    .await;
    // Teardown runs in steps (processes, netns, disk): wait for each rather than race it.
    eventually(10, "its sshd is gone", || !alive(gone_pid as u32)).await;
    let gone_dir = data
        .path()
        .join("hosts")
        .join(field(gone[0], "name").to_lowercase());
    eventually(10, "its disk is removed", || !gone_dir.exists()).await;

    // Deleting the scale set leaves nothing behind.
    let r = env
        .delete(&res_path(
            "rg",
            "Microsoft.Compute/virtualMachineScaleSets",
            "pool",
        ))
        .await;
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    let marker = format!("sshd_config.{prefix}");
    eventually(10, "every host namespace goes", || {
        netns_with(&prefix).is_empty()
    })
    .await;
    eventually(5, "every sshd goes", || procs_with(&marker).is_empty()).await;
    assert!(mounts_under(data.path()).is_empty());
    env.cloud.shutdown().await;
    assert!(
        links_with(&prefix).is_empty(),
        "the bridge goes at shutdown"
    );
}
