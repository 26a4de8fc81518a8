//! Hosts across restarts (root needed): a cleanly restarted cloud, here `platform
//! local-cloud serve --hosts`, realizes the same VMs again with their disks and host keys;
//! after that process is killed (a crash leaving sshd processes and namespaces behind), the
//! next start on the same data dir removes the leftovers before realizing the hosts anew.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::local_cloud::{
    client, client_key, eventually, fast, instance_prefix, mounts_under, network, put_vmss,
    rg_path, start_with_hosts, vms, vms_at, vmss,
};
use support::nodes::Ssh;
use support::procs::{alive, links_with, netns_with, procs_with};
use support::{Need, require};

fn by_name(vms: &[Value]) -> std::collections::BTreeMap<String, Value> {
    vms.iter()
        .map(|v| (v["name"].as_str().unwrap().to_string(), v.clone()))
        .collect()
}

/// Kills the child on drop so a failing test leaves no server behind.
struct Serve(std::process::Child);
impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_survive_restarts_and_crash_leftovers_are_cleaned() {
    if !require(&[Need::Hosts]) {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (key, public) = client_key(work.path());
    let ssh = Ssh {
        key,
        known_hosts: work.path().join("known_hosts"),
        user: "azureuser".into(),
    };

    // 1. In process: two hosts; each writes a file; clean shutdown keeps the disks.
    let env = start_with_hosts(data.path(), fast()).await;
    let prefix = instance_prefix(data.path());
    network(&env, "rg", "10.232").await;
    assert_eq!(
        put_vmss(&env, "rg", "pool", vmss(&env, "rg", 2, &public)).await,
        "Succeeded"
    );
    let first = by_name(&vms(&env).await);
    for (name, vm) in &first {
        let ip = vm["address"].as_str().unwrap();
        ssh.pin(ip, vm["host"]["host_public_key"].as_str().unwrap());
        ssh.ok(ip, &format!("echo {name} > ~/disk"));
    }
    env.cloud.shutdown().await;
    assert!(netns_with(&prefix).is_empty() && links_with(&prefix).is_empty());

    // 2. `platform local-cloud serve --hosts` on the same data dir brings them back.
    let mut child = Command::new(support::platform_bin())
        .args([
            "local-cloud",
            "serve",
            "--hosts",
            "--time-factor",
            "0.001",
            "--retry-after",
            "0",
            "--data-dir",
        ])
        // A relative data dir, as users give it: host paths must still be absolute.
        .arg(data.path().file_name().unwrap())
        .current_dir(data.path().parent().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let serve = Serve(child);
    let endpoint = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("endpoint: ").map(str::to_string))
        .expect("serve prints its endpoint");
    let http = client(&std::fs::read_to_string(data.path().join("ca.pem")).unwrap());
    let token = std::fs::read_to_string(data.path().join(local_cloud::TOKEN_FILE)).unwrap();
    let mut second = Default::default();
    for _ in 0..200 {
        let vms = vms_at(&http, &endpoint, token.trim()).await;
        if vms.len() == 2 && vms.iter().all(|v| v["host"]["state"] == "running") {
            second = by_name(&vms);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(second.len(), 2, "serve --hosts realizes the stored VMs");
    for (name, vm) in &second {
        assert_eq!(
            vm["host_key_fingerprint"], first[name]["host_key_fingerprint"],
            "host keys are kept"
        );
        // known_hosts pins the first run's keys: this also proves the key is the same.
        assert_eq!(
            ssh.ok(vm["address"].as_str().unwrap(), "cat ~/disk"),
            *name,
            "disks are kept"
        );
    }

    // 3. A crash: the server dies, its hosts stay behind.
    let mut serve = serve;
    Command::new("kill")
        .args(["-KILL", &serve.0.id().to_string()])
        .status()
        .unwrap();
    let _ = serve.0.wait();
    let stale: Vec<u32> = second
        .values()
        .map(|v| v["host"]["sshd_pid"].as_u64().unwrap() as u32)
        .collect();
    for pid in &stale {
        assert!(alive(*pid), "the crash leaves sshd {pid}");
    }
    assert_eq!(netns_with(&prefix).len(), 2);

    // 4. The next start removes the leftovers and realizes the hosts again.
    let env = start_with_hosts(data.path(), fast()).await;
    for pid in &stale {
        assert!(!alive(*pid), "leftover sshd {pid} killed");
    }
    let mut third = Default::default();
    for _ in 0..200 {
        let v = vms(&env).await;
        if v.iter().all(|v| v["host"]["state"] == "running") {
            third = by_name(&v);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (name, vm) in &third {
        assert_eq!(ssh.ok(vm["address"].as_str().unwrap(), "cat ~/disk"), *name);
    }
    assert_eq!(third.len(), 2);

    // Deleting the group removes every host and its disk.
    let r = env.delete(&rg_path("rg")).await;
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    eventually(10, "hosts go with the group", || {
        netns_with(&prefix).is_empty()
    })
    .await;
    eventually(5, "sshd processes go", || {
        procs_with(&format!("sshd_config.{prefix}")).is_empty()
    })
    .await;
    env.cloud.shutdown().await;
    assert!(links_with(&prefix).is_empty());
    assert!(mounts_under(data.path()).is_empty());
    let disks: Vec<_> = std::fs::read_dir(data.path().join("hosts"))
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(disks.is_empty(), "deleted VMs' disks are removed");
}
