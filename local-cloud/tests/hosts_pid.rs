//! Each local-cloud host has a PID namespace of its own whose PID 1 is the host's init: a
//! process started over SSH outlives its session under that init, is invisible to `ps`
//! and `pkill` on another host, a `kill -9 -1` on another host touches neither it nor the
//! machine's processes, and stopping its host leaves no process of it on the machine.
//! Checked over real SSH sessions (root needed).
#![cfg(feature = "hosts")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod support;

use local_cloud::HostState;
use support::{Cloud, machine_pids_with, root_or_skip, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_have_their_own_pid_namespace_under_an_init() {
    if !root_or_skip("hosts_have_their_own_pid_namespace_under_an_init") {
        return;
    }
    let cloud = Cloud::start(172).await;
    let hosts = cloud.scale_set("pid", 2).await;
    let (a, b) = (&hosts[0], &hosts[1]);

    // PID 1 of each host is its init; a host lists only its own processes.
    for h in [a, b] {
        assert_eq!(h.ok("cat /proc/1/comm"), "init");
        let comms = h.ok("ps -eo comm=");
        assert!(comms.lines().any(|c| c == "sshd"), "{comms}");
        assert!(
            !comms
                .lines()
                .any(|c| c.starts_with("hosts_pid") || c == "cargo"),
            "{} sees the machine's processes: {comms}",
            h.name
        );
    }

    // A process started from a session on A outlives the session, under A's init.
    let unique = format!("pidns{}", std::process::id());
    // Matches the process but not the shells whose command lines carry the pattern.
    let pattern = format!("[{}]{}", &unique[..1], &unique[1..]);
    a.ok(&format!(
        "cp /bin/sleep /tmp/{unique} && setsid -f /tmp/{unique} 3600 >/dev/null 2>&1 </dev/null"
    ));
    until(10, "the process runs on A", || {
        a.run(&format!("pgrep -f '{pattern}'")).code == Some(0)
    })
    .await;
    let ppid = a.ok(&format!("ps -o ppid= -p \"$(pgrep -f '{pattern}')\""));
    assert_eq!(ppid.trim(), "1", "the orphan is the init's");
    let on_machine = machine_pids_with(&unique);
    assert_eq!(on_machine.len(), 1, "{on_machine:?}");

    // B can neither see nor kill it, by name or with kill -1.
    let ps_b = b.ok("ps -eo args=");
    assert!(!ps_b.contains(&unique), "B sees A's process: {ps_b}");
    let pkill = b.run(&format!("sudo pkill -f '{pattern}'"));
    assert_eq!(
        pkill.code,
        Some(1),
        "B's pkill matched something: {pkill:?}"
    );
    let mut canary = std::process::Command::new("sleep")
        .arg("3600")
        .spawn()
        .unwrap();
    // Kills every process of B but its init, this session and B's sshd included.
    let sshd_b = b.ok("pgrep -P 1 -x sshd");
    let _ = b.run("sudo kill -9 -1");
    until(20, "B's init starts sshd again", || {
        b.run("true").code == Some(0)
    })
    .await;
    assert_ne!(
        b.ok("pgrep -P 1 -x sshd"),
        sshd_b,
        "B's sshd was not killed"
    );
    assert_eq!(
        a.run(&format!("pgrep -f '{pattern}'")).code,
        Some(0),
        "A's process survived B's kill -1"
    );
    assert_eq!(machine_pids_with(&unique), on_machine);
    assert!(
        canary.try_wait().unwrap().is_none(),
        "the machine's process was killed"
    );
    canary.kill().unwrap();
    canary.wait().unwrap();

    // Stopping A ends every process of it.
    cloud.power(&a.name, "stop");
    until(20, "A stops", || {
        cloud
            .handle
            .host(&a.name)
            .is_some_and(|h| h.state == HostState::Stopped)
    })
    .await;
    assert!(
        machine_pids_with(&unique).is_empty(),
        "A's process outlived A"
    );
    let left = std::process::Command::new("ip")
        .args(["netns", "pids", &a.netns])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&left.stdout).trim(),
        "",
        "A's netns has processes"
    );
    assert_eq!(
        b.ok("hostname"),
        b.ok("cat /etc/hostname"),
        "B is unaffected"
    );
    cloud.handle.shutdown().await;
}
