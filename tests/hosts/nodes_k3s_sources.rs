//! Issue 11, where the k3s binary comes from, on real local-cloud hosts: a release site (a
//! test server on every address of this machine, which the hosts reach at their subnet
//! gateway) serving a `k3s` that does not match its `sha256sum-amd64.txt` makes the
//! `download` path fail on the nodes and the `upload` path fail on the controller, each
//! naming the file and both hashes and leaving no `k3s` on any host; `k3s.install: upload`
//! from the local cloud's mirror then installs the cluster from the controller's cache
//! (`$XDG_CACHE_HOME/platform/k3s/<tag>/k3s`). Root needed (`support::require`).

#![allow(clippy::print_stderr)] // timings, shown with --nocapture

use std::path::Path;

use sha2::{Digest, Sha256};
use support::http_files::FileServer;
use support::nodes::NodeHost;
use support::{Cluster, Need, Run, require};

const OCTET: u8 = 232;
const TAG: &str = "v1.32.5+k3s1";
/// The tag as it appears in a release URL.
const TAG_URL: &str = "v1.32.5%2Bk3s1";

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// An asset of `TAG` from the local cloud's release mirror, as the hosts see it.
fn mirror_asset(name: &str) -> Vec<u8> {
    let url = format!("http://10.{OCTET}.1.1/k3s-io/k3s/releases/download/{TAG_URL}/{name}");
    support::block_on(async {
        let r = reqwest::get(&url).await.unwrap();
        assert!(r.status().is_success(), "{url}: {}", r.status());
        r.bytes().await.unwrap().to_vec()
    })
}

/// `platform up` with the controller's cache in `cache`.
fn up(c: &Cluster, cache: &Path) -> Run {
    let out = c
        .command()
        .arg("up")
        .env("XDG_CACHE_HOME", cache)
        .output()
        .unwrap();
    support::finish(out)
}

/// What the install would have left on `h`: the binary, any part file beside it, the token,
/// the config and the units.
fn k3s_files(c: &Cluster, h: &NodeHost) -> String {
    c.ssh_ok(
        h,
        "sudo -n find /usr/local/bin /etc/systemd/system -maxdepth 1 -iname '*k3s*'; \
         sudo -n find /etc/rancher/k3s -mindepth 1",
    )
}

#[test]
fn a_binary_that_does_not_match_its_checksum_is_refused_and_upload_installs_from_the_cache() {
    if !require(&[Need::Hosts, Need::Command("kubectl")]) {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let spec = Cluster::with_hosts("k3ssrc", OCTET, 1, 1);
    let mut c = spec.clone().build();
    let infra = c.run(&["up", "--only", "infra", "--only", "inventory"]);
    assert_eq!(infra.code, 0, "{infra:?}");

    // A release site whose `k3s` is not the one its checksum file lists.
    let genuine = mirror_asset("k3s");
    let sums = mirror_asset("sha256sum-amd64.txt");
    let expected = sha256(&genuine);
    assert!(
        String::from_utf8_lossy(&sums).contains(&format!("{expected}  k3s\n")),
        "the mirror lists its own binary"
    );
    let mut tampered = genuine.clone();
    tampered.extend_from_slice(b"# not what the release lists\n");
    let actual = sha256(&tampered);
    let dir = format!("/k3s-io/k3s/releases/download/{TAG_URL}");
    let site = FileServer::start_on(
        "0.0.0.0",
        vec![
            (format!("{dir}/k3s"), tampered),
            (format!("{dir}/sha256sum-amd64.txt"), sums),
        ],
    );
    let release_url = format!("http://10.{OCTET}.1.1:{}/k3s-io/k3s/releases", site.port);
    let k3s = format!("k3s:\n  version: \"{TAG}\"\n");
    let site_k3s = format!("{k3s}  release_url: {release_url}\n");
    c.reconfigure(|_| spec.clone().yaml(&site_k3s));

    // download: each node fetches and checks.
    let t = std::time::Instant::now();
    let r = up(&c, cache.path());
    eprintln!("up, download of a bad binary: {:?}", t.elapsed());
    assert_ne!(r.code, 0, "{r:?}");
    let hosts = c.hosts();
    // The first server refuses it, and the install stops there.
    let server = hosts.iter().find(|h| h.name.contains("servers")).unwrap();
    assert!(
        r.stderr.contains(&format!("{}: Download k3s", server.name)),
        "{}",
        r.stderr
    );
    for what in ["/usr/local/bin/k3s", &expected, &actual] {
        assert!(r.stderr.contains(what), "{what} not in:\n{}", r.stderr);
    }
    let seen = site.take();
    assert!(
        seen.iter().any(|l| l == &format!("GET {dir}/k3s")),
        "the nodes never downloaded from the test site: {seen:?}"
    );
    for h in &hosts {
        assert_eq!(k3s_files(&c, h), "", "{}: the install left files", h.name);
    }
    assert_eq!(c.phase_status("nodes").as_deref(), Some("failed"));

    // upload: the controller fetches and checks once, before any host is touched.
    c.reconfigure(|_| spec.clone().yaml(&format!("{site_k3s}  install: upload\n")));
    let r = up(&c, cache.path());
    assert_ne!(r.code, 0, "{r:?}");
    for what in [
        format!("{release_url}/download/{TAG_URL}/k3s"),
        expected.clone(),
        actual.clone(),
    ] {
        assert!(r.stderr.contains(&what), "{what} not in:\n{}", r.stderr);
    }
    assert!(r.stderr.contains("k3s.install upload"), "{}", r.stderr);
    assert!(
        site.take().contains(&format!("GET {dir}/k3s")),
        "the controller never downloaded"
    );
    let cached = cache.path().join("platform/k3s").join(TAG);
    let left: Vec<_> = std::fs::read_dir(&cached).unwrap().flatten().collect();
    assert!(left.is_empty(), "the cache kept {left:?}");
    for h in &hosts {
        assert_eq!(k3s_files(&c, h), "", "{}: the install left files", h.name);
    }

    // upload from the local cloud's mirror: the cache holds the checked binary and every
    // node runs that very file.
    c.reconfigure(|_| spec.clone().yaml(&format!("{k3s}  install: upload\n")));
    let t = std::time::Instant::now();
    let r = up(&c, cache.path());
    eprintln!("up, upload from the cache: {:?}", t.elapsed());
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(std::fs::read(cached.join("k3s")).unwrap(), genuine);
    for h in &hosts {
        let sum = c.ssh_ok(h, "sudo -n sha256sum /usr/local/bin/k3s");
        assert!(sum.starts_with(&expected), "{}: {sum}", h.name);
    }
    let ready = c.ready_nodes();
    assert_eq!(ready.len(), 2, "{ready:?}");
    assert!(ready.iter().all(|(_, v)| v == TAG), "{ready:?}");
    assert!(site.take().is_empty(), "the test site was asked again");
    c.teardown();
}
