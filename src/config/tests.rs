//! Unit tests of decoding and validation; the CLI-level snapshots live in `tests/`.

use super::*;
use std::path::Path;

fn load(text: &str) -> Result<Config, Vec<ConfigIssue>> {
    Config::from_str(text, Path::new("/tmp/cfg"), None)
}

fn paths(text: &str) -> Vec<String> {
    load(text)
        .unwrap_err()
        .into_iter()
        .map(|i| i.path)
        .collect()
}

const MINIMAL: &str = "cluster: demo\ncloud: {kind: local}\nnetwork: {admin_cidrs: [192.0.2.0/24]}\ngitops: {controller: none}\n";

#[test]
fn minimal_local_config_takes_every_default() {
    let c = load(MINIMAL).unwrap();
    assert_eq!(c.cloud.resource_group, "demo-rg");
    assert_eq!(
        c.cloud.subscription_id,
        "00000000-0000-0000-0000-000000000000"
    );
    assert_eq!(c.nodes.servers.count, 3);
    assert_eq!(c.nodes.agents.count, 2);
    assert_eq!(c.nodes.ssh_key, SshKey::Generate);
    assert_eq!(c.postgres.server_name, "demo-pg");
    assert_eq!(c.gitops.path, "clusters/demo");
    assert_eq!(c.state_dir, Path::new("/tmp/cfg/.platform"));
}

#[test]
fn the_init_templates_are_valid_and_name_every_field() {
    for cloud in ["local", "azure"] {
        let text = crate::templates::InitConfig {
            cluster: "demo",
            cloud,
            address_space: "10.7.0.0/16".parse().unwrap(),
        }
        .render()
        .unwrap();
        let result = load(&text);
        if cloud == "local" {
            result.unwrap();
        } else {
            // Azure needs the user's subscription, location, admin networks and repository.
            let mut p: Vec<String> = result.unwrap_err().into_iter().map(|i| i.path).collect();
            p.sort();
            assert_eq!(
                p,
                [
                    "cloud.location",
                    "cloud.subscription_id",
                    "gitops.flux.sha256",
                    "gitops.repository",
                    "network.admin_cidrs"
                ]
            );
        }
    }
}

#[test]
fn all_errors_are_reported_at_once_with_positions() {
    let text = "cluster: Demo_1\ncloud:\n  kind: gcp\nnodes:\n  servers:\n    count: 2\n    cuont: 1\n  agents: {count: -1}\nnetwork:\n  admin_cidrs: [10.0.0.1/8, nonsense]\n";
    let issues = load(text).unwrap_err();
    let got: Vec<(String, Option<u64>)> = issues
        .iter()
        .map(|i| (i.path.clone(), i.pos.map(|p| p.line)))
        .collect();
    assert!(got.contains(&("cloud.kind".into(), Some(3))), "{got:?}");
    assert!(
        got.contains(&("nodes.servers.cuont".into(), Some(7))),
        "{got:?}"
    );
    assert!(
        got.contains(&("nodes.agents.count".into(), Some(8))),
        "{got:?}"
    );
    assert!(
        got.contains(&("network.admin_cidrs[0]".into(), Some(10))),
        "{got:?}"
    );
    assert!(
        got.contains(&("network.admin_cidrs[1]".into(), Some(10))),
        "{got:?}"
    );
}

#[test]
fn semantic_errors_come_after_a_clean_decode() {
    let text = format!("{MINIMAL}nodes: {{servers: {{count: 2}}}}\n");
    let issues = load(&text).unwrap_err();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].path, "nodes.servers.count");
    assert!(
        issues[0].message.contains("odd number"),
        "{}",
        issues[0].message
    );
    assert_eq!(issues[0].pos.map(|p| p.line), Some(5));
}

#[test]
fn even_servers_are_fine_with_an_external_datastore() {
    let text = format!("{MINIMAL}nodes: {{servers: {{count: 2}}}}\nk3s: {{datastore: postgres}}\n");
    load(&text).unwrap();
}

