//! Issue 11, "a wrong token on one agent fails within the timeout with the host named": one
//! agent of a fresh cluster carries a leftover `config.yaml.d` drop-in pointing k3s at
//! another cluster's token (later config files win, so k3s uses it over the `token-file` our
//! config.yaml names). k3s then retries forever without READY; the nodes phase must stop at
//! its own `k3s.start_timeout`, name that agent alone, show k3s's own error from its journal
//! and record the phase as failed; once the drop-in is gone, `up` converges to every node
//! Ready. Root needed (`support::require`).

#![allow(clippy::print_stderr)] // timings, shown with --nocapture

use std::time::{Duration, Instant};

use support::{Cluster, Need, Run, require};

/// The stale drop-in and the token file it names.
const DROP_IN: &str = "/etc/rancher/k3s/config.yaml.d/50-old-cluster.yaml";
const OLD_TOKEN: &str = "/etc/rancher/k3s/old-cluster-token";

/// `platform up`, killed and failed if it runs longer than `limit`: a wrong token must end
/// the phase at its timeout, not hang the run (the limit is many times that timeout, a
/// guard against a hang, not a measure of speed).
fn up_bounded(c: &Cluster, limit: Duration) -> Run {
    let child = c
        .command()
        .arg("up")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        let t = Instant::now();
        while t.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(200));
            if !support::procs::alive(pid) {
                return false;
            }
        }
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        true
    });
    let out = child.wait_with_output().unwrap();
    assert!(
        !watchdog.join().unwrap(),
        "platform up still ran after {limit:?}: it hangs on the wrong token"
    );
    support::finish(out)
}

#[test]
fn a_wrong_token_on_one_agent_fails_at_the_start_timeout_naming_it_and_up_converges_once_fixed() {
    if !require(&[Need::Hosts, Need::Command("kubectl")]) {
        return;
    }
    let c = Cluster::with_hosts("k3stoken", 231, 1, 2)
        .yaml("k3s:\n  start_timeout: 10\n")
        .build();
    let infra = c.run(&["up", "--only", "infra", "--only", "inventory"]);
    assert_eq!(infra.code, 0, "{infra:?}");
    // First contact through platform pins the host keys the test's ssh is held to.
    let r = c.run(&["run", "--", "true"]);
    assert_eq!(r.code, 0, "{r:?}");
    let hosts = c.hosts();
    let agents: Vec<_> = hosts.iter().filter(|h| h.name.contains("agents")).collect();
    assert_eq!(agents.len(), 2, "{hosts:?}");
    let (bad, good) = (agents[0], agents[1]);

    // Another cluster's token, well formed: k3s fetches /cacerts and finds another CA.
    let other = format!("K10{}::server:{}", "0f".repeat(32), "x".repeat(32));
    c.ssh_ok(
        bad,
        &format!(
            "sudo -n mkdir -p /etc/rancher/k3s/config.yaml.d && \
             echo '{other}' | sudo -n tee {OLD_TOKEN} >/dev/null && \
             echo 'token-file: {OLD_TOKEN}' | sudo -n tee {DROP_IN} >/dev/null"
        ),
    );

    let t = Instant::now();
    let up = up_bounded(&c, Duration::from_secs(180));
    eprintln!(
        "up with a wrong token on one agent (start_timeout 10 s): {:?}",
        t.elapsed()
    );
    assert_ne!(up.code, 0, "{up:?}");
    let err = &up.stderr;
    assert!(err.contains("k3s agents failed"), "{err}");
    // The timeout of our own ended it, on the bad agent, with k3s's own message from its
    // journal under the host's name.
    let journal = format!("{}: last lines of `journalctl -u k3s-agent`:", bad.name);
    let tail = err
        .split_once(&journal)
        .unwrap_or_else(|| panic!("no journal of {} in:\n{err}", bad.name))
        .1;
    assert!(
        tail.contains("Failed to validate connection to cluster"),
        "k3s's error is not in the journal tail:\n{err}"
    );
    assert!(err.contains("timed out"), "{err}");
    assert!(
        !err.contains(&format!("{}: last lines", good.name)),
        "the agent that joined is named as failed:\n{err}"
    );
    assert!(!err.contains(&other), "a token was printed");
    assert_eq!(c.phase_status("nodes").as_deref(), Some("failed"));

    // The other agent started: the failure of one host stops no other.
    let active = c.ssh_ok(good, "sudo -n systemctl is-active k3s-agent");
    assert_eq!(active.trim(), "active", "{}", good.name);

    // Fixing the cause (the stale drop-in goes) and running up again converges.
    c.ssh_ok(bad, &format!("sudo -n rm -f {DROP_IN} {OLD_TOKEN}"));
    let again = c.run(&["up"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(c.phase_status("nodes").as_deref(), Some("succeeded"));
    let ready = c.ready_nodes();
    assert_eq!(ready.len(), 3, "{ready:?}");
    c.teardown();
}
