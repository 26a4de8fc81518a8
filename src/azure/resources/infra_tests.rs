//! Tests of the whole desired infrastructure: names, order, graph, validation, snapshot.

use super::*;
use crate::azure::resources::cloud_init::{CloudInitParams, NodeRole, render};

const PASSWORD: &str = "Sample-Password-For-Tests-0001";

fn pool(count: u32, public_ip: bool, role: NodeRole) -> NodePoolInput {
    NodePoolInput {
        count,
        vm_size: "Standard_B2s".into(),
        image: ImageReference::ubuntu_lts(),
        public_ip,
        cloud_init: render(&CloudInitParams {
            cluster: "demo".into(),
            role,
        })
        .unwrap(),
    }
}

fn sample() -> InfraInput {
    InfraInput {
        cluster: "demo".into(),
        subscription: "00000000-0000-0000-0000-000000000000".into(),
        location: "westeurope".into(),
        resource_group: "demo-rg".into(),
        address_space: "10.42.0.0/16".into(),
        node_subnet: "10.42.1.0/24".into(),
        postgres_subnet: "10.42.2.0/28".into(),
        admin_cidrs: vec!["203.0.113.7/32".into()],
        ingress: true,
        servers: pool(3, true, NodeRole::Server),
        agents: pool(2, false, NodeRole::Agent),
        ssh_user: "platform".into(),
        ssh_public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAISampleKeyOnly platform".into(),
        postgres: PostgresInput {
            enabled: true,
            version: "17".into(),
            sku_name: "Standard_B2s".into(),
            tier: "Burstable".into(),
            storage_gb: 32,
            databases: vec!["app".into(), "grafana".into()],
            admin_login: "platformadmin".into(),
            password: Secret::new(PASSWORD),
            server_name: "demo-pg-x7k2".into(),
        },
    }
}

#[test]
fn snapshot_of_the_sample_cluster() {
    let all = desired_infra(&sample()).unwrap();
    let view: Vec<Value> = all.iter().map(DesiredResource::to_display_json).collect();
    let text = serde_json::to_string(&view).unwrap();
    assert!(
        !text.contains(PASSWORD),
        "secret leaked into the display view"
    );
    insta::assert_json_snapshot!("desired_infra_sample", view);
}

#[test]
fn names_follow_the_convention() {
    let all = desired_infra(&sample()).unwrap();
    let names: Vec<&str> = all
        .iter()
        .map(|r| crate::azure::ids::name_of(&r.id))
        .collect();
    assert_eq!(
        names,
        [
            "demo-rg",
            "demo-nsg",
            "demo-api-pip",
            "demo-nat-pip",
            "demo-natgw",
            "demo-vnet",
            "demo-api-lb",
            "demo-api-ilb",
            "demo-servers",
            "demo-agents",
            "demo.private.postgres.database.azure.com",
            "demo-vnet-link",
            "demo-pg-x7k2",
            "app",
            "grafana",
        ]
    );
    for r in &all {
        assert_eq!(
            Some(r.api_version),
            crate::azure::api_versions::for_type(r.resource_type)
        );
        assert_eq!(
            crate::azure::ids::type_of(&r.id)
                .as_deref()
                .unwrap_or(r.resource_type),
            r.resource_type
        );
        // Every tracked resource carries location and the ownership tags.
        if !matches!(r.key, ResourceKey::PostgresDatabase(_)) {
            let b = r.put_body();
            assert!(b["location"].is_string(), "{}", r.key);
            assert_eq!(b["tags"]["managed-by"], "platform", "{}", r.key);
            assert_eq!(b["tags"]["platform-cluster"], "demo", "{}", r.key);
        }
    }
}

#[test]
fn order_respects_the_dependency_graph() {
    let all = desired_infra(&sample()).unwrap();
    for (i, r) in all.iter().enumerate() {
        for dep in &r.depends_on {
            let pos = all.iter().position(|o| &o.key == dep);
            assert!(pos.is_some_and(|p| p < i), "{} needs {dep} first", r.key);
        }
    }
    use ResourceKey::*;
    assert!(
        VirtualNetwork
            .dependencies()
            .contains(&NetworkSecurityGroup)
    );
    assert!(VirtualNetwork.dependencies().contains(&NatGateway));
    assert!(Servers.dependencies().contains(&LoadBalancer));
    assert!(Servers.dependencies().contains(&InternalLoadBalancer));
    assert!(
        InternalLoadBalancer
            .dependencies()
            .contains(&VirtualNetwork)
    );
    assert!(PostgresServer.dependencies().contains(&DnsZoneLink));
    assert_eq!(
        PostgresDatabase("app".into()).dependencies(),
        vec![PostgresServer]
    );
}

