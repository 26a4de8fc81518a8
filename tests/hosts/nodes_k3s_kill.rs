//! Issue 11, "`kill -9` of `platform` during a server join, then `up` converges": `platform
//! up` on 3 servers + 1 agent is killed (SIGKILL: no cleanup of any kind) while a joining
//! server's k3s is starting (its files written, its `systemctl start` waiting); the next `up` exits 0 with every host a Ready node,
//! the phase recorded as succeeded with every node in its outputs, the cluster password and
//! join token unchanged, and a further `up --force-phase nodes` finds nothing to change.
//! Root needed (`support::require`).

#![allow(clippy::print_stderr)] // timings, shown with --nocapture

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use super::nodes_k3s::assert_nothing_changed;
use support::nodes::NodeHost;
use support::{Cluster, Need, require};

/// The stage lines `platform` prints as the first server starts and as the others join.
const INIT: &str = "nodes: k3s server ";
const JOINING: &str = "nodes: k3s servers joining one at a time";

#[test]
fn kill_9_during_a_server_join_then_up_converges() {
    if !require(&[Need::Hosts, Need::Command("kubectl")]) {
        return;
    }
    let c = Cluster::with_hosts("k3skill", 233, 3, 1).build();
    let t = std::time::Instant::now();
    let mut child = c
        .command()
        .arg("up")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    let mut seen = String::new();
    let mut init = None;
    for line in rx.iter() {
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.split_once(INIT).map(|(_, r)| r) {
            init = rest.split_whitespace().next().map(str::to_owned);
        }
        if line.contains(JOINING) {
            break;
        }
    }
    let init = init.unwrap_or_else(|| panic!("no init server named:\n{seen}"));
    // A joining server whose k3s is starting (its files written, `systemctl start` waiting
    // for k3s to join etcd and report READY) is the moment to kill.
    let joining: Vec<NodeHost> = c
        .hosts()
        .into_iter()
        .filter(|h| h.name.contains("servers") && h.name != init)
        .collect();
    assert_eq!(joining.len(), 2, "{joining:?}");
    let victim = 'wait: loop {
        while let Ok(line) = rx.try_recv() {
            seen.push_str(&line);
            seen.push('\n');
        }
        assert!(
            !seen.contains("ok nodes k3s servers joining"),
            "the join finished before a joining server was seen starting:\n{seen}"
        );
        for h in &joining {
            let state = c
                .ssh(h, "sudo -n systemctl is-active k3s")
                .output()
                .unwrap();
            if String::from_utf8_lossy(&state.stdout).trim() == "activating" {
                break 'wait h.name.clone();
            }
        }
    };
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(rx.try_iter().map(|l| l + "\n"));
    eprintln!("up killed while {victim} joined: {:?}", t.elapsed());
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "{seen}"
    );
    // Killed inside the phase: the state says so, and the init server's token was kept.
    assert_eq!(c.phase_status("nodes").as_deref(), Some("running"));
    let secrets = c.state_dir().join("secrets");
    let password = std::fs::read_to_string(secrets.join("k3s-password")).unwrap();
    let token = std::fs::read_to_string(secrets.join("k3s-token")).unwrap();

    let t = std::time::Instant::now();
    let again = c.run(&["up"]);
    eprintln!("up after the kill: {:?}", t.elapsed());
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(c.phase_status("nodes").as_deref(), Some("succeeded"));
    let out = c.outputs("nodes");
    let nodes = out["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4, "{out}");
    let version = out["version"].as_str().unwrap();
    let mut ready = c.ready_nodes();
    ready.sort();
    let mut expected: Vec<(String, String)> = nodes
        .iter()
        .map(|n| (n["name"].as_str().unwrap().to_owned(), version.to_owned()))
        .collect();
    expected.sort();
    assert_eq!(ready, expected, "every host a Ready node at the version");
    assert_eq!(
        std::fs::read_to_string(secrets.join("k3s-password")).unwrap(),
        password
    );
    assert_eq!(
        std::fs::read_to_string(secrets.join("k3s-token")).unwrap(),
        token,
        "the cluster was initialized again"
    );

    // Converged: one more run through the phase changes nothing.
    assert_nothing_changed(&c.run(&["up", "--force-phase", "nodes"]), 4);
    c.teardown();
}