#[test]
fn overlapping_networks_are_named() {
    let text = "cluster: demo\ncloud: {kind: local}\ngitops: {controller: none}\nnetwork:\n  admin_cidrs: [192.0.2.0/24]\n  postgres_subnet: 10.0.1.128/25\nk3s:\n  service_cidr: 10.42.128.0/17\n";
    let p = paths(text);
    assert_eq!(p, ["network.postgres_subnet", "k3s.service_cidr"]);
}

#[test]
fn subnets_must_sit_in_the_address_space_and_fit_the_nodes() {
    let text = "cluster: demo\ncloud: {kind: local}\ngitops: {controller: none}\nnetwork:\n  admin_cidrs: [192.0.2.0/24]\n  node_subnet: 10.1.0.0/29\nnodes: {agents: {count: 10}}\n";
    let issues = load(text).unwrap_err();
    assert_eq!(issues.len(), 2, "{issues:?}");
    assert!(issues[0].message.contains("not inside"));
    assert!(issues[1].message.contains("fewer than the 18 needed"));
}

#[test]
fn the_internet_as_admin_network_needs_consent() {
    let open = "cluster: demo\ncloud: {kind: local}\ngitops: {controller: none}\nnetwork: {admin_cidrs: [0.0.0.0/0]}\n";
    assert_eq!(paths(open), ["network.admin_cidrs[0]"]);
    let consented = open.replace("]}", "], allow_public_admin: true}");
    load(&consented).unwrap();
    // Judged as a union: two halves of the internet are the internet.
    let halves = open.replace("[0.0.0.0/0]", "[0.0.0.0/1, 128.0.0.0/1]");
    let e = load(&halves).unwrap_err();
    assert_eq!(e[0].path, "network.admin_cidrs", "{e:?}");
    assert!(e[0].message.contains("more than a /8"), "{e:?}");
    load(&halves.replace("]}", "], allow_public_admin: true}")).unwrap();
    // A public /8 is the limit; a /7 is over it; private space never counts.
    load(&open.replace("[0.0.0.0/0]", "[11.0.0.0/8]")).unwrap();
    assert_eq!(
        paths(&open.replace("[0.0.0.0/0]", "[12.0.0.0/7]")),
        ["network.admin_cidrs"]
    );
    load(&open.replace(
        "[0.0.0.0/0]",
        "[10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 11.0.0.0/8]",
    ))
    .unwrap();
    // Overlaps count once: a /8 listed twice (and a piece of it) is still a /8.
    load(&open.replace("[0.0.0.0/0]", "[11.0.0.0/8, 11.0.0.0/8, 11.1.0.0/16]")).unwrap();
}

#[test]
fn plain_http_git_urls_are_refused() {
    let text = "cluster: demo\ncloud: {kind: local}\nnetwork: {admin_cidrs: [192.0.2.0/24]}\ngitops: {controller: flux, repository: http://git.example.com/fleet.git, flux: {sha256: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}}\n";
    let e = load(text).unwrap_err();
    assert_eq!(e[0].path, "gitops.repository");
    assert!(e[0].message.contains("plain http://"), "{e:?}");
    load(&text.replace("http://", "https://")).unwrap();
}

#[test]
fn admin_networks_are_required() {
    let text = "cluster: demo\ncloud: {kind: local}\ngitops: {controller: none}\n";
    assert_eq!(paths(text), ["network.admin_cidrs"]);
}

#[test]
fn azure_names_are_checked() {
    let text = format!(
        "{MINIMAL}nodes: {{ssh_user: root, servers: {{vm_size: D2s}}, agents: {{image: ubuntu}}}}\npostgres: {{server_name: -pg, admin_user: azure_superuser, databases: [app, app], storage_gb: 100, version: 12}}\n"
    );
    let mut p = paths(&text);
    p.sort();
    assert_eq!(
        p,
        [
            "nodes.agents.image",
            "nodes.servers.vm_size",
            "nodes.ssh_user",
            "postgres.admin_user",
            "postgres.databases[1]",
            "postgres.server_name",
            "postgres.storage_gb",
            "postgres.version",
        ],
        "type errors and semantic errors come together"
    );
}

