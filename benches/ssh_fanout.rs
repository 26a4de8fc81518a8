//! Benchmark (root; not run by `cargo test`): `platform run -- true` fanned out to 10 and 30
//! real sshds, wall time and peak RSS of `platform` (from `/usr/bin/time -v`), next to plain
//! `ssh` per host in the same run. Run `cargo bench --bench ssh_fanout`; set `PLATFORM_BIN`
//! to measure another build of the binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark fails by panicking"
)]
#![allow(clippy::print_stdout)] // a benchmark's report is its output

use std::process::Command;
use support::sshd::{ClientKey, Sshd};
use support::{Need, require};

fn field<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(name))
        .map(|v| v.trim_start_matches(':').trim())
        .unwrap_or("?")
}

fn main() {
    if !support::bench_requested("`cargo bench --bench ssh_fanout` (as root)")
        || !require(&[Need::Hosts])
    {
        return;
    }
    let bin = std::env::var_os("PLATFORM_BIN").map_or_else(support::platform_bin, Into::into);
    let key = ClientKey::generate();
    for n in [10usize, 30] {
        let servers: Vec<Sshd> = (0..n).map(|_| Sshd::start(&key.public)).collect();
        let names: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
        let hosts: Vec<(&str, &Sshd)> = names.iter().map(String::as_str).zip(&servers).collect();
        let c = support::sshd::cluster(
            "bench",
            &key,
            256,
            &hosts,
            serde_json::json!({"all": {"hosts": names}}),
        );
        // The peer in the same run: one plain `ssh` per host, all at once (a fresh connection
        // per host is the practical floor for one command).
        let kh = c.path().join("baseline_known_hosts");
        let started = std::time::Instant::now();
        let children: Vec<_> = servers
            .iter()
            .map(|s| {
                Command::new("ssh")
                    .args([
                        "-o",
                        "BatchMode=yes",
                        "-o",
                        "StrictHostKeyChecking=accept-new",
                    ])
                    .arg("-o")
                    .arg(format!("UserKnownHostsFile={}", kh.display()))
                    .arg("-i")
                    .arg(&key.private)
                    .args([
                        "-p",
                        &s.port.to_string(),
                        "-l",
                        support::sshd::TEST_USER,
                        &s.address,
                        "true",
                    ])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in children {
            assert!(c.wait().unwrap().success());
        }
        let baseline = started.elapsed();
        println!("{n} hosts: plain ssh per host, in parallel: wall {baseline:.2?}");
        for round in ["first contact", "known hosts"] {
            let started = std::time::Instant::now();
            let out = Command::new("/usr/bin/time")
                .arg("-v")
                .arg(&bin)
                .args(["run", "--", "true"])
                .current_dir(c.path())
                .env("NO_COLOR", "1")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{stderr}");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains(&format!("{n} hosts: {n} ok")), "{stdout}");
            let wall = started.elapsed();
            println!(
                "{n} hosts, platform run ({round}): wall {wall:.2?} ({:.2}x plain ssh), platform max RSS {} KiB",
                wall.as_secs_f64() / baseline.as_secs_f64(),
                field(&stderr, "Maximum resident set size (kbytes)")
            );
        }
    }
}
