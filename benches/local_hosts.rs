//! Measurements of realized hosts (root; not run by `cargo test`, run
//! `cargo bench --bench local_hosts`): time from the scale set PUT to `Succeeded` (every sshd
//! answering) for 10 and 30 hosts, sshd's RSS per host, and the latency of one command over
//! a ControlMaster-multiplexed connection.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark fails by panicking"
)]
#![allow(clippy::print_stdout)] // a benchmark's report is its output

use std::time::{Duration, Instant};

use local_cloud::LatencyModel;
use support::local_cloud::{
    client_key, eventually, instance_prefix, network, put_vmss, res_path, start_with_hosts, vms,
    vmss,
};
use support::nodes::Ssh;
use support::procs::netns_with;
use support::{Need, require};

/// A `/proc/PID/smaps_rollup` field in KiB (`Rss:` counts shared libraries fully, `Pss:`
/// divides shared pages among the processes that map them).
fn mem_kb(pid: u64, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    if !support::bench_requested("`cargo bench --bench local_hosts` (as root)")
        || !require(&[Need::Hosts])
    {
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(measure_host_realization());
}

async fn measure_host_realization() {
    let data = tempfile::tempdir().unwrap();
    let latency = LatencyModel {
        retry_after_secs: Some(0),
        request_ms: 0.0,
        ..LatencyModel::scaled(0.0001)
    };
    let env = start_with_hosts(data.path(), latency).await;
    let (key, public) = client_key(env.dir.path());
    let ssh = Ssh {
        key,
        known_hosts: env.dir.path().join("known_hosts"),
        user: "azureuser".into(),
    };
    network(&env, "rg", "10.233").await;
    for n in [10u64, 30] {
        let name = format!("pool{n}");
        let t = Instant::now();
        assert_eq!(
            put_vmss(&env, "rg", &name, vmss(&env, "rg", n, &public)).await,
            "Succeeded"
        );
        println!(
            "realize {n} hosts: {:.2} s (PUT to Succeeded, every sshd answering)",
            t.elapsed().as_secs_f64()
        );
        let vms = vms(&env).await;
        let pids: Vec<u64> = vms
            .iter()
            .filter_map(|v| v["host"]["sshd_pid"].as_u64())
            .collect();
        let avg =
            |f: &str| pids.iter().map(|p| mem_kb(*p, f)).sum::<u64>() / pids.len().max(1) as u64;
        println!(
            "sshd per host ({} hosts): RSS avg {} KiB, PSS avg {} KiB",
            pids.len(),
            avg("Rss:"),
            avg("Pss:")
        );
        if n == 30 {
            let vm = &vms[0];
            let ip = vm["address"].as_str().unwrap();
            ssh.pin(ip, vm["host"]["host_public_key"].as_str().unwrap());
            let control = env.dir.path().join("cm");
            let mux = [
                "-o",
                "ControlMaster=auto",
                "-o",
                &format!("ControlPath={}", control.display()),
                "-o",
                "ControlPersist=60",
            ];
            let t = Instant::now();
            assert!(ssh.command(ip, &mux, "true").status().unwrap().success());
            println!(
                "first ssh (new connection): {:.1} ms",
                t.elapsed().as_secs_f64() * 1000.0
            );
            let runs = 20;
            let t = Instant::now();
            for _ in 0..runs {
                assert!(
                    ssh.command(ip, &mux, "id -un")
                        .output()
                        .unwrap()
                        .status
                        .success()
                );
            }
            let per = t.elapsed() / runs;
            println!(
                "one command over ControlMaster as azureuser: {:.1} ms",
                per.as_secs_f64() * 1000.0
            );
            let _ = ssh
                .command(ip, &[&mux[..], &["-O", "exit"]].concat(), "")
                .output();
        }
        let r = env
            .delete(&res_path(
                "rg",
                "Microsoft.Compute/virtualMachineScaleSets",
                &name,
            ))
            .await;
        let t = Instant::now();
        assert_eq!(env.wait(&r).await.0, "Succeeded");
        let prefix = instance_prefix(data.path());
        eventually(30, "hosts removed", || netns_with(&prefix).is_empty()).await;
        println!("remove {n} hosts: {:.2} s", t.elapsed().as_secs_f64());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    env.cloud.shutdown().await;
}
