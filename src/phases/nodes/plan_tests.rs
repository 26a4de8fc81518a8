//! The install plan's decisions, from configs and inventories (no hosts, no network).

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::phases::nodes::connect::UnreachableHost;

fn config(dir: &Path, extra: &str) -> Config {
    let text = format!(
        "cluster: demo\ncloud: {{kind: local}}\nnetwork: {{admin_cidrs: [192.0.2.0/24]}}\ngitops: {{controller: none}}\n{extra}"
    );
    Config::from_str(&text, dir, None).unwrap()
}

fn target(name: &str, group: &str, vars: Json) -> Target {
    Target {
        host: Arc::new(UnreachableHost::new(name, "not connected in this test")),
        groups: vec![group.to_owned()],
        vars: vars.as_object().cloned().unwrap_or_default(),
    }
}

fn cluster() -> Vec<Target> {
    vec![
        target(
            "s1",
            "servers",
            json!({"private_ip": "10.0.1.5", "ansible_host": "10.0.1.5"}),
        ),
        target(
            "s0",
            "servers",
            json!({"private_ip": "10.0.1.4", "ansible_host": "10.0.1.4"}),
        ),
        target(
            "s2",
            "servers",
            json!({"private_ip": "10.0.1.6", "ansible_host": "10.0.1.6", "init_server": true}),
        ),
        target("a1", "agents", json!({"private_ip": "10.0.1.9"})),
        target("a0", "agents", json!({"private_ip": "10.0.1.8"})),
    ]
}

