//! The inventory phase against the local cloud: groups and hostvars of 3 servers + 5
//! agents, stopped VMs left out with their reason, byte-identical files on a re-run, and a
//! constant number of list pages at 1,000 agents.

use serde_json::{Value, json};
use std::collections::BTreeSet;
use support::Cluster;
use support::inventory::{cloud, groups_and_hosts};

fn list(c: &Cluster, refresh: bool) -> Value {
    let mut args = vec!["inventory", "--list"];
    if refresh {
        args.push("--refresh");
    }
    let r = c.ok(&args);
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("--list is not JSON ({e}):\n{}", r.stdout))
}

#[test]
fn three_servers_five_agents_groups_hostvars_stop_and_rerun() {
    // Page size 3: every list call needs several pages, so the join sees paged results.
    let cloud = cloud(3);
    let c = Cluster::on(&cloud, "inv-groups")
        .without_postgres()
        .yaml("nodes:\n  servers: {count: 3}\n  agents: {count: 5}\n")
        .build();
    c.ok(&["up", "--only", "infra"]);
    c.ok(&["up", "--only", "inventory"]);

    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(c.inventory_file("hosts.json")).unwrap())
            .unwrap();
    assert_eq!(file, list(&c, false), "hosts.json is the --list document");
    assert_eq!(file["all"], json!({"children": ["k3s_cluster"]}));
    assert_eq!(
        file["k3s_cluster"],
        json!({"children": ["servers", "agents"]})
    );
    let (groups, hostvars) = groups_and_hosts(&file);
    assert_eq!(groups["servers"].len(), 3, "{groups:?}");
    assert_eq!(groups["agents"].len(), 5, "{groups:?}");
    assert_eq!(hostvars.len(), 8);
    let key = c.path().join(".platform/secrets/id_ed25519");
    assert!(key.is_file(), "the key the hostvars name exists");
    let mut ips = BTreeSet::new();
    for (group, role) in [("servers", "server"), ("agents", "agent")] {
        for h in &groups[group] {
            assert!(h.starts_with(&format!("inv-groups-{group}_")), "{h}");
            let v = &hostvars[h];
            assert_eq!(v["role"], role);
            assert_eq!(v["ansible_user"], "azureuser");
            assert_eq!(v["ansible_ssh_private_key_file"], key.display().to_string());
            let ip = v["private_ip"].as_str().unwrap();
            assert!(ip.starts_with("10.0.1."), "{ip}");
            // The local cloud defaults to private addresses (its public ones are not routed).
            assert_eq!(v["ansible_host"], v["private_ip"]);
            assert!(v["public_ip"].as_str().unwrap().starts_with("203.0.113."));
            assert_eq!(v["vm_size"], "Standard_D2s_v5");
            ips.insert(ip.to_owned());
        }
    }
    assert_eq!(ips.len(), 8, "private IPs are unique");
    let init: Vec<&String> = hostvars
        .keys()
        .filter(|h| hostvars[*h]["init_server"] == true)
        .collect();
    assert_eq!(
        init,
        vec![&groups["servers"][0]],
        "the first server initialises the cluster"
    );

    // State: the hosts, stable (no timings), all in the groups.
    let out = c.outputs("inventory");
    assert_eq!(out["hosts"].as_array().unwrap().len(), 8);
    assert_eq!(out["source"], "cloud");
    let text = out.to_string();
    assert!(
        !text.contains("duration") && !text.contains("_at\""),
        "{text}"
    );

    // Re-run: byte-identical files and outputs; a plain `up` skips the unchanged phase.
    let yaml1 = std::fs::read(c.inventory_file("hosts.yml")).unwrap();
    let json1 = std::fs::read(c.inventory_file("hosts.json")).unwrap();
    c.ok(&["up", "--only", "inventory", "--force-phase", "inventory"]);
    assert_eq!(std::fs::read(c.inventory_file("hosts.yml")).unwrap(), yaml1);
    assert_eq!(
        std::fs::read(c.inventory_file("hosts.json")).unwrap(),
        json1
    );
    assert_eq!(c.outputs("inventory"), out);
    let again = c.ok(&["up", "--only", "inventory"]);
    assert!(
        again.stdout.contains("skipped") || again.stderr.contains("unchanged"),
        "{again:?}"
    );

    // Stop one agent and the init server: --refresh leaves them out with the reason.
    let agent = groups["agents"][2].clone();
    let server = groups["servers"][0].clone();
    cloud.power(&agent, "stop");
    cloud.power(&server, "stop");
    assert_eq!(list(&c, false), file, "without --refresh the state is used");
    let fresh = list(&c, true);
    let (g2, hv2) = groups_and_hosts(&fresh);
    assert_eq!(g2["agents"].len(), 4);
    assert!(!g2["agents"].contains(&agent) && !g2["servers"].contains(&server));
    assert!(!hv2.contains_key(&agent));
    assert_eq!(
        hv2[&groups["servers"][1]]["init_server"], true,
        "the next running server inits"
    );
    let human = c.ok(&["inventory", "--refresh"]);
    assert!(
        human.stderr.contains(&format!(
            "{agent} (agent) is left out: power state is stopped, not running"
        )),
        "{}",
        human.stderr
    );
    assert!(
        !human.stdout.contains(&format!("{agent}:")),
        "{}",
        human.stdout
    );

    // A re-run of the phase records the reason in state and in hosts.yml.
    c.ok(&["up", "--only", "inventory", "--force-phase", "inventory"]);
    let out = c.outputs("inventory");
    let rec = out["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == agent.as_str())
        .unwrap();
    assert_eq!(rec["excluded"], "power state is stopped, not running");
    assert_eq!(rec["power_state"], "stopped");
    let yaml = std::fs::read_to_string(c.inventory_file("hosts.yml")).unwrap();
    assert!(
        yaml.contains(&format!("#   {agent} (agent): power state is stopped")),
        "{yaml}"
    );
    let host = c.ok(&["inventory", "--host", &agent]);
    assert_eq!(
        host.stdout.trim(),
        "{}",
        "a host outside the groups has no vars"
    );
    let host = c.ok(&["inventory", "--host", &groups["agents"][0]]);
    let v: Value = serde_json::from_str(&host.stdout).unwrap();
    assert_eq!(v["role"], "agent");
}

