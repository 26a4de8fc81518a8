//! `playbooks/k3s-server.yml` (and through it `tasks/k3s-node.yml` and both templates) run
//! by our engine on a namespace host, and by `ansible-playbook` on another: the same tasks
//! change and skip, and they leave the same files byte for byte. The binary comes from the
//! controller (`k3s_binary_src`): the hosts have no network to a release. These hosts are
//! chroots without systemd as PID 1, so both enable the unit on its files and start nothing
//! (Ansible's chroot behaviour); starting k3s for real is the nodes phase's, on local-cloud
//! hosts.
//!
//! Needs root, `ip`, `unshare` and `chroot` ([`NS_HOSTS`]) and, for the comparison,
//! ansible-core.

use platform::playbook::{self, RunOptions, Status, Target};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use support::{Need, require};

use super::ns_host::{NS_HOSTS, NsHost};

const TOKEN: &str = "pl4tf0rm-t0ken";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The nodes phase's variables for a first server with tls-san and a disabled component.
fn vars(binary: &Path) -> serde_json::Value {
    json!({
        "k3s_version": "v1.31.4+k3s1",
        "k3s_release_url": "https://github.com/k3s-io/k3s/releases",
        "k3s_binary_src": binary.display().to_string(),
        "k3s_images_src": "",
        "k3s_token": TOKEN,
        "k3s_server_url": "",
        "k3s_datastore_endpoint_set": false,
        "k3s_datastore_endpoint": "",
        "k3s_start_timeout": 120,
        "k3s_flannel_backend": "vxlan",
        "k3s_cluster_cidr": "10.42.0.0/16",
        "k3s_service_cidr": "10.43.0.0/16",
        "k3s_tls_san": ["10.0.0.4", "k3s.example.test"],
        "k3s_disable": ["traefik"],
    })
}

/// The files k3s-node.yml writes, with their modes, and the link `enable` makes, as the
/// host's overlay holds them.
fn written(host: &NsHost) -> Vec<(&'static str, String, Vec<u8>)> {
    let mut files: Vec<_> = [
        "usr/local/bin/k3s",
        "etc/rancher/k3s/token",
        "etc/rancher/k3s/config.yaml",
        "etc/systemd/system/k3s.service",
    ]
    .into_iter()
    .map(|f| {
        let p = host.upper.join(f);
        let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{f}: {e}"));
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        (f, format!("{mode:o}"), bytes)
    })
    .collect();
    let link = "etc/systemd/system/multi-user.target.wants/k3s.service";
    let target =
        std::fs::read_link(host.upper.join(link)).unwrap_or_else(|e| panic!("{link}: {e}"));
    files.push((
        link,
        "link".into(),
        target.into_os_string().into_encoded_bytes(),
    ));
    files
}

/// A tree of its own holding the playbooks, the binary to copy and the variables: a test
/// directory under /tmp, which the hosts' overlay of `/` shows at the same path.
fn setup() -> (tempfile::TempDir, PathBuf, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("k3s-checked");
    std::fs::write(
        &binary,
        b"#!/bin/sh\necho a k3s stand-in that is never started\n",
    )
    .unwrap();
    (dir, binary.clone(), vars(&binary))
}

/// The host as the one server of an inventory, with its private address.
fn server(host: Arc<NsHost>) -> Vec<Target> {
    vec![Target {
        host,
        groups: vec!["servers".into()],
        vars: json!({"private_ip": "10.0.0.4"})
            .as_object()
            .unwrap()
            .clone(),
    }]
}

fn ours(vars: &serde_json::Value, check: bool) -> RunOptions {
    RunOptions {
        check,
        extra_vars: vars.as_object().unwrap().clone(),
        ..RunOptions::default()
    }
}