#[test]
fn k3s_versions_and_components() {
    let ok =
        format!("{MINIMAL}k3s: {{version: v1.31.4+k3s1, channel: v1.31, disable: [traefik]}}\n");
    load(&ok).unwrap();
    let bad = format!(
        "{MINIMAL}k3s: {{version: 1.31, channel: edge, disable: [nginx], flannel_backend: ipsec}}\n"
    );
    let mut p = paths(&bad);
    p.sort();
    // 1.31 is a YAML number, not a version string.
    assert_eq!(
        p,
        [
            "k3s.channel",
            "k3s.disable[0]",
            "k3s.flannel_backend",
            "k3s.version"
        ]
    );
    let bad = format!("{MINIMAL}k3s: {{version: \"1.31\", channel: edge}}\n");
    assert_eq!(paths(&bad), ["k3s.version", "k3s.channel"]);
}

#[test]
fn missing_ssh_key_and_airgap_files_are_named() {
    let text = format!(
        "{MINIMAL}nodes: {{ssh_key: ./nope}}\nk3s: {{airgap: {{binary: ./k3s, images: ./i.tar}}}}\n"
    );
    let mut p = paths(&text);
    p.sort();
    assert_eq!(p, ["k3s.airgap.checksums", "nodes.ssh_key"]);
    let text = text.replace(
        "k3s: {airgap: {binary: ./k3s, images: ./i.tar}}",
        "k3s: {install: airgap, airgap: {binary: ./k3s, images: ./i.tar, checksums: ./s.txt}}",
    );
    let mut p = paths(&text);
    p.sort();
    assert_eq!(
        p,
        [
            "k3s.airgap.binary",
            "k3s.airgap.checksums",
            "k3s.airgap.images",
            "nodes.ssh_key",
        ]
    );
}

#[test]
fn wrong_section_types_are_reported() {
    let p = paths("cluster: demo\nnetwork: [1]\nnodes: 3\n");
    assert_eq!(
        p,
        [
            "network",
            "network.admin_cidrs",
            "nodes",
            "cloud.subscription_id",
            "cloud.location",
            "gitops.repository",
            "gitops.flux.sha256"
        ]
    );
}

#[test]
fn empty_file_says_what_is_required() {
    let p = paths("");
    assert_eq!(p[0], "cluster");
}

#[test]
fn static_kind_ssh_address_and_jump_host() {
    let c = load("cluster: byo\ncloud: {kind: static}\nnetwork: {admin_cidrs: [192.0.2.0/24]}\ngitops: {controller: none}\n").unwrap();
    assert_eq!(c.cloud.kind, CloudKind::Static);
    assert_eq!(
        c.cloud.inventory.as_deref(),
        Some(Path::new("/tmp/cfg/inventories/byo.yml"))
    );
    let local = load(MINIMAL).unwrap();
    assert_eq!(
        local.nodes.ssh_address,
        SshAddress::Private,
        "local default"
    );
    assert_eq!(local.cloud.inventory, None);
    let azure = MINIMAL.replace(
        "{kind: local}",
        "{kind: azure, subscription_id: 00000000-0000-0000-0000-000000000001, location: westeurope}",
    );
    assert_eq!(load(&azure).unwrap().nodes.ssh_address, SshAddress::Public);
    let bad = format!(
        "{MINIMAL}nodes:\n  ssh_address: public\n  jump_host: 'bad host'\n  agents: {{public_ip: false}}\n"
    )
    .replace("{kind: local}", "{kind: local, inventory: x.yml}");
    let p = paths(&bad);
    for want in [
        "cloud.inventory",
        "nodes.jump_host",
        "nodes.agents.public_ip",
    ] {
        assert!(p.iter().any(|x| x == want), "{want} in {p:?}");
    }
    let ok = format!(
        "{MINIMAL}nodes:\n  ssh_address: private\n  jump_host: me@bastion.example.com:2222\n"
    );
    assert_eq!(
        load(&ok).unwrap().nodes.jump_host.as_deref(),
        Some("me@bastion.example.com:2222")
    );
}

