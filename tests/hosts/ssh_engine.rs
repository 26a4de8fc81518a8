//! The SSH engine against real OpenSSH servers on loopback: commands, one master per host,
//! become, host keys (first contact, change, forget), timeouts, boot retries, fan-out with a
//! host dying mid-run.

#![allow(clippy::print_stderr)]

use platform::ssh::fanout::{self, Done, Status};
use platform::ssh::host::{ExecRequest, Host, HostError};
use platform::ssh::{SshHost, SshOptions, Target, known_hosts};
use std::path::Path;
use std::time::{Duration, Instant};
use support::sshd::{ClientKey, Sshd, Sudoers, TEST_USER};
use support::{Need, require};

fn options(state: &Path, key: &ClientKey) -> SshOptions {
    let mut o = SshOptions::new(state.join("known_hosts"), state.join("ssh"), TEST_USER);
    o.keyfile = Some(key.private.clone());
    o.boot_wait = Duration::from_secs(3);
    o.connect_timeout = Duration::from_secs(3);
    o
}

fn target(name: &str, s: &Sshd) -> Target {
    Target {
        name: name.into(),
        address: s.address.clone(),
        port: s.port,
        user: None,
        keyfile: None,
    }
}

async fn run(h: &SshHost, command: &str) -> (i32, String) {
    let out = h
        .exec(ExecRequest {
            command,
            ..Default::default()
        })
        .await
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn commands_share_one_master_and_first_contact_records_the_key() {
    if !require(&[Need::Hosts]) {
        return;
    }
    let key = ClientKey::generate();
    let sshd = Sshd::start(&key.public);
    let state = tempfile::tempdir().unwrap();
    let opts = options(state.path(), &key);
    let host = SshHost::connect(&target("n1", &sshd), &opts).await.unwrap();

    // First contact recorded exactly the server's key in the cluster's known_hosts.
    let recorded = known_hosts::recorded_keys(&opts.known_hosts, &sshd.address, sshd.port).await;
    let served = ssh_key::PublicKey::from_openssh(sshd.host_key().trim()).unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].key_data(), served.key_data());

    let env = vec![("GREETING".to_owned(), "hello 'there'".to_owned())];
    let out = host
        .exec(ExecRequest {
            command: "printf '%s|' \"$GREETING\" \"$(id -un)\"; cat; echo oops >&2; exit 3",
            stdin: Some(b"from stdin"),
            env: &env,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(out.status, 3);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("hello 'there'|{TEST_USER}|from stdin")
    );
    assert_eq!(out.stderr, b"oops\n");

    // A file transfer is `cat > tmp && mv`; 1 MiB goes through stdin intact.
    let blob: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let out = host
        .exec(ExecRequest {
            command: "f=$(mktemp) && cat > \"$f\" && sha256sum < \"$f\" && rm -f \"$f\"",
            stdin: Some(&blob),
            ..Default::default()
        })
        .await
        .unwrap();
    use sha2::Digest;
    let want = hex::encode(sha2::Sha256::digest(&blob));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(&want));

    // Many commands, one TCP connection: sshd forks one child per accepted connection.
    let n = 50;
    let started = Instant::now();
    for _ in 0..n {
        assert_eq!(run(&host, "true").await.0, 0);
    }
    let per = started.elapsed() / n;
    assert_eq!(sshd.connections(), 1, "sshd log: {}", sshd.log());
    // The peer: one `ssh` client process per command over the same master.
    let started = Instant::now();
    for _ in 0..n {
        let st = std::process::Command::new("ssh")
            .arg("-S")
            .arg(host.control_socket())
            .args(["-o", "ControlMaster=no", "-o", "BatchMode=yes", "x", "true"])
            .status()
            .unwrap();
        assert!(st.success());
    }
    let per_process = started.elapsed() / n;
    eprintln!(
        "latency of one command over the multiplexed connection: {per:?} \
         (an ssh process per command over the same master: {per_process:?})"
    );

    // Concurrent commands on the same master also work (MaxSessions permitting).
    let outs = futures::future::join_all((0..8).map(|i| {
        let host = &host;
        async move { run(host, &format!("echo {i}")).await }
    }))
    .await;
    for (i, (status, out)) in outs.into_iter().enumerate() {
        assert_eq!((status, out.trim()), (0, i.to_string().as_str()));
    }
    assert_eq!(sshd.connections(), 1);
    host.close().await;
}