#[tokio::test]
async fn k3s_server_yml_runs_on_a_namespace_host_up_to_the_unit_start() {
    if !require(&NS_HOSTS) {
        return;
    }
    let (dir, _binary, vars) = setup();
    let host = Arc::new(NsHost::create(dir.path(), "k3s-ours"));
    let targets = server(host.clone());
    let book = playbook::load(&repo().join("playbooks/k3s-server.yml")).unwrap();
    // Check mode first: nothing written, so the token has no directory to go to (as with
    // Ansible's copy in check mode).
    let r = playbook::run_playbook(&book, &targets, &ours(&vars, true))
        .await
        .unwrap();
    let st: Vec<Status> = r.results.iter().map(|t| t.status).collect();
    use Status::{Changed as C, Failed as F, Ok as O, Skipped as S};
    assert_eq!(st, [C, S, C, S, S, F], "{:?}", r.results);
    assert!(!host.upper.join("etc/rancher").exists());
    let r = playbook::run_playbook(&book, &targets, &ours(&vars, false))
        .await
        .unwrap();
    let st: Vec<Status> = r.results.iter().map(|t| t.status).collect();
    assert_eq!(st, [C, S, C, S, S, C, S, S, C, C, O, C], "{:?}", r.results);
    let start = &r.results.last().unwrap().data;
    assert_eq!(
        (&start["enabled"], &start["state"]),
        (&json!(true), &json!("restarted"))
    );
    assert!(
        start["warnings"].to_string().contains("Target is a chroot"),
        "{start:?}"
    );
    let files = written(&host);
    let config = String::from_utf8(files[2].2.clone()).unwrap();
    for line in [
        "cluster-init: true\n",
        "node-name: \"k3s-ours\"\n",
        "node-ip: \"10.0.0.4\"\n",
        "tls-san:\n  - \"10.0.0.4\"\n  - \"k3s.example.test\"\n",
        "disable:\n  - \"traefik\"\n",
    ] {
        assert!(config.contains(line), "{line:?} not in:\n{config}");
    }
    assert!(!config.contains("server:"), "{config}");
    assert_eq!(files[1].1, "600");
    assert_eq!(files[1].2, format!("{TOKEN}\n").as_bytes());
    let unit = String::from_utf8(files[3].2.clone()).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/k3s server\n"),
        "{unit}"
    );
    assert!(
        !format!("{r:?}").contains(TOKEN),
        "the token is in a result"
    );
    // Again: nothing changes, and the unit is only to be started.
    let r = playbook::run_playbook(&book, &targets, &ours(&vars, false))
        .await
        .unwrap();
    let st: Vec<Status> = r.results.iter().map(|t| t.status).collect();
    assert_eq!(st, [O, S, O, S, S, O, S, S, O, O, O, O], "{:?}", r.results);
    assert_eq!(r.results[11].data["state"], "started");
}

#[tokio::test]
async fn ansible_playbook_runs_k3s_server_yml_to_the_same_files() {
    if !(require(&NS_HOSTS) && require(&[Need::Ansible("ansible-playbook")])) {
        return;
    }
    let (dir, _binary, vars) = setup();
    let books = dir.path().join("playbooks");
    for sub in ["", "tasks", "templates"] {
        std::fs::create_dir_all(books.join(sub)).unwrap();
        for e in std::fs::read_dir(repo().join("playbooks").join(sub)).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                std::fs::copy(e.path(), books.join(sub).join(e.file_name())).unwrap();
            }
        }
    }
    let vars_file = dir.path().join("vars.json");
    std::fs::write(&vars_file, vars.to_string()).unwrap();
    // Both hosts have the same name: node-name is rendered from it.
    let theirs = NsHost::create(&dir.path().join("theirs"), "k3s-node");
    let inventory = dir.path().join("hosts.ini");
    std::fs::write(
        &inventory,
        "[servers]\nk3s-node ansible_connection=local private_ip=10.0.0.4\n",
    )
    .unwrap();
    let (status, stdout) = theirs
        .ansible_playbook(&format!(
            "-i {} -e @{} {}",
            inventory.display(),
            vars_file.display(),
            books.join("k3s-server.yml").display()
        ))
        .await;
    assert_eq!(status, 0, "{stdout}");
    assert!(
        stdout.contains("ok=7    changed=6    unreachable=0    failed=0    skipped=5"),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN), "{stdout}");

    let ours_host = Arc::new(NsHost::create(&dir.path().join("ours"), "k3s-node"));
    let targets = server(ours_host.clone());
    let book = playbook::load(&books.join("k3s-server.yml")).unwrap();
    let r = playbook::run_playbook(&book, &targets, &ours(&vars, false))
        .await
        .unwrap();
    let recap = &r.hosts[0];
    assert_eq!(
        (recap.ok, recap.changed, recap.failed, recap.skipped),
        (7, 6, 0, 5),
        "{:?}",
        r.results
    );
    assert_eq!(written(&ours_host), written(&theirs));
}