#[test]
fn the_init_server_is_the_recorded_one_then_the_flagged_one_then_the_first() {
    let t = cluster();
    let r = roles(&t, &Previous::default()).unwrap();
    assert_eq!(r.init, "s2", "the inventory's init_server");
    assert_eq!(r.servers, ["s0", "s1"], "the others join in name order");
    assert_eq!(r.agents, ["a0", "a1"]);
    let prev = Previous {
        init_server: Some("s1".into()),
        ..Previous::default()
    };
    assert_eq!(roles(&t, &prev).unwrap().init, "s1", "kept across runs");
    let gone = Previous {
        init_server: Some("s9".into()),
        ..Previous::default()
    };
    assert_eq!(
        roles(&t, &gone).unwrap().init,
        "s2",
        "a removed one is not kept"
    );
    let unflagged: Vec<Target> = cluster()
        .into_iter()
        .map(|mut t| {
            t.vars.remove("init_server");
            t
        })
        .collect();
    assert_eq!(roles(&unflagged, &Previous::default()).unwrap().init, "s0");
    let agents_only: Vec<Target> = cluster()
        .into_iter()
        .filter(|t| t.groups[0] == "agents")
        .collect();
    let e = roles(&agents_only, &Previous::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no host in group `servers`"), "{e}");
    let mut both = cluster();
    both.push(target("s0", "agents", json!({})));
    let e = roles(&both, &Previous::default()).unwrap_err().to_string();
    assert!(e.contains("s0") && e.contains("both"), "{e}");
}

#[test]
fn addresses_follow_the_load_balancers_and_the_settings() {
    let d = tempfile::tempdir().unwrap();
    let t = cluster();
    let r = roles(&t, &Previous::default()).unwrap();
    // No load balancer (static hosts, or infra without one): everything through s2.
    let c = config(d.path(), "");
    let a = addresses(&c, &json!({"skipped": "cloud.kind static"}), &t, &r).unwrap();
    assert_eq!(a.join_url, "https://10.0.1.6:6443");
    assert_eq!(a.agent_url, "https://10.0.1.6:6443");
    assert_eq!(a.api_server, "https://10.0.1.6:6443");
    assert_eq!(a.tls_san, ["10.0.1.6"]);
    // Both load balancers; local clouds default to private SSH, so the internal one.
    let infra =
        json!({"api_endpoint": {"ip": "203.0.113.7", "private_ip": "10.0.1.254", "port": 6443}});
    let a = addresses(&c, &infra, &t, &r).unwrap();
    assert_eq!(
        a.join_url, "https://10.0.1.6:6443",
        "servers join the init server"
    );
    assert_eq!(a.agent_url, "https://10.0.1.254:6443");
    assert_eq!(a.api_server, "https://10.0.1.254:6443");
    assert_eq!(a.tls_san, ["10.0.1.254", "203.0.113.7"]);
    let c = config(
        d.path(),
        "nodes: {ssh_address: public}\nk3s: {api_address: api.example.com, tls_san: [k3s.example.com]}\n",
    );
    let a = addresses(&c, &infra, &t, &r).unwrap();
    assert_eq!(a.api_server, "https://api.example.com:6443");
    assert_eq!(
        a.tls_san,
        [
            "k3s.example.com",
            "api.example.com",
            "203.0.113.7",
            "10.0.1.254"
        ]
    );
}

#[test]
fn stage_variables_are_the_ones_the_task_file_documents() {
    let d = tempfile::tempdir().unwrap();
    let c = config(d.path(), "k3s: {disable: [traefik]}\n");
    let t = cluster();
    let r = roles(&t, &Previous::default()).unwrap();
    let plan = Plan {
        tag: "v1.32.5+k3s1".into(),
        binary_src: String::new(),
        images_src: String::new(),
        addresses: addresses(&c, &json!({}), &t, &r).unwrap(),
        datastore_endpoint: None,
        datastore_ca: None,
    };
    let v = vars(&c, &plan, &Secret::new("pw"), "");
    let doc = include_str!("../../../playbooks/tasks/k3s-node.yml");
    for key in v.keys() {
        assert!(
            doc.contains(key.as_str()),
            "{key} is not documented in k3s-node.yml"
        );
    }
    for used in ["k3s_role", "k3s_unit"] {
        assert!(!v.contains_key(used), "{used} belongs to the playbooks");
    }
    assert_eq!(
        v["k3s_release_url"],
        "http://10.0.1.1:80/k3s-io/k3s/releases"
    );
    assert_eq!(v["k3s_disable"], json!(["traefik"]));
    assert_eq!(v["k3s_datastore_endpoint_set"], json!(false));
    assert_eq!(v["k3s_start_timeout"], json!(300));
}

#[test]
fn the_postgres_datastore_url_escapes_the_password() {
    let d = tempfile::tempdir().unwrap();
    let c = config(
        d.path(),
        "k3s: {datastore: postgres}\nnodes: {servers: {count: 2}}\n",
    );
    let infra = json!({"postgres": {"fqdn": "pg.example.com"}});
    let url = datastore_endpoint(&c, &infra, Some(&Secret::new("a/b@c d")))
        .unwrap()
        .unwrap();
    assert!(
        url.expose()
            .ends_with(":a%2Fb%40c%20d@pg.example.com:5432/k3s?sslmode=verify-full"),
        "{}",
        url.expose()
    );
    let e = datastore_endpoint(&c, &json!({}), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("k3s.datastore"), "{e}");
    let etcd = config(d.path(), "");
    assert!(datastore_endpoint(&etcd, &infra, None).unwrap().is_none());
    // The server is verified against the CA bundle infra recorded.
    assert!(datastore_ca(&c, &infra).is_err());
    let with_ca = json!({"postgres": {"fqdn": "pg.example.com", "ca_bundle": {"source": "azure",
        "certificates": [{"subject": "a", "sha256": "1", "pem": "A\n"}, {"subject": "b", "sha256": "2", "pem": "B\n"}]}}});
    assert_eq!(
        datastore_ca(&c, &with_ca).unwrap().as_deref(),
        Some("A\nB\n")
    );
    assert_eq!(datastore_ca(&etcd, &with_ca).unwrap(), None);
}

#[tokio::test]
async fn an_exact_version_wins_a_recorded_channel_is_kept_and_downgrades_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let c = config(d.path(), "k3s: {version: v1.32.5+k3s1}\n");
    assert_eq!(
        version(&c, &Previous::default()).await.unwrap(),
        "v1.32.5+k3s1"
    );
    let newer = Previous {
        version: Some("v1.33.1+k3s1".into()),
        ..Previous::default()
    };
    let e = version(&c, &newer).await.unwrap_err().to_string();
    assert!(e.contains("k3s.version") && e.contains("downgrades"), "{e}");
    // A channel recorded with its tag is not asked again (nothing listens at the mirror's
    // address in this test, so asking would fail).
    let ch = config(d.path(), "k3s: {channel: stable}\n");
    let recorded = Previous {
        version: Some("v1.31.4+k3s1".into()),
        channel: Some("stable".into()),
        init_server: None,
    };
    assert_eq!(version(&ch, &recorded).await.unwrap(), "v1.31.4+k3s1");
}
