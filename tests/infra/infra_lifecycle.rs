//! Issue 3 end to end: `plan`, `up --only infra` and `down` of the real binary against a
//! `platform local-cloud serve` process: create from empty, a no-op re-run that sends no PUT,
//! a config change that updates only what changed, and a `down` that leaves nothing tagged.

use serde_json::Value;
use support::Cluster;
use support::cloud::{LocalCloud, client_stats, serial, shared};

/// Parses a command's stdout as JSON, with the whole run in the panic message otherwise.
fn json(r: &support::Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {r:?}"))
}

/// `key -> action` of the infra resources in a `plan -o json`.
fn actions(plan: &Value) -> Vec<(String, String)> {
    plan["infra"]
        .as_array()
        .expect("plan has infra resources")
        .iter()
        .map(|o| {
            (
                o["key"].as_str().unwrap().to_owned(),
                o["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The keys whose action is not `unchanged`.
fn changed(plan: &Value) -> Vec<String> {
    actions(plan)
        .into_iter()
        .filter(|(_, a)| a != "unchanged")
        .map(|(k, a)| format!("{k}:{a}"))
        .collect()
}

fn puts_by_type(cloud: &LocalCloud) -> Value {
    cloud.stats()["puts_by_type"].clone()
}

/// Visible resources of the group (finished creates, not yet finished deletes).
fn visible(cloud: &LocalCloud, rg: &str) -> Vec<Value> {
    cloud
        .resources_in(rg)
        .into_iter()
        .filter(|r| r["hidden"] != Value::Bool(true))
        .collect()
}

#[test]
fn plan_writes_nothing_and_reports_creates() {
    let _g = serial();
    let cloud = shared();
    let c = Cluster::on(cloud, "plan-only").build();
    cloud.reset_stats();
    let r = c.run(&["plan", "--only", "infra", "-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let plan = json(&r);
    assert_eq!(plan["cluster"], "plan-only");
    assert_eq!(plan["phases"][0]["action"], "run", "{plan}");
    let acts = actions(&plan);
    assert!(acts.len() >= 12, "{acts:?}");
    assert!(acts.iter().all(|(_, a)| a == "create"), "{acts:?}");
    let stats = cloud.stats();
    assert_eq!(stats["puts"], 0, "plan must not write: {stats}");
    assert!(stats["by_method"]["GET"].as_u64().unwrap() >= 12, "{stats}");
    assert!(c.state().is_none(), "plan wrote a state file");
    assert!(
        !c.path().join(".platform/secrets").exists(),
        "plan generated secrets"
    );
    assert!(visible(cloud, &c.rg()).is_empty());
    // The text form names every resource too.
    let text = c.run(&["plan", "--only", "infra"]);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(text.stdout.contains("plan-only-vnet"), "{text:?}");
}

#[test]
fn create_noop_change_and_down() {
    let _g = serial();
    let cloud = shared();
    let admin = "[192.0.2.0/24]";
    let mut c = Cluster::on(cloud, "life").admin_cidrs(admin).build();
    let rg = c.rg();

    // Create from empty.
    let plan = json(&c.run(&["plan", "--only", "infra", "-o", "json"]));
    let total = actions(&plan).len() as u64;
    cloud.reset_stats();
    let up = c.run(&["up", "--only", "infra", "-o", "json"]);
    assert_eq!(up.code, 0, "{up:?}");
    let out = json(&up);
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["phases"][0]["phase"], "infra");
    assert_eq!(out["phases"][0]["result"], "succeeded", "{out}");
    assert_eq!(
        cloud.stats()["puts"].as_u64(),
        Some(total),
        "one PUT per resource"
    );
    assert_eq!(c.phase_status("infra").as_deref(), Some("succeeded"));
    let made = visible(cloud, &rg);
    assert!(made.len() as u64 >= total, "{made:?}");
    for r in &made {
        assert_eq!(r["provisioningState"], "Succeeded", "{r}");
    }
    let vms = |cloud: &LocalCloud, pool: &str| {
        visible(cloud, &rg)
            .iter()
            .filter(|r| {
                r["type"] == "Microsoft.Compute/virtualMachines"
                    && r["id"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("/life-{pool}_"))
            })
            .count()
    };
    assert_eq!((vms(cloud, "servers"), vms(cloud, "agents")), (3, 2));
    // The internal API load balancer's frontend: the node subnet's last usable host, in the
    // outputs agents will register through; both API pools hold the servers.
    let infra = c.outputs("infra");
    let ilb = made
        .iter()
        .find(|r| {
            r["id"]
                .as_str()
                .unwrap()
                .ends_with("/loadBalancers/life-api-ilb")
        })
        .expect("the internal API load balancer exists");
    assert_eq!(ilb["provisioningState"], "Succeeded");
    let private_ip = infra["api_endpoint"]["private_ip"].as_str().unwrap();
    assert!(private_ip.ends_with(".254"), "{infra}");
    assert!(infra["resources"]["api-internal-load-balancer"]["id"].is_string());
    // The Postgres server's CA bundle is the local cloud's own CA (the one the ARM client
    // trusts, which signs the certificates of the servers it runs), with its fingerprint.
    let ca = &infra["postgres"]["ca_bundle"];
    assert_eq!(ca["source"], "local-cloud", "{infra}");
    let certs = ca["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 1, "{ca}");
    let cloud_ca = std::fs::read_to_string(&cloud.ca).unwrap();
    let parsed = platform::certs::parse_bundle(&cloud_ca).unwrap();
    assert_eq!(certs[0]["pem"], parsed[0].pem());
    assert_eq!(certs[0]["sha256"], parsed[0].sha256);

    // A re-run is a no-op: the phase is skipped; forced, it reads everything and writes nothing.
    let plan = json(&c.run(&["plan", "--only", "infra", "-o", "json"]));
    assert_eq!(plan["phases"][0]["action"], "skip", "{plan}");
    assert!(changed(&plan).is_empty(), "{plan}");
    cloud.reset_stats();
    let again = c.run(&["up", "--only", "infra"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("skipped"), "{again:?}");
    let forced = c.run(&["-v", "up", "--only", "infra", "--force-phase", "infra"]);
    assert_eq!(forced.code, 0, "{forced:?}");
    assert_eq!(cloud.stats()["puts"], 0, "{}", cloud.stats());
    let (requests, puts, _, _) = client_stats(&forced.stderr).expect("client stats at -v");
    assert_eq!(puts, 0);
    assert!(requests >= total, "the forced run re-read every resource");

    // A state written before infra recorded the CA bundle: the live check runs infra once,
    // which writes nothing to the cloud and records the bundle; then infra skips again.
    let path = c.state_dir().join("state.json");
    let mut state: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let recorded = state["phases"]["infra"]["outputs"]["postgres"]
        .as_object_mut()
        .unwrap()
        .shift_remove("ca_bundle")
        .unwrap();
    std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    let plan = json(&c.run(&["plan", "--only", "infra", "-o", "json"]));
    assert_eq!(plan["phases"][0]["action"], "run", "{plan}");
    let reason = plan["phases"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("CA bundle"), "{plan}");
    assert!(changed(&plan).is_empty(), "{plan}");
    cloud.reset_stats();
    let up = c.run(&["up", "--only", "infra"]);
    assert_eq!(up.code, 0, "{up:?}");
    assert_eq!(cloud.stats()["puts"], 0, "{}", cloud.stats());
    assert_eq!(c.outputs("infra")["postgres"]["ca_bundle"], recorded);
    let plan = json(&c.run(&["plan", "--only", "infra", "-o", "json"]));
    assert_eq!(plan["phases"][0]["action"], "skip", "{plan}");

    // nodes.agents.count 2 -> 3: only the agents scale set is PUT.
    c.reconfigure(|spec| spec.yaml("nodes:\n  agents:\n    count: 3\n"));
    cloud.reset_stats();
    let plan = json(&c.run(&["plan", "--only", "infra", "-o", "json"]));
    assert_eq!(changed(&plan), ["agents:update"], "{plan}");
    assert_eq!(plan["phases"][0]["action"], "run");
    assert_eq!(cloud.stats()["puts"], 0, "plan wrote");
    let up = c.run(&["up", "--only", "infra", "-o", "json"]);
    assert_eq!(up.code, 0, "{up:?}");
    assert_eq!(
        puts_by_type(cloud),
        serde_json::json!({"Microsoft.Compute/virtualMachineScaleSets": 1})
    );
    assert_eq!((vms(cloud, "servers"), vms(cloud, "agents")), (3, 3));

    // network.admin_cidrs change: only the NSG rules change.
    let admin2 = "[192.0.2.0/24, 198.51.100.7/32]";
    c.reconfigure(|spec| spec.admin_cidrs(admin2));
    let plan = json(&c.run(&["plan", "--only", "infra", "-o", "json"]));
    assert_eq!(changed(&plan), ["nsg:update"], "{plan}");
    let nsg = plan["infra"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["key"] == "nsg")
        .unwrap();
    assert!(
        nsg["changes"].to_string().contains("sourceAddressPrefixes"),
        "{nsg}"
    );
    cloud.reset_stats();
    let up = c.run(&["up", "--only", "infra"]);
    assert_eq!(up.code, 0, "{up:?}");
    assert_eq!(
        puts_by_type(cloud),
        serde_json::json!({"Microsoft.Network/networkSecurityGroups": 1})
    );
    let plan = json(&c.run(&["plan", "--only", "infra", "-o", "json"]));
    assert!(changed(&plan).is_empty(), "converged: {plan}");

    // down leaves nothing of the cluster; a second down is a no-op.
    let down = c.run(&["down", "--yes", "-o", "json"]);
    assert_eq!(down.code, 0, "{down:?}");
    let done = json(&down);
    assert_eq!(done["resource_group_deleted"], true, "{done}");
    assert!(done["deleted"].as_array().unwrap().len() as u64 >= total - 1);
    assert!(
        cloud.resources_in(&rg).is_empty(),
        "{:?}",
        cloud.resources_in(&rg)
    );
    assert_eq!(
        c.phase_status("infra"),
        None,
        "down forgets the phase records"
    );
    cloud.reset_stats();
    let down2 = c.run(&["down", "--yes"]);
    assert_eq!(down2.code, 0, "{down2:?}");
    assert!(down2.stderr.contains("nothing to delete"), "{down2:?}");
    let stats = cloud.stats();
    assert_eq!(stats["by_method"].get("DELETE"), None, "{stats}");
    assert_eq!(stats["puts"], 0, "{stats}");
}

#[test]
fn down_finds_resources_of_a_lost_state() {
    let _g = serial();
    let cloud = shared();
    let c = Cluster::on(cloud, "lost-state")
        .yaml("postgres:\n  enabled: false\n")
        .build();
    assert_eq!(c.run(&["up", "--only", "infra"]).code, 0);
    assert!(!cloud.resources_in(&c.rg()).is_empty());
    // The state directory is gone (a new laptop): down still finds the tagged resources.
    std::fs::remove_dir_all(c.path().join(".platform")).unwrap();
    let down = c.run(&["down", "--yes"]);
    assert_eq!(down.code, 0, "{down:?}");
    assert!(cloud.resources_in(&c.rg()).is_empty());
}

/// The state file is memory, not truth: a database deleted by hand (as a colleague in the
/// portal would) is seen by `plan`, repaired by `up`, and then the phase is skipped again.
#[test]
fn a_resource_deleted_by_hand_is_seen_by_plan_and_repaired_by_up() {
    let _g = serial();
    let cloud = shared();
    let c = Cluster::on(cloud, "by-hand").build();
    assert_eq!(c.run(&["up", "--only", "infra"]).code, 0);
    let state = c.state().unwrap();
    let resources = &state["phases"]["infra"]["outputs"]["resources"];
    let total = resources.as_object().unwrap().len() as u64;
    let db = resources["postgres-database:app"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = "api-version=2025-08-01";
    let (code, _) = cloud.arm("DELETE", &format!("{db}?{v}"));
    assert!([200, 202, 204].contains(&code), "DELETE answered {code}");
    // The delete is an operation: wait until ARM says the database is gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while cloud.arm("GET", &format!("{db}?{v}")).0 != 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "the database never went away"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    let plan = json(&c.run(&["plan", "--only", "infra", "-o", "json"]));
    assert_eq!(plan["phases"][0]["action"], "run", "{plan}");
    let reason = plan["phases"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("postgres-database:app create"), "{plan}");
    assert_eq!(changed(&plan), ["postgres-database:app:create"], "{plan}");

    cloud.reset_stats();
    let up = c.run(&["up", "--only", "infra", "-o", "json"]);
    assert_eq!(up.code, 0, "{up:?}");
    assert_eq!(json(&up)["phases"][0]["result"], "succeeded", "{up:?}");
    assert_eq!(
        puts_by_type(cloud),
        serde_json::json!({"Microsoft.DBforPostgreSQL/flexibleServers/databases": 1})
    );

    // Converged: the next up verifies with one GET per resource, writes nothing, skips.
    cloud.reset_stats();
    let again = c.run(&["up", "--only", "infra", "-o", "json"]);
    assert_eq!(json(&again)["phases"][0]["result"], "skipped", "{again:?}");
    let stats = cloud.stats();
    assert_eq!(stats["puts"], 0, "{stats}");
    assert_eq!(stats["by_method"]["GET"].as_u64(), Some(total), "{stats}");
    assert_eq!(c.run(&["down", "--yes"]).code, 0);
}

/// Waits until a resource PUT through `cloud.arm` has finished (`Succeeded`).
fn wait_succeeded(cloud: &LocalCloud, id_and_version: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (code, body) = cloud.arm("GET", id_and_version);
        if code == 200 && body["properties"]["provisioningState"] == "Succeeded" {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{id_and_version} never succeeded: {code} {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A managed disk left by a scale-set VM (OS disks outlive their VM with `deleteOption:
/// Detach`) is deleted with the disk resource provider's own api-version, not Compute's; a
/// tagged resource of a type platform never creates is reported as left in place, gets no
/// request at all, and `down` still exits 0.
#[test]
fn down_deletes_disks_with_their_version_and_leaves_unknown_types_in_place() {
    let _g = serial();
    let cloud = shared();
    let c = Cluster::on(cloud, "orphans")
        .yaml("postgres:\n  enabled: false\n")
        .build();
    assert_eq!(c.run(&["up", "--only", "infra"]).code, 0);
    let rg = format!(
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/{}",
        c.rg()
    );
    let tags = serde_json::json!({"managed-by": "platform", "platform-cluster": "orphans"});
    // DiskRP 2025-01-02, read in the spec: not Compute's version.
    let disk = format!("{rg}/providers/Microsoft.Compute/disks/orphans-agents_0_OsDisk_1");
    let disk_v = format!("{disk}?api-version=2025-01-02");
    let body = serde_json::json!({"location": "westeurope", "tags": tags,
        "sku": {"name": "StandardSSD_LRS"},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 30}});
    let (code, answer) = cloud.arm_json("PUT", &disk_v, &body);
    assert!([200, 201, 202].contains(&code), "{code} {answer}");
    wait_succeeded(cloud, &disk_v);
    let snap = format!("{rg}/providers/Microsoft.Compute/snapshots/orphans-before-upgrade");
    let snap_v = format!("{snap}?api-version=2025-01-02");
    let body = serde_json::json!({"location": "westeurope", "tags": tags,
        "properties": {"creationData": {"createOption": "Import",
            "sourceUri": "https://example.blob.core.windows.net/vhds/node.vhd"}}});
    let (code, answer) = cloud.arm_json("PUT", &snap_v, &body);
    assert!([200, 201, 202].contains(&code), "{code} {answer}");
    wait_succeeded(cloud, &snap_v);

    cloud.reset_stats();
    let down = c.run(&["down", "--yes", "-o", "json"]);
    assert_eq!(down.code, 0, "{down:?}");
    let done = json(&down);
    let deleted: Vec<&str> = done["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        deleted.iter().any(|d| d.eq_ignore_ascii_case(&disk)),
        "{done}"
    );
    let left = done["left_in_place"].as_array().unwrap();
    assert_eq!(left.len(), 1, "{done}");
    assert!(left[0]["id"].as_str().unwrap().eq_ignore_ascii_case(&snap));
    assert_eq!(left[0]["type"], "Microsoft.Compute/snapshots");
    assert!(
        left[0]["reason"].as_str().unwrap().contains("in place"),
        "{done}"
    );
    assert_eq!(done["resource_group_deleted"], false, "{done}");
    assert!(down.stderr.contains("left in place"), "{down:?}");

    // What the cloud received: every disk DELETE with the disk version, every scale-set
    // DELETE with Compute's, and no request at all about the snapshot.
    let versions = &cloud.stats()["api_versions"];
    assert_eq!(
        versions["DELETE Microsoft.Compute/disks"],
        serde_json::json!({"2025-01-02": 1}),
        "{versions}"
    );
    assert_eq!(
        versions["DELETE Microsoft.Compute/virtualMachineScaleSets"],
        serde_json::json!({platform::azure::api_versions::COMPUTE: 2}),
        "{versions}"
    );
    let about_snapshots: Vec<&String> = versions
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.ends_with("Microsoft.Compute/snapshots"))
        .collect();
    assert!(about_snapshots.is_empty(), "{versions}");
    let remaining = visible(cloud, &c.rg());
    assert_eq!(
        remaining.len(),
        2,
        "the group and the snapshot: {remaining:?}"
    );

    // The text form says the same; once the snapshot is gone, down removes the group.
    let again = c.run(&["down", "--yes"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again
            .stderr
            .contains("orphans-before-upgrade (Microsoft.Compute/snapshots)"),
        "{again:?}"
    );
    let (code, _) = cloud.arm("DELETE", &snap_v);
    assert!(
        [200, 202, 204].contains(&code),
        "snapshot DELETE answered {code}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while cloud.arm("GET", &snap_v).0 != 404 {
        assert!(std::time::Instant::now() < deadline, "snapshot never went");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(c.run(&["down", "--yes"]).code, 0);
    assert!(cloud.resources_in(&c.rg()).is_empty());
}

/// Azure allows resource group names in any script (Unicode letters and digits); the client
/// sends them percent-encoded and the cloud must decode them (issue 9).
#[test]
fn a_resource_group_named_in_any_script_is_created_and_deleted() {
    let _g = serial();
    let cloud = shared();
    let c = Cluster::on(cloud, "intl")
        .resource_group("plattform-prüfung-(東京)")
        .without_postgres()
        .build();
    let rg = c.rg();
    let up = c.run(&["up", "--only", "infra"]);
    assert_eq!(up.code, 0, "{up:?}");
    let made = visible(cloud, &rg);
    // The cloud keeps the group under its decoded name, as ARM does.
    let suffix = format!("/resourceGroups/{rg}");
    assert!(
        made.iter()
            .any(|r| r["type"] == "Microsoft.Resources/resourceGroups"
                && r["id"].as_str().is_some_and(|id| id.ends_with(&suffix))),
        "{made:?}"
    );
    assert!(
        made.iter()
            .any(|r| r["type"] == "Microsoft.Network/virtualNetworks"),
        "{made:?}"
    );
    let down = c.run(&["down", "--yes"]);
    assert_eq!(down.code, 0, "{down:?}");
    assert!(visible(cloud, &rg).is_empty());
}