#[tokio::test]
async fn become_uses_sudo_and_fails_fast_without_it() {
    if !require(&[Need::Hosts]) {
        return;
    }
    let key = ClientKey::generate();
    let sshd = Sshd::start(&key.public);
    let state = tempfile::tempdir().unwrap();
    let host = SshHost::connect(&target("n1", &sshd), &options(state.path(), &key))
        .await
        .unwrap();
    let req = ExecRequest {
        command: "id -u",
        become_root: true,
        ..Default::default()
    };
    // No sudoers entry: `sudo -n` fails at once instead of waiting for a password.
    let denied = host.exec(req.clone()).await.unwrap();
    assert_ne!(denied.status, 0);
    let _grant = Sudoers::grant();
    let out = host.exec(req).await.unwrap();
    assert_eq!((out.status, out.stdout.as_slice()), (0, b"0\n".as_slice()));
    // With become, environment values reach the root shell but no argument list on the host:
    // every ancestor of the shell (sudo, the login shell, sshd) is listed with its argv.
    let env = vec![("TOKEN".to_owned(), "s3cret 'x'\n$(id)".to_owned())];
    let args = vec!["arg one".to_owned()];
    let out = host
        .exec(ExecRequest {
            command: "printf '%s|%s|%s|' \"$(id -u)\" \"$TOKEN\" \"$1\"; cat
p=$$; while [ \"$p\" -gt 1 ]; do tr '\\0' ' ' < /proc/$p/cmdline >&2; echo >&2; s=$(cat /proc/$p/stat); s=${s##*) }; set -- $s; p=$2; done",
            args: &args,
            env: &env,
            stdin: Some(b"in"),
            become_root: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let argvs = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        (out.status, String::from_utf8_lossy(&out.stdout).as_ref()),
        (0, "0|s3cret 'x'\n$(id)|arg one|in"),
        "{argvs}"
    );
    assert!(argvs.contains("sudo -n"), "{argvs}");
    assert!(
        !argvs.contains("s3cret"),
        "a value in an argument list:\n{argvs}"
    );
}

#[tokio::test]
async fn changed_host_key_is_refused_with_both_fingerprints_until_forgotten() {
    if !require(&[Need::Hosts]) {
        return;
    }
    let key = ClientKey::generate();
    let mut sshd = Sshd::start(&key.public);
    let state = tempfile::tempdir().unwrap();
    let opts = options(state.path(), &key);
    let t = target("node-7", &sshd);
    let fp = |line: String| {
        known_hosts::fingerprint(&ssh_key::PublicKey::from_openssh(line.trim()).unwrap())
    };
    let old = fp(sshd.host_key());
    SshHost::connect(&t, &opts).await.unwrap().close().await;

    sshd.restart_with_new_key();
    let new = fp(sshd.host_key());
    assert_ne!(old, new);
    let err = SshHost::connect(&t, &opts).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, HostError::Other { .. }), "{err:?}");
    assert!(msg.contains("node-7"), "{msg}");
    assert!(msg.contains(&old) && msg.contains(&new), "{msg}");
    assert!(msg.contains("--forget-host node-7"), "{msg}");
    // Still refused on a second try: nothing was silently overwritten.
    let again = known_hosts::recorded_keys(&opts.known_hosts, &sshd.address, sshd.port).await;
    assert_eq!(known_hosts::fingerprint(&again[0]), old);

    assert!(
        known_hosts::forget_host(&opts.known_hosts, &sshd.address, sshd.port)
            .await
            .unwrap()
    );
    let host = SshHost::connect(&t, &opts).await.unwrap();
    assert_eq!(run(&host, "echo ok").await, (0, "ok\n".into()));
    let now = known_hosts::recorded_keys(&opts.known_hosts, &sshd.address, sshd.port).await;
    assert_eq!(known_hosts::fingerprint(&now[0]), new);
}

