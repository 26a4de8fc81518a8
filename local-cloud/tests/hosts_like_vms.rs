//! From inside, a local-cloud host looks like an Azure VM where a play or a user can tell:
//! sshd answers on every address of the host (so `wait_for: {port: 22}`, whose default host
//! is 127.0.0.1, works), the loopback is the host's own, `/etc/hosts` names localhost and
//! the host, its own name resolves, and `/run`, `/tmp`, `/dev/shm` and the machine id belong
//! to the host alone; the cloud's API token is nowhere a host can read it. Checked over real
//! SSH sessions and the hosts' processes and disks (root needed).
#![cfg(feature = "hosts")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use support::{Cloud, machine_marker, root_or_skip, until};

/// Reads the first bytes a TCP service at `addr` port `port` sends, from inside a host.
fn greeting(addr: &str, port: u16) -> String {
    format!("timeout 5 bash -c 'exec 3<>/dev/tcp/{addr}/{port} && head -c 4 <&3'")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_looks_like_a_vm_from_inside() {
    if !root_or_skip("a_host_looks_like_a_vm_from_inside") {
        return;
    }
    // The data dir (which holds the API token) outside /tmp, which hosts do not share: the
    // cloud must hide it from its hosts itself, as it must `.platform/local-cloud`.
    let data = tempfile::Builder::new().tempdir_in("/var/tmp").unwrap();
    let cloud = Cloud::start_in(data, 171).await;
    let hosts = cloud.scale_set("vm", 2).await;
    let (a, b) = (&hosts[0], &hosts[1]);

    // sshd listens on every address of the host, loopback included.
    for addr in ["127.0.0.1", "localhost", a.ip.as_str()] {
        assert_eq!(a.ok(&greeting(addr, 22)), "SSH-", "sshd on {addr}");
    }

    // The loopback is the host's own: a service on A's 127.0.0.1 is not on B's nor on the
    // machine's.
    let port = 20000 + (std::process::id() % 10000) as u16;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} is free on the machine"
    );
    a.ok(&format!(
        "printf '%s\\n' 'import socket' 's=socket.socket()' \
         's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)' \
         's.bind((\"127.0.0.1\", {port}))' 's.listen()' 'while True:' \
         '    c, _ = s.accept(); c.sendall(b\"mine\"); c.close()' > /tmp/listen.py && \
         setsid -f python3 /tmp/listen.py >/dev/null 2>&1 </dev/null"
    ));
    until(20, "A's loopback service answers on A", || {
        a.run(&greeting("127.0.0.1", port)).stdout == "mine"
    })
    .await;
    let on_b = b.run(&greeting("127.0.0.1", port));
    assert_ne!(on_b.code, Some(0), "B reached A's loopback: {on_b:?}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the machine reached A's loopback"
    );

    // /etc/hosts and name resolution: localhost and the host's own name.
    let name = a.ok("hostname");
    let own = a.ok("getent hosts \"$(hostname)\"");
    assert_eq!(
        own.split_whitespace().collect::<Vec<_>>(),
        [a.ip.as_str(), name.as_str()]
    );
    assert!(
        a.ok("hostname -i").split_whitespace().any(|w| w == a.ip),
        "hostname -i"
    );
    let localhost = a.ok("getent ahostsv4 localhost");
    assert!(localhost.starts_with("127.0.0.1"), "{localhost}");
    let hosts_file = a.ok("cat /etc/hosts");
    assert!(
        hosts_file.lines().any(|l| l == "127.0.0.1 localhost"),
        "{hosts_file}"
    );
    assert!(
        !hosts_file.contains(&b.ip),
        "A's /etc/hosts names B: {hosts_file}"
    );
    // No DNS server: an unknown name fails (at once, rather than after the machine's
    // resolver timed out from a network it cannot reach).
    let unknown = a.run("getent hosts no-such-name.invalid");
    assert_eq!(unknown.code, Some(2), "{unknown:?}");

    // /tmp, /run and /dev/shm are the host's own: the machine's files are not there, and
    // what A writes is neither on B nor on the machine.
    let tmp_marker = machine_marker(std::path::Path::new("/tmp"), "plc-machine-marker");
    let shm_marker = machine_marker(std::path::Path::new("/dev/shm"), "plc-machine-marker");
    for marker in [&tmp_marker, &shm_marker] {
        let seen = a.run(&format!("test -e {}", marker.display()));
        assert_eq!(
            seen.code,
            Some(1),
            "A sees the machine's {}",
            marker.display()
        );
    }
    let tag = format!("a-{}", std::process::id());
    a.ok(&format!(
        "touch /tmp/{tag} /dev/shm/{tag} && sudo touch /run/{tag} && sudo mkdir -p /run/user"
    ));
    for dir in ["/tmp", "/dev/shm", "/run"] {
        let path = format!("{dir}/{tag}");
        assert_eq!(
            a.run(&format!("test -e {path}")).code,
            Some(0),
            "A keeps {path}"
        );
        assert_eq!(
            b.run(&format!("test -e {path}")).code,
            Some(1),
            "B sees A's {path}"
        );
        assert!(
            !std::path::Path::new(&path).exists(),
            "the machine sees A's {path}"
        );
    }
    assert_eq!(a.ok("stat -c %a /tmp /dev/shm"), "1777\n1777");

    // Each host has a machine id of its own.
    let ids: Vec<String> = [a, b].iter().map(|h| h.ok("cat /etc/machine-id")).collect();
    let machine_id = std::fs::read_to_string("/etc/machine-id").unwrap_or_default();
    assert_ne!(ids[0], ids[1]);
    assert!(
        ids.iter()
            .all(|id| id.len() == 32 && *id != machine_id.trim()),
        "{ids:?}"
    );

    // The cloud's API token reaches no host: not the data dir that holds it, not the
    // environment or command line of any process of the host (init, sshd, sessions), not
    // a file the realizer wrote or the host's own disk (the overlay's upper dir).
    let token = cloud.handle.token().to_owned();
    let data_dir = cloud.data.path();
    assert!(data_dir.join(local_cloud::TOKEN_FILE).is_file());
    assert_eq!(a.ok(&format!("sudo ls -A {}", data_dir.display())), "");
    for h in [a, b] {
        let pids = std::process::Command::new("ip")
            .args(["netns", "pids", &h.netns])
            .output()
            .unwrap();
        let pids = String::from_utf8(pids.stdout).unwrap();
        let mut commands = Vec::new();
        for pid in pids.split_whitespace() {
            let proc = Path::new("/proc").join(pid);
            let (Ok(env), Ok(cmd)) = (
                std::fs::read(proc.join("environ")),
                std::fs::read(proc.join("cmdline")),
            ) else {
                continue; // (ended meanwhile)
            };
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            assert!(
                !contains(&env, &token),
                "{}: {cmd} has the token in its environment",
                h.name
            );
            assert!(
                !cmd.contains(&token),
                "{}: {cmd} has the token on its command line",
                h.name
            );
            commands.push(cmd);
        }
        assert!(
            commands.iter().any(|c| c.contains("sshd")),
            "{}: {commands:?}",
            h.name
        );
        assert!(
            commands.len() >= 2,
            "{}: init and sshd at least: {commands:?}",
            h.name
        );
    }
    let mut files = Vec::new();
    files_without(&data_dir.join("hosts"), &token, &mut files);
    for h in [a, b] {
        // The walk did read each host's provisioning, its sshd config among it.
        let upper = cloud.vm_dir(&h.name).join("upper");
        assert!(
            files.iter().any(|f| f.starts_with(upper.join("etc/ssh"))),
            "{}: {files:?}",
            upper.display()
        );
    }

    std::fs::remove_file(&tmp_marker).unwrap();
    std::fs::remove_file(&shm_marker).unwrap();
    cloud.handle.shutdown().await;
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Asserts that no regular file below `dir` holds `token` (without crossing into a mounted
/// filesystem, such as a host's running root); collects the files read.
fn files_without(dir: &Path, token: &str, files: &mut Vec<std::path::PathBuf>) {
    let dev = std::fs::symlink_metadata(dir).unwrap().dev();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let path = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.dev() != dev {
            continue;
        }
        if meta.is_dir() {
            files_without(&path, token, files);
        } else if meta.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !contains(&bytes, token),
                "{} holds the token",
                path.display()
            );
            files.push(path);
        }
    }
}
