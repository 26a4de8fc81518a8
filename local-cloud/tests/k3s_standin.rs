//! The k3s stand-in as real processes on loopback, checked the way a user or a tool sees k3s:
//! its flags and config file, the files a first server writes, `/cacerts` and the token's CA
//! pin, its serving certificate's names, `READY=1`, the machine's real `kubectl`, agents that
//! join or are refused (wrong CA hash, wrong password, a reinstalled node's new password),
//! and a silent node going `NotReady`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod k3s_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use k3s_support::{K3s, eventually, free_port, kubectl, kubectl_run, skip};
use sha2::Digest;

/// A first server on loopback in `dir`; its port and kubeconfig.
fn server(dir: &Path, extra: &[&str]) -> (K3s, u16, std::path::PathBuf) {
    let port = free_port();
    let data = dir.join("server");
    let kubeconfig = dir.join("k3s.yaml");
    let port_s = port.to_string();
    let mut args = vec![
        "server",
        "--data-dir",
        data.to_str().unwrap(),
        "--https-listen-port",
        &port_s,
        "--bind-address",
        "127.0.0.1",
        "--node-ip",
        "127.0.0.1",
        "--node-name",
        "server-1",
        "--tls-san",
        "api.cluster.test",
        "--write-kubeconfig",
        kubeconfig.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut s = K3s::start(dir, "server", &args);
    s.wait_ready();
    (s, port, kubeconfig)
}

/// An agent joining `port` with `token` as node `name`, its data dir named after `label`.
fn agent_as(dir: &Path, label: &str, name: &str, port: u16, token: &str) -> K3s {
    let data = dir.join(format!("data-{label}"));
    let lb = free_port().to_string();
    let url = format!("https://127.0.0.1:{port}");
    K3s::start(
        dir,
        label,
        &[
            "agent",
            "--data-dir",
            data.to_str().unwrap(),
            "--server",
            &url,
            "--token",
            token,
            "--node-name",
            name,
            "--node-ip",
            "127.0.0.2",
            "--lb-server-port",
            &lb,
        ],
    )
}

/// An agent named `name` with a data dir of its own.
fn agent(dir: &Path, name: &str, port: u16, token: &str) -> K3s {
    agent_as(dir, name, name, port, token)
}

#[test]
fn version_and_unknown_flags_fail_like_k3s() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_local-cloud-k3s"))
        .args([local_cloud::k3s::MARKER, "v1.32.5+k3s1", "--version"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap();
    // k3s-ansible reads the third word of the first line.
    assert_eq!(first.split(' ').nth(2), Some("v1.32.5+k3s1"), "{text}");
    assert!(first.contains("stand-in"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let mut bad = K3s::start(dir.path(), "bad", &["server", "--tls-sans", "x"]);
    assert_eq!(bad.wait_exit(), 1);
    assert!(
        bad.logs()
            .contains("flag provided but not defined: -tls-sans"),
        "{}",
        bad.logs()
    );
    // An agent refuses an unknown key of its config file; a server skips it with a warning.
    let cfg = dir.path().join("config.yaml");
    std::fs::write(&cfg, "bogus-key: 1\n").unwrap();
    let mut a = K3s::start(
        dir.path(),
        "agent-cfg",
        &["agent", "--config", cfg.to_str().unwrap()],
    );
    assert_eq!(a.wait_exit(), 1);
    assert!(
        a.logs()
            .contains("flag provided but not defined: -bogus-key"),
        "{}",
        a.logs()
    );
    let (mut s, _, _) = server(dir.path(), &["--config", cfg.to_str().unwrap()]);
    s.wait_log("Unknown flag --bogus-key found in config.yaml, skipping");
}

#[test]
fn a_first_server_writes_k3s_files_and_serves_only_its_names() {
    let dir = tempfile::tempdir().unwrap();
    let (s, port, kubeconfig) = server(dir.path(), &["--disable", "traefik,metrics-server"]);
    let srv = s.data_dir.join("server");
    let token = std::fs::read_to_string(srv.join("token")).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&srv.join("token")), 0o600);
    assert_eq!(mode(&kubeconfig), 0o600);
    assert_eq!(
        std::fs::read_link(srv.join("node-token")).unwrap(),
        srv.join("token")
    );
    // K10<sha256 of the CA /cacerts serves>::server:<32 hex>.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let insecure = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let base = format!("https://127.0.0.1:{port}");
    let cacerts = rt.block_on(async {
        insecure
            .get(format!("{base}/cacerts"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    });
    let hash = hex::encode(sha2::Sha256::digest(&cacerts));
    let (head, password) = token.trim().split_once("::server:").unwrap();
    assert_eq!(head, format!("K10{hash}"));
    assert!(password.len() == 32 && password.chars().all(|c| c.is_ascii_hexdigit()));
    let ping = rt.block_on(async {
        insecure
            .get(format!("{base}/ping"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert_eq!(ping, "pong");
    let anon = rt.block_on(async {
        insecure
            .get(format!("{base}/api"))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(anon.as_u16(), 401, "anonymous requests are refused");
    // The kubeconfig is k3s's: `default` everywhere, the server on loopback.
    let kc = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(
        kc.contains(&format!("server: https://127.0.0.1:{port}")),
        "{kc}"
    );
    assert!(
        kc.contains("name: default") && kc.contains("current-context: default"),
        "{kc}"
    );
    // The serving certificate names: a tls-san works, a name it does not carry is refused.
    let trusted = |host: &str| {
        let ca = reqwest::Certificate::from_pem(&cacerts).unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only([ca])
            .resolve(host, format!("127.0.0.1:{port}").parse().unwrap())
            .build()
            .unwrap();
        rt.block_on(async {
            client
                .get(format!("https://{host}:{port}/ping"))
                .send()
                .await
        })
    };
    assert_eq!(trusted("api.cluster.test").unwrap().status().as_u16(), 200);
    let refused = trusted("not-a-san.cluster.test").unwrap_err();
    assert!(
        format!("{refused:?}")
            .to_lowercase()
            .contains("certificate"),
        "{refused:?}"
    );
    let Some(kubectl) = kubectl() else {
        return skip(
            "a_first_server_writes_k3s_files",
            "no kubectl (Debian package kubectl)",
        );
    };
    let (code, out, err) = kubectl_run(&kubectl, &kubeconfig, &["get", "nodes", "-o", "wide"]);
    assert_eq!(code, 0, "{err}");
    let line = out.lines().find(|l| l.starts_with("server-1")).unwrap();
    assert!(
        line.contains(" Ready ") && line.contains("control-plane,master"),
        "{out}"
    );
    assert!(line.contains(k3s_support::VERSION), "{out}");
    // Packaged components: the disabled ones are absent.
    let (_, deploys, _) = kubectl_run(
        &kubectl,
        &kubeconfig,
        &["get", "deploy", "-n", "kube-system", "-o", "name"],
    );
    assert!(deploys.contains("deployment.apps/coredns"), "{deploys}");
    assert!(
        deploys.contains("deployment.apps/local-path-provisioner"),
        "{deploys}"
    );
    assert!(
        !deploys.contains("traefik") && !deploys.contains("metrics-server"),
        "{deploys}"
    );
    assert!(!srv.join("manifests/traefik.yaml").exists());
    assert!(srv.join("manifests/coredns.yaml").exists());
    let (_, cm, _) = kubectl_run(
        &kubectl,
        &kubeconfig,
        &[
            "get",
            "cm",
            "cluster-dns",
            "-n",
            "kube-system",
            "-o",
            "jsonpath={.data.clusterDNS}",
        ],
    );
    assert_eq!(cm, "10.43.0.10");
}

#[test]
fn agents_join_with_the_token_and_are_refused_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let (s, port, kubeconfig) = server(dir.path(), &[]);
    let token = std::fs::read_to_string(s.data_dir.join("server/token"))
        .unwrap()
        .trim()
        .to_owned();
    let mut a1 = agent(dir.path(), "agent-1", port, &token);
    a1.wait_ready();
    // A token pinning another CA: refused every few seconds, never READY.
    let wrong_ca = format!("K10{}{}", "0".repeat(64), &token[67..]);
    let mut bad = agent(dir.path(), "agent-x", port, &wrong_ca);
    let log = bad.wait_log("token CA hash does not match the Cluster CA certificate hash");
    assert!(
        log.contains(&format!(
            "Failed to validate connection to cluster at https://127.0.0.1:{port}"
        )),
        "{log}"
    );
    assert!(!bad.notified());
    // The right CA with a wrong password: the configuration is refused.
    let wrong_pw = format!("{}::server:{}", &token[..67], "f".repeat(32));
    let mut bad_pw = agent(dir.path(), "agent-y", port, &wrong_pw);
    bad_pw.wait_log("failed to retrieve configuration from server: not authorized");
    assert!(!bad_pw.notified());
    // A reinstalled host (new password) under agent-1's name is refused until the Node goes.
    let mut again = agent_as(dir.path(), "agent-1-reinstalled", "agent-1", port, &token);
    again.wait_log("Node password rejected");
    let Some(kubectl) = kubectl() else {
        return skip(
            "agents_join_with_the_token",
            "no kubectl (Debian package kubectl)",
        );
    };
    let (code, out, err) = kubectl_run(
        &kubectl,
        &kubeconfig,
        &[
            "get",
            "node",
            "agent-1",
            "-o",
            "jsonpath={.spec.podCIDR} {.status.nodeInfo.kubeletVersion}",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("10.42.1.0/24 {}", k3s_support::VERSION));
    let (_, lease, _) = kubectl_run(
        &kubectl,
        &kubeconfig,
        &[
            "get",
            "lease",
            "agent-1",
            "-n",
            "kube-node-lease",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
    );
    assert_eq!(lease, "agent-1");
    a1.kill();
    let (code, _, err) = kubectl_run(&kubectl, &kubeconfig, &["delete", "node", "agent-1"]);
    assert_eq!(code, 0, "{err}");
    again.wait_ready();
}

#[test]
fn a_node_whose_heartbeats_stop_goes_not_ready_and_comes_back() {
    let Some(kubectl) = kubectl() else {
        return skip(
            "a_node_whose_heartbeats_stop",
            "no kubectl (Debian package kubectl)",
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let (s, port, kubeconfig) = server(dir.path(), &[]);
    let token = std::fs::read_to_string(s.data_dir.join("server/token"))
        .unwrap()
        .trim()
        .to_owned();
    let mut a = agent(dir.path(), "agent-1", port, &token);
    a.wait_ready();
    let status = || {
        let (_, out, _) = kubectl_run(
            &kubectl,
            &kubeconfig,
            &["get", "nodes", "agent-1", "--no-headers"],
        );
        out
    };
    assert!(status().contains(" Ready "), "{}", status());
    a.kill();
    eventually("agent-1 NotReady", || {
        status().contains(" NotReady ").then_some(())
    });
    let (_, reason, _) = kubectl_run(
        &kubectl,
        &kubeconfig,
        &[
            "get",
            "node",
            "agent-1",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}",
        ],
    );
    assert_eq!(reason, "NodeStatusUnknown");
    let mut back = agent(dir.path(), "agent-1", port, &token);
    back.wait_ready();
    eventually("agent-1 Ready again", || {
        status().contains(" Ready ").then_some(())
    });
}

/// The release mirror: assets whose checksums are in the release's `sha256sum-amd64.txt`,
/// versions that differ, and channels that redirect to a release tag.
#[test]
fn the_release_mirror_serves_checksummed_versions_and_channels() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let init = std::path::PathBuf::from(env!("CARGO_BIN_EXE_local-cloud-k3s"));
    let (addr, _task) = rt
        .block_on(local_cloud::mirror::serve(
            "127.0.0.1:0".parse().unwrap(),
            init,
        ))
        .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str| {
        rt.block_on(async {
            let r = http
                .get(format!("http://{addr}{path}"))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let loc = r
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, loc, r.bytes().await.unwrap().to_vec())
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let mut versions = Vec::new();
    for tag in local_cloud::mirror::VERSIONS {
        let (code, _, k3s) = get(&format!("/k3s-io/k3s/releases/download/{tag}/k3s"));
        assert_eq!(code, 200);
        let (_, _, sums) = get(&format!(
            "/k3s-io/k3s/releases/download/{tag}/sha256sum-amd64.txt"
        ));
        let sums = String::from_utf8(sums).unwrap();
        // install.sh's way: the line ending in " k3s", the text before the first blank.
        let line = sums.lines().find(|l| l.ends_with(" k3s")).unwrap();
        let want = line.split(' ').next().unwrap();
        assert_eq!(want, hex::encode(sha2::Sha256::digest(&k3s)), "{sums}");
        assert_eq!(
            sums.lines().count(),
            4,
            "images first, then the binary: {sums}"
        );
        // The asset runs: as a host would, after `chmod 0755`.
        let path = dir.path().join(format!("k3s-{tag}"));
        std::fs::write(&path, &k3s).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = std::process::Command::new(&path)
            .arg("--version")
            .output()
            .unwrap();
        versions.push(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .next()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(versions[0].split(' ').nth(2), Some("v1.31.4+k3s1"));
    assert_ne!(versions[0], versions[1]);
    let (code, loc, _) = get("/v1-release/channels/stable");
    assert_eq!(code, 302);
    assert!(
        loc.unwrap()
            .ends_with("/k3s-io/k3s/releases/tag/v1.32.5+k3s1")
    );
    let (code, _, list) = get("/v1-release/channels");
    assert_eq!(code, 200);
    let list: serde_json::Value = serde_json::from_slice(&list).unwrap();
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "v1.31")
    );
    assert_eq!(get("/k3s-io/k3s/releases/download/v9.9.9+k3s1/k3s").0, 404);
}
