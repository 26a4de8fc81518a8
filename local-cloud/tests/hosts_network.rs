//! The hosts' network as the local cloud realizes it: the k3s release mirror on each
//! subnet's gateway, fetched from inside a host the way the install's `download` path does
//! (channel redirect, checksum file, binary, checksum checked), gone with the bridge; and
//! `/etc/local-cloud/host.json`, how a host's k3s stand-in learns the cloud's time factor.
//! Real hosts over SSH (root needed).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod support;

use support::{Cloud, root_or_skip};

/// Whether a socket of this machine listens on `ip`:`port` (asked of the kernel: a connect
/// would not tell, since an address that is not local goes out by the default route).
fn listening(ip: &str, port: u16) -> bool {
    let out = std::process::Command::new("ss")
        .args(["-Hltn", "src", ip, "sport", "=", &format!(":{port}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "ss: {out:?}");
    !out.stdout.is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_download_k3s_from_the_mirror_on_their_gateway() {
    if !root_or_skip("hosts_download_k3s_from_the_mirror_on_their_gateway") {
        return;
    }
    let cloud = Cloud::start(175).await;
    let host = &cloud.scale_set("mir", 1).await[0];
    // What the product's `release::urls` gives `cloud.kind: local` for node subnet
    // 10.175.1.0/24: the gateway, port 80.
    let base = format!("http://10.175.1.1:{}", local_cloud::mirror::PORT);

    // The channel server answers a redirect to the release page of the channel's tag (on
    // the site the request named: curl sends no `:80` in `Host`).
    let redirect = host.ok(&format!(
        "curl -sS -o /dev/null -w '%{{http_code}} %{{redirect_url}}' {base}/v1-release/channels/stable"
    ));
    let tag = redirect
        .strip_prefix("302 http://10.175.1.1/k3s-io/k3s/releases/tag/")
        .unwrap_or_else(|| panic!("channel answer: {redirect}"))
        .to_string();
    assert!(
        local_cloud::mirror::VERSIONS.contains(&tag.as_str()),
        "{tag}"
    );

    // The binary and the release's checksum file, checked as the install checks them.
    let dl = format!("{base}/k3s-io/k3s/releases/download/{tag}");
    let checked = host.ok(&format!(
        "mkdir -p /tmp/k3s && cd /tmp/k3s && \
         wget -q {dl}/k3s && curl -fsSLO {dl}/sha256sum-amd64.txt && \
         sha256sum --check --ignore-missing sha256sum-amd64.txt"
    ));
    assert_eq!(checked, "k3s: OK");
    // A tampered binary fails the same check.
    let tampered = host.run(
        "cd /tmp/k3s && cp k3s k3s.orig && echo '# x' >> k3s && \
         sha256sum --check --ignore-missing sha256sum-amd64.txt",
    );
    assert_ne!(tampered.code, Some(0), "{tampered:?}");
    // What was downloaded is the stand-in of that version.
    let version = host.ok("cd /tmp/k3s && chmod +x k3s.orig && ./k3s.orig --version");
    assert!(
        version.starts_with(&format!("k3s version {tag} ")),
        "{version}"
    );
    let unknown = host.ok(&format!(
        "curl -s -o /dev/null -w '%{{http_code}}' {dl}/no-such-asset"
    ));
    assert_eq!(unknown, "404");

    // The host knows the cloud's time factor without a k3s flag.
    let info: serde_json::Value =
        serde_json::from_str(&host.ok("cat /etc/local-cloud/host.json")).unwrap();
    assert_eq!(info["time_factor"], 0.001, "{info}");
    assert_eq!(info["vm"], host.name.as_str());

    // The mirror listens on the gateway only, and goes with the bridge.
    assert!(
        listening("10.175.1.1", 80),
        "the mirror listens on the gateway"
    );
    assert!(
        !listening("0.0.0.0", 80),
        "the mirror listens beyond the gateway"
    );
    cloud.handle.shutdown().await;
    assert!(
        !listening("10.175.1.1", 80),
        "the mirror outlived its bridge"
    );
    let addr = std::process::Command::new("ip")
        .args(["-o", "addr", "show", "to", "10.175.1.1"])
        .output()
        .unwrap();
    assert!(
        addr.stdout.is_empty(),
        "the gateway address outlived its bridge"
    );
}