#[test]
fn postgres_disabled_leaves_it_out() {
    let mut input = sample();
    input.postgres.enabled = false;
    let all = desired_infra(&input).unwrap();
    assert_eq!(all.len(), 10);
    assert!(
        all.iter()
            .all(|r| !r.resource_type.contains("DBforPostgreSQL"))
    );
}

#[test]
fn freshly_created_resources_plan_as_unchanged() {
    for r in desired_infra(&sample()).unwrap() {
        assert_eq!(r.plan(None), Plan::Create);
        // Simulate the GET: write-only fields gone, read-only fields added.
        let mut actual = r.comparable_body();
        actual["id"] = json!(r.id.to_ascii_lowercase());
        actual["etag"] = json!("W/\"1\"");
        assert_eq!(r.plan(Some(&actual)), Plan::Unchanged, "{}", r.key);
        assert!(!format!("{r:?}").contains(PASSWORD));
    }
}

#[test]
fn servers_join_the_lb_and_agents_do_not() {
    let all = desired_infra(&sample()).unwrap();
    let ipc = |key: ResourceKey| {
        let r = all.iter().find(|r| r.key == key).unwrap();
        r.put_body()["properties"]["virtualMachineProfile"]["networkProfile"]
            ["networkInterfaceConfigurations"][0]["properties"]["ipConfigurations"][0]["properties"]
            .clone()
    };
    let servers = ipc(ResourceKey::Servers);
    assert!(
        servers["loadBalancerBackendAddressPools"][0]["id"]
            .as_str()
            .unwrap()
            .ends_with("/demo-api-lb/backendAddressPools/servers")
    );
    // ...and the internal one agents register through.
    assert!(
        servers["loadBalancerBackendAddressPools"][1]["id"]
            .as_str()
            .unwrap()
            .ends_with("/demo-api-ilb/backendAddressPools/servers")
    );
    assert!(
        servers["subnet"]["id"]
            .as_str()
            .unwrap()
            .ends_with("/demo-vnet/subnets/nodes")
    );
    assert!(
        ipc(ResourceKey::Agents)
            .get("loadBalancerBackendAddressPools")
            .is_none()
    );
}

fn err(f: impl FnOnce(&mut InfraInput)) -> InfraError {
    let mut input = sample();
    f(&mut input);
    desired_infra(&input).unwrap_err()
}

fn field(e: &InfraError) -> &str {
    match e {
        InfraError::Invalid { field, .. } => field,
        InfraError::NoAdminCidrs => "admin_cidrs",
    }
}

#[test]
fn broken_invariants_are_refused_with_the_field_named() {
    assert_eq!(err(|i| i.admin_cidrs.clear()), InfraError::NoAdminCidrs);
    assert_eq!(
        field(&err(|i| i.admin_cidrs.push("my-laptop".into()))),
        "admin_cidrs[1]"
    );
    assert_eq!(
        field(&err(|i| i.node_subnet = "10.99.0.0/24".into())),
        "node_subnet"
    );
    assert_eq!(
        field(&err(|i| i.postgres_subnet = "10.42.1.0/28".into())),
        "postgres_subnet"
    );
    assert_eq!(field(&err(|i| i.servers.count = 0)), "servers.count");
    assert_eq!(
        field(&err(|i| i.ssh_public_key = "not a key".into())),
        "ssh_public_key"
    );
    let e = err(|i| i.postgres.password = Secret::new(""));
    assert_eq!(field(&e), "postgres.password");
}

#[test]
fn naming_rules_are_the_configs_not_this_layers() {
    // Azure accepts a server name starting with a digit; only the config judges names.
    let mut input = sample();
    input.postgres.server_name = "1pg".into();
    assert!(desired_infra(&input).is_ok());
}

#[test]
fn explicit_wide_sources_are_kept_but_never_invented() {
    let mut input = sample();
    input.admin_cidrs = vec!["0.0.0.0/0".into()];
    let all = desired_infra(&input).unwrap();
    let nsg = all
        .iter()
        .find(|r| r.key == ResourceKey::NetworkSecurityGroup)
        .unwrap();
    assert_eq!(
        nsg.put_body()["properties"]["securityRules"][0]["properties"]["sourceAddressPrefix"],
        "0.0.0.0/0"
    );
}

#[test]
fn computer_name_prefix_fits_fifteen_chars() {
    assert_eq!(computer_name_prefix("demo", 's'), "demo-s");
    let long = computer_name_prefix("a-very-long-cluster-name", 'a');
    assert!(long.len() <= 15, "{long}");
    assert!(long.ends_with("-a"));
    assert_eq!(
        computer_name_prefix("abcdefghijkl-x", 's'),
        "abcdefghijkl-s"
    );
}