#[test]
fn ssh_fanout_and_jump_host() {
    let c = load(MINIMAL).unwrap();
    assert_eq!(c.nodes.ssh_fanout, 256);
    assert_eq!(c.nodes.jump_host, None);
    let c = load(&format!(
        "{MINIMAL}nodes: {{ssh_fanout: 30, jump_host: admin@bastion:2222}}\n"
    ))
    .unwrap();
    assert_eq!(c.nodes.ssh_fanout, 30);
    assert_eq!(c.nodes.jump_host.as_deref(), Some("admin@bastion:2222"));
    assert_eq!(
        paths(&format!("{MINIMAL}nodes: {{ssh_fanout: 0}}\n")),
        ["nodes.ssh_fanout"]
    );
}

#[test]
fn k3s_install_sources_urls_and_names_are_checked() {
    let p = paths(&format!("{MINIMAL}k3s: {{install: airgap}}\n"));
    assert_eq!(p, ["k3s.install"]);
    let p = paths(&format!("{MINIMAL}k3s: {{install: copy}}\n"));
    assert_eq!(p, ["k3s.install"]);
    // Plain HTTP (only a local cloud's own mirror uses it) and credentials in URLs are
    // refused on Azure.
    let azure = MINIMAL.replace(
        "cloud: {kind: local}",
        "cloud: {kind: azure, subscription_id: 00000000-0000-0000-0000-000000000001, location: westeurope}",
    );
    let p = paths(&format!(
        "{azure}k3s: {{release_url: 'http://mirror.example/k3s', channel_url: 'https://u:p@x.example/c'}}\n"
    ));
    assert_eq!(p, ["k3s.release_url", "k3s.channel_url"]);
    load(&format!(
        "{MINIMAL}k3s: {{release_url: 'http://10.1.0.1/k3s-io/k3s/releases'}}\n"
    ))
    .unwrap();
    let p = paths(&format!(
        "{MINIMAL}k3s: {{release_url: 'https://mirror.example/k3s-io/k3s/releases', api_address: api.example.com, tls_san: [10.1.2.3, 'bad name', k8s.example.com], start_timeout: 5}}\n"
    ));
    assert_eq!(p, ["k3s.tls_san[1]", "k3s.start_timeout"]);
    let p = paths(&format!(
        "{MINIMAL}k3s: {{api_address: '-oProxyCommand=x'}}\n"
    ));
    assert_eq!(p, ["k3s.api_address"]);
}

/// Integers beyond 64 bits reached the parser's own wording ("non-finite float ... rejected
/// by the configured policy", no field) or a rounded float ("found a number
/// 9223372036854776000"); each is now out of range at its field, as written.
#[test]
fn integers_beyond_64_bits_are_out_of_range_at_their_field() {
    let huge = format!("1{}", "0".repeat(400));
    for v in [
        "9223372036854775808",
        "18446744073709551616",
        "-9223372036854775809",
        huge.as_str(),
    ] {
        let text = format!("{MINIMAL}nodes:\n  servers:\n    count: {v}\n");
        let issues = load(&text).unwrap_err();
        assert_eq!(issues.len(), 1, "{v}: {issues:?}");
        assert_eq!(issues[0].path, "nodes.servers.count");
        assert_eq!(issues[0].pos.map(|p| p.line), Some(7));
        assert_eq!(
            issues[0].message,
            format!("{v} is out of range; allowed: 0 to 1000")
        );
    }
    // A number field, and numbers that are not finite: the first issue, at its field.
    let first = |text: &str| {
        let issues = load(text).unwrap_err();
        (issues[0].path.clone(), issues[0].message.clone())
    };
    let (path, message) = first(&MINIMAL.replace(
        "kind: local}",
        "kind: local, local_time_factor: 99999999999999999999}",
    ));
    assert_eq!(path, "cloud.local_time_factor");
    assert!(
        message.starts_with("99999999999999999999 is out of range; allowed: "),
        "{message}"
    );
    for v in [".inf", "-.inf", ".nan", "1e400"] {
        let (path, message) = first(&format!("{MINIMAL}nodes:\n  servers:\n    count: {v}\n"));
        assert_eq!(path, "nodes.servers.count", "{v}");
        assert!(
            message.ends_with("is not a finite number; give a number"),
            "{v}: {message}"
        );
    }
}