#[tokio::test]
async fn per_command_timeout_kills_the_remote_command() {
    if !require(&[Need::Hosts]) {
        return;
    }
    let key = ClientKey::generate();
    let sshd = Sshd::start(&key.public);
    let state = tempfile::tempdir().unwrap();
    let host = SshHost::connect(&target("n1", &sshd), &options(state.path(), &key))
        .await
        .unwrap();
    let started = Instant::now();
    let marker = format!("sleep 41.{}", sshd.port);
    let err = host
        .exec(ExecRequest {
            command: &marker,
            timeout: Some(Duration::from_millis(500)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The remote process is gone, and the session still works.
    let (_, left) = run(&host, &format!("pgrep -f '^{marker}' || true")).await;
    assert_eq!(left.trim(), "", "the timed-out command still runs");
    assert_eq!(run(&host, "echo alive").await.1, "alive\n");
    // A command that finishes in time is not affected by its timeout.
    let out = host
        .exec(ExecRequest {
            command: "exit 124",
            timeout: Some(Duration::from_secs(20)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(out.status, 124);
}

#[tokio::test]
async fn connecting_retries_while_the_host_boots_then_gives_up() {
    if !require(&[Need::Hosts]) {
        return;
    }
    let key = ClientKey::generate();
    let state = tempfile::tempdir().unwrap();
    let mut opts = options(state.path(), &key);
    opts.boot_wait = Duration::from_secs(15);
    let port = support::sshd::free_port();
    let t = Target {
        name: "booting".into(),
        address: "127.0.0.1".into(),
        port,
        user: None,
        keyfile: None,
    };
    let connecting = tokio::spawn({
        let (t, opts) = (t.clone(), opts.clone());
        async move { SshHost::connect(&t, &opts).await }
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    let sshd = Sshd::start_on(port, &key.public);
    let host = connecting.await.unwrap().unwrap();
    assert_eq!(run(&host, "echo up").await.1, "up\n");
    drop(host);
    drop(sshd);

    // Nothing listening at all: unreachable after the (short) boot wait.
    opts.boot_wait = Duration::from_millis(600);
    let started = Instant::now();
    let err = SshHost::connect(&t, &opts).await.unwrap_err();
    assert!(matches!(err, HostError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("Connection refused"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_host_killed_mid_run_is_unreachable_while_the_others_finish() {
    if !require(&[Need::Hosts]) {
        return;
    }
    let key = ClientKey::generate();
    let mut servers: Vec<Sshd> = (0..3).map(|_| Sshd::start(&key.public)).collect();
    let state = tempfile::tempdir().unwrap();
    let opts = options(state.path(), &key);
    let items: Vec<(String, Target)> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("n{i}"), target(&format!("n{i}"), s)))
        .collect();
    let run_all = fanout::fan_out(items, 8, None, move |t: Target| {
        let opts = opts.clone();
        async move {
            let h = SshHost::connect(&t, &opts).await?;
            let out = h
                .exec(ExecRequest {
                    command: "echo connected; sleep 2; echo finished",
                    ..Default::default()
                })
                .await?;
            Ok(Done {
                status: if out.status == 0 {
                    Status::Ok
                } else {
                    Status::Failed
                },
                message: format!("rc={}", out.status),
                output: String::from_utf8_lossy(&out.stdout).into_owned(),
                value: Some(()),
            })
        }
    });
    let handle = tokio::spawn(run_all);
    // Wait until every host is connected, then kill the middle one.
    let deadline = Instant::now() + Duration::from_secs(10);
    while servers.iter().any(|s| s.connections() == 0) {
        assert!(Instant::now() < deadline, "hosts did not connect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    servers[1].kill();
    let reports = handle.await.unwrap();
    let statuses: Vec<Status> = reports.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [Status::Ok, Status::Unreachable, Status::Ok],
        "{reports:?}"
    );
    assert!(reports[1].message.contains("n1"), "{}", reports[1].message);
    assert!(fanout::any_failed(&reports));
    let text = fanout::summary_text(&reports);
    assert!(text.contains("1 unreachable"), "{text}");
}

#[tokio::test]
async fn jump_host_from_the_users_ssh_config() {
    if !require(&[Need::Hosts]) {
        return;
    }
    let key = ClientKey::generate();
    let jump = Sshd::start(&key.public);
    let node = Sshd::start(&key.public);
    let state = tempfile::tempdir().unwrap();
    // The jump hop is configured the way users do it: a Host block in their ssh config.
    let config = state.path().join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host bastion\n  HostName 127.0.0.1\n  Port {}\n  User {TEST_USER}\n  IdentityFile {}\n  \
             UserKnownHostsFile {}/jump_known_hosts\n  StrictHostKeyChecking accept-new\n  BatchMode yes\n",
            jump.port,
            key.private.display(),
            state.path().display()
        ),
    )
    .unwrap();
    let mut opts = options(state.path(), &key);
    opts.ssh_config = Some(config);
    opts.jump_host = Some("bastion".into());
    let host = SshHost::connect(&target("inner", &node), &opts)
        .await
        .unwrap();
    assert_eq!(run(&host, "echo via jump").await.1, "via jump\n");
    // The node's own connection arrives through the jump host's sshd.
    assert_eq!(jump.connections(), 1);
    assert_eq!(node.connections(), 1);
}

#[tokio::test]
async fn a_host_that_vanishes_silently_is_declared_unreachable_by_keepalives() {
    if !require(&[Need::Hosts]) {
        return;
    }
    let key = ClientKey::generate();
    let sshd = Sshd::start_in_netns(&key.public);
    assert_eq!(sshd.port, 22);
    let state = tempfile::tempdir().unwrap();
    let mut opts = options(state.path(), &key);
    opts.keepalive = Duration::from_secs(1);
    let host = SshHost::connect(&target("ghost", &sshd), &opts)
        .await
        .unwrap();
    // Port 22 on its own address: known_hosts files it under the bare address.
    assert_eq!(
        known_hosts::recorded_keys(&opts.known_hosts, &sshd.address, 22)
            .await
            .len(),
        1
    );
    assert_eq!(run(&host, "echo here").await.1, "here\n");
    let started = Instant::now();
    let pending = host.exec(ExecRequest {
        command: "sleep 60",
        ..Default::default()
    });
    let (res, ()) = tokio::join!(pending, async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sshd.pull_cable();
    });
    let err = res.unwrap_err();
    assert!(matches!(err, HostError::Unreachable { .. }), "{err:?}");
    // Three missed keep-alives of 1 s, not the 60 s of the command.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
