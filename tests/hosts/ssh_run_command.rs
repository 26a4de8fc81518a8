//! `platform run` end to end: the real binary, an Ansible dynamic inventory, real sshds.

use support::sshd::{ClientKey, Sshd, TEST_USER};
use support::{Cluster, Need, require};

/// A cluster whose config names the client key as `nodes.ssh_key`, with
/// `inventories/sshrun/hosts.json`.
fn setup(key: &ClientKey, hosts: &[(&str, &Sshd)]) -> Cluster {
    support::sshd::cluster(
        "sshrun",
        key,
        2,
        hosts,
        serde_json::json!({
            "all": {"children": ["servers", "agents"]},
            "servers": {"hosts": ["s1"]},
            "agents": {"hosts": ["a1", "a2"]},
        }),
    )
}

#[test]
fn run_reaches_hosts_by_pattern_and_reports_each() {
    if !require(&[Need::Hosts]) {
        return;
    }
    let key = ClientKey::generate();
    let mut servers: Vec<Sshd> = (0..3).map(|_| Sshd::start(&key.public)).collect();
    let c = setup(
        &key,
        &[
            ("s1", &servers[0]),
            ("a1", &servers[1]),
            ("a2", &servers[2]),
        ],
    );

    // All hosts; first contact is logged with the key's fingerprint.
    let r = c.run(&["-v", "run", "--", "echo", "hi from $(id -un)"]);
    assert_eq!(r.code, 0, "{r:?}");
    for h in ["s1", "a1", "a2"] {
        assert!(
            r.stdout
                .contains(&format!("{h} | ok | rc=0 >>\nhi from {TEST_USER}\n")),
            "{r:?}"
        );
    }
    assert!(r.stdout.contains("3 hosts: 3 ok"), "{}", r.stdout);
    assert_eq!(
        r.stderr.matches("trusting new host key").count(),
        3,
        "{}",
        r.stderr
    );
    let fp = |s: &Sshd| {
        platform::ssh::known_hosts::fingerprint(
            &ssh_key::PublicKey::from_openssh(s.host_key().trim()).unwrap(),
        )
    };
    assert!(r.stderr.contains(&fp(&servers[0])), "{}", r.stderr);

    // A pattern with exclusion; JSON output.
    let r = c.run(&[
        "-o",
        "json",
        "run",
        "--limit",
        "agents:!a2",
        "--",
        "echo $((6*7))",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let hosts = j["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0]["host"], "a1");
    assert_eq!(hosts[0]["result"]["stdout"], "42\n");

    // A failing command: exit 1, the host's last lines shown.
    let r = c.run(&[
        "run",
        "--limit",
        "s1",
        "--",
        "echo step one; echo broke >&2; exit 2",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout
            .contains("s1 (failed), last lines:\n  step one\n  broke"),
        "{}",
        r.stdout
    );

    // A host that is down is unreachable; the others still run.
    servers[2].kill();
    let r = c.run(&["run", "--", "true"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout
            .contains("3 hosts: 2 ok, 0 changed, 0 failed, 1 unreachable"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("a2") && l.contains("unreachable")),
        "{}",
        r.stdout
    );

    // A rebuilt host (new key) is refused naming both fingerprints, until forgotten.
    let old = fp(&servers[0]);
    servers[0].restart_with_new_key();
    let new = fp(&servers[0]);
    let r = c.run(&["run", "--limit", "s1", "--", "true"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains(&old) && r.stdout.contains(&new),
        "{}",
        r.stdout
    );
    let r = c.run(&["run", "--forget-host", "s1"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("forgot the host key of s1"),
        "{}",
        r.stderr
    );
    let r = c.run(&["run", "--limit", "s1", "--", "true"]);
    assert_eq!(r.code, 0, "{r:?}");

    // Patterns that select nothing are usage errors.
    let r = c.run(&["run", "--limit", "nothing", "--", "true"]);
    assert_eq!(r.code, 2, "{r:?}");
}
