//! Bring-your-own hosts (`cloud.kind: static`): the shipped example works end to end
//! (infra skipped, inventory written), and bad files get errors naming host and field.

use serde_json::Value;
use std::path::Path;
use support::Cluster;
use support::inventory::groups_and_hosts;

fn setup(inventory: &str) -> Cluster {
    let c = Cluster::static_hosts("byo").without_postgres().build();
    std::fs::create_dir_all(c.path().join("inventories")).unwrap();
    std::fs::write(c.path().join("inventories/byo.yml"), inventory).unwrap();
    c
}

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let r = support::run(dir, args);
    (r.code, r.stdout, r.stderr)
}

#[test]
fn example_inventory_runs_without_infra() {
    let example = include_str!("../../inventories/example.yml");
    let dir = setup(example);
    let (code, stdout, stderr) = run(
        dir.path(),
        &["up", "--only", "infra", "--only", "inventory"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("infra: skipped, cloud.kind is static"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(dir.path().join("inventories/byo/hosts.json")).unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    let (groups, hostvars) = groups_and_hosts(&file);
    assert_eq!(groups["servers"], ["cp-1", "cp-2", "cp-3"]);
    assert_eq!(groups["agents"], ["worker-1", "worker-2"]);
    let w2 = &hostvars["worker-2"];
    assert_eq!(w2["ansible_host"], "192.0.2.21");
    assert_eq!(w2["private_ip"], "10.0.0.21");
    assert_eq!(w2["ansible_user"], "ubuntu", "from all.vars");
    assert_eq!(w2["ansible_port"], 2222, "group vars pass through");
    assert_eq!(w2["zone"], "2");
    assert_eq!(w2["role"], "agent");
    assert_eq!(hostvars["cp-1"]["init_server"], true);
    assert!(hostvars["cp-1"].get("ansible_port").is_none());
    // The command reads the file directly when asked to refresh, and state otherwise.
    let (code, stdout, _) = run(dir.path(), &["inventory", "--list", "--refresh"]);
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap(), file);
    let (code, stdout, _) = run(dir.path(), &["inventory", "--host", "cp-2"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["ansible_host"], "192.0.2.11");
    // `plan` does not try to reach a cloud: no resources to plan, no local cloud started,
    // and both phases verified against the file and skipped.
    let (code, stdout, stderr) = run(dir.path(), &["plan", "-o", "json"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let plan: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(plan["infra"], Value::Null, "{plan}");
    let actions: Vec<(&str, &str)> = plan["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["phase"].as_str().unwrap(), p["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("infra", "skip"),
            ("inventory", "skip"),
            ("nodes", "run"),
            ("gitops", "run")
        ],
        "{plan}"
    );
    assert!(!dir.path().join(".platform/local-cloud").exists());
    // Editing the inventory is seen by the live check: inventory runs again.
    let edited = example.replace("192.0.2.11", "192.0.2.111");
    std::fs::write(dir.path().join("inventories/byo.yml"), edited).unwrap();
    let (_, stdout, _) = run(dir.path(), &["plan", "-o", "json"]);
    let plan: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(plan["phases"][1]["action"], "run", "{plan}");
}

/// Runs `inventory --list` on a bad file: exit 2 (bad input) and every expected fragment
/// in the error.
fn rejects(inventory: &str, expected: &[&str]) {
    let dir = setup(inventory);
    let (code, stdout, stderr) = run(dir.path(), &["inventory", "--list"]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stdout.is_empty(),
        "nothing on stdout for Ansible to misread: {stdout}"
    );
    for e in expected {
        assert!(stderr.contains(e), "missing {e:?} in:\n{stderr}");
    }
    // The phase refuses the same file and writes no inventory.
    let (code, _, stderr) = run(
        dir.path(),
        &["up", "--only", "infra", "--only", "inventory"],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains(expected[0]), "{stderr}");
    assert!(!dir.path().join("inventories/byo/hosts.yml").exists());
}

const HEAD: &str = "all:\n  children:\n    k3s_cluster:\n      children:\n        servers:\n          hosts:\n            cp-1: {ansible_host: 192.0.2.10}\n";

#[test]
fn missing_address_names_host_and_field() {
    let text = format!(
        "{HEAD}        agents:\n          hosts:\n            worker-1: {{private_ip: 10.0.0.20}}\n"
    );
    rejects(
        &text,
        &[
            "all.children.k3s_cluster.children.agents.hosts.worker-1.ansible_host",
            "host worker-1: required",
            "byo.yml:10:",
        ],
    );
    // An address ssh would read as an option never reaches ssh or ssh-keyscan.
    let hostile = format!(
        "{HEAD}        agents:\n          hosts:\n            worker-1: {{ansible_host: '-oProxyCommand=id'}}\n"
    );
    rejects(
        &hostile,
        &[
            "agents.hosts.worker-1.ansible_host",
            "not starting with '-'",
        ],
    );
}

#[test]
fn duplicate_host_names_both_places() {
    let text = format!(
        "{HEAD}        agents:\n          hosts:\n            cp-1: {{ansible_host: 192.0.2.20}}\n"
    );
    rejects(
        &text,
        &[
            "duplicate host cp-1",
            "all.children.k3s_cluster.children.agents.hosts.cp-1",
            "all.children.k3s_cluster.children.servers.hosts.cp-1 (line 7)",
        ],
    );
    let twice = format!("{HEAD}            cp-1: {{ansible_host: 192.0.2.11}}\n");
    rejects(&twice, &["duplicate host or variable `cp-1`", "byo.yml:8:"]);
}

#[test]
fn unknown_group_names_group_and_hosts() {
    let text = format!(
        "{HEAD}        workers:\n          hosts:\n            w-1: {{ansible_host: 192.0.2.30}}\n"
    );
    rejects(
        &text,
        &[
            "unknown group `workers` (hosts: w-1)",
            "all.children.k3s_cluster.children.workers",
            "allowed: servers, agents",
        ],
    );
}

#[test]
fn bad_yaml_and_bad_values_are_reported_together_or_with_position() {
    rejects(
        "all:\n  children: [unclosed\n",
        &["invalid YAML", "byo.yml:"],
    );
    let text = format!(
        "{HEAD}        agents:\n          hosts:\n            worker-1: {{ansible_host: 192.0.2.20, private_ip: not-an-ip}}\n            worker-2: {{ansible_host: [1, 2]}}\n"
    );
    rejects(
        &text,
        &[
            "worker-1.private_ip: host worker-1: \"not-an-ip\" is not an IP address",
            "worker-2.ansible_host",
            "has 2 errors",
        ],
    );
}