#[test]
fn thousand_agents_cost_a_constant_number_of_pages() {
    const PAGE: u64 = 100;
    let cloud = cloud(PAGE as usize);
    let c = Cluster::on(&cloud, "inv-scale")
        .network("  node_subnet: 10.0.4.0/22\n")
        .without_postgres()
        .yaml("nodes:\n  servers: {count: 1}\n  agents: {count: 1000, public_ip: false}\n")
        .build();
    c.ok(&["up", "--only", "infra"]);
    cloud.reset_stats();
    let r = c.ok(&["up", "--only", "inventory"]);
    let stats = cloud.stats();
    let total = stats["total"].as_u64().unwrap();
    let (groups, _) = groups_and_hosts(&list(&c, false));
    assert_eq!(groups["agents"].len(), 1000);
    assert_eq!(groups["servers"].len(), 1);
    // Four list calls: servers' VMs (1), agents' VMs (1000), NICs (1001), public IPs (the
    // server's, the API's and the NAT gateway's: 3); each costs ceil(items / page) pages.
    let pages = |n: u64| n.div_ceil(PAGE);
    let bound = pages(1) + pages(1000) + pages(1001) + pages(3);
    assert_eq!(
        stats["by_method"]["GET"], stats["total"],
        "only reads: {stats}"
    );
    assert!(
        total <= bound,
        "{total} requests for 1,001 VMs, bound {bound}: {stats}"
    );
    assert!(total >= 4, "{stats}");
    assert!(
        r.stderr.contains(&format!("{total} list requests")),
        "the phase reports its request count: {}",
        r.stderr
    );
}
