//! Network resources in the local cloud: subnet child resources, load balancer references,
//! in-use protection.

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::local_cloud::{Env, SUB, res_path, rg_path, start};

fn lb_body(pip_id: &str, lb_id: &str) -> Value {
    json!({"location": "eastus", "sku": {"name": "Standard"}, "properties": {
        "frontendIPConfigurations": [{"name": "fe", "properties": {"publicIPAddress": {"id": pip_id}}}],
        "backendAddressPools": [{"name": "nodes"}],
        "probes": [{"name": "api", "properties": {"protocol": "Tcp", "port": 6443, "intervalInSeconds": 5, "numberOfProbes": 2}}],
        "loadBalancingRules": [{"name": "api", "properties": {
            "frontendIPConfiguration": {"id": format!("{lb_id}/frontendIPConfigurations/fe")},
            "backendAddressPool": {"id": format!("{lb_id}/backendAddressPools/nodes")},
            "probe": {"id": format!("{lb_id}/probes/api")},
            "protocol": "Tcp", "frontendPort": 6443, "backendPort": 6443}}]}})
}

#[tokio::test]
async fn subnets_are_child_resources_of_the_vnet() {
    let env = start(1).await;
    env.create_group("rg").await;
    env.create_network("rg").await;
    let vnet = res_path("rg", "Microsoft.Network/virtualNetworks", "vnet");
    let r = env
        .put(
            &format!("{vnet}/subnets/extra"),
            json!({"properties": {"addressPrefix": "10.10.3.0/24"}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.headers().get("azure-asyncoperation").is_some());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["id"], env.subnet_id("rg", "extra").as_str());
    assert_eq!(body["type"], "Microsoft.Network/virtualNetworks/subnets");
    let overlap = env
        .put(
            &format!("{vnet}/subnets/clash"),
            json!({"properties": {"addressPrefix": "10.10.3.0/25"}}),
        )
        .await;
    assert_eq!(
        Env::error_code(overlap).await.1,
        "NetcfgSubnetRangesOverlap"
    );

    // The subnet list pages like any collection (page size 1 here).
    let page = env.json(&format!("{vnet}/subnets")).await;
    assert_eq!(page["value"].as_array().unwrap().len(), 1);
    assert!(page["nextLink"].is_string());
    let whole = env.json(&vnet).await;
    assert_eq!(whole["properties"]["subnets"].as_array().unwrap().len(), 3);

    let r = env.delete(&format!("{vnet}/subnets/extra")).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    assert_eq!(
        env.get(&format!("{vnet}/subnets/extra")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.delete(&format!("{vnet}/subnets/extra")).await.status(),
        StatusCode::NO_CONTENT
    );
    env.cloud.shutdown().await;
}

#[tokio::test]
async fn load_balancer_references_are_checked_and_protect_in_use_resources() {
    let env = start(100).await;
    env.create_group("rg").await;
    env.create_network("rg").await;
    let pip = res_path("rg", "Microsoft.Network/publicIPAddresses", "api");
    let r = env
        .put(
            &pip,
            json!({"location": "eastus", "sku": {"name": "Standard"}}),
        )
        .await;
    assert_eq!(
        Env::error_code(r).await.1,
        "StandardSkuPublicIPAddressesMustBeStatic"
    );
    let r = env
        .put(&pip, json!({"location": "eastus", "sku": {"name": "Standard", "tier": "Regional"},
            "properties": {"publicIPAllocationMethod": "Static", "dnsSettings": {"domainNameLabel": "k3s"}}}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(
        created["properties"]["dnsSettings"]["fqdn"],
        "k3s.eastus.cloudapp.azure.com"
    );
    let pip_id = format!(
        "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/api"
    );
    let lb_path = res_path("rg", "Microsoft.Network/loadBalancers", "lb");
    let lb_id = format!(
        "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb"
    );

    let mut broken = lb_body(&pip_id, &lb_id);
    broken["properties"]["loadBalancingRules"][0]["properties"]["probe"]["id"] =
        format!("{lb_id}/probes/missing").into();
    assert_eq!(
        Env::error_code(env.put(&lb_path, broken).await).await.1,
        "InvalidResourceReference"
    );
    let r = env.put(&lb_path, lb_body(&pip_id, &lb_id)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    let lb = env.json(&lb_path).await;
    assert_eq!(
        lb["properties"]["backendAddressPools"][0]["id"],
        format!("{lb_id}/backendAddressPools/nodes")
    );

    // Read-only fields a client echoes back are ignored, and a no-change PUT is an update.
    let mut echoed = lb.clone();
    echoed["properties"]["provisioningState"] = "Bogus".into();
    let r = env.put(&lb_path, echoed).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["properties"]["provisioningState"], "Updating");

    // A scale set joins the pool; then neither the LB nor the public IP can go.
    let mut vmss = env.vmss_body("rg", 1);
    vmss["properties"]["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"]
        [0]["properties"]["ipConfigurations"][0]["properties"]["loadBalancerBackendAddressPools"] =
        json!([{"id": format!("{lb_id}/backendAddressPools/nodes")}]);
    let r = env
        .put(
            &res_path("rg", "Microsoft.Compute/virtualMachineScaleSets", "servers"),
            vmss,
        )
        .await;
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    assert_eq!(
        Env::error_code(env.delete(&lb_path).await).await.1,
        "LoadBalancerInUseByVirtualMachineScaleSet"
    );
    assert_eq!(
        Env::error_code(env.delete(&pip).await).await.1,
        "PublicIPAddressCannotBeDeleted"
    );
    let nsg = res_path("rg", "Microsoft.Network/networkSecurityGroups", "nsg");
    assert_eq!(
        Env::error_code(env.delete(&nsg).await).await.1,
        "InUseNetworkSecurityGroupCannotBeDeleted"
    );

    // Removing the scale set frees them.
    let r = env
        .delete(&res_path(
            "rg",
            "Microsoft.Compute/virtualMachineScaleSets",
            "servers",
        ))
        .await;
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    let r = env.delete(&lb_path).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    let r = env.delete(&pip).await;
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    assert_eq!(env.get(&pip).await.status(), StatusCode::NOT_FOUND);
    env.cloud.shutdown().await;
}

/// An internal load balancer: a private frontend takes exactly a subnet, its `Static` address
/// is checked as ARM checks it, a `Dynamic` one is allocated, and NICs never get them.
#[tokio::test]
async fn private_frontends_get_checked_addresses_in_their_subnet() {
    let env = start(100).await;
    env.create_group("rg").await;
    env.create_network("rg").await;
    let lb_path = res_path("rg", "Microsoft.Network/loadBalancers", "ilb");
    let lb_id = format!(
        "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/ilb"
    );
    let subnet = env.subnet_id("rg", "nodes");
    let with = |fe: Value| {
        let mut b = lb_body("", &lb_id);
        b["properties"]["frontendIPConfigurations"][0]["properties"] = fe;
        b
    };
    let pip = format!(
        "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/x"
    );
    for (fe, code) in [
        (json!({}), "FrontendIPConfigHasNoSubnetOrPublicIP"),
        (
            json!({"subnet": {"id": subnet}, "publicIPAddress": {"id": pip}}),
            "FrontendIPConfigHasBothSubnetAndPublicIP",
        ),
        (
            json!({"subnet": {"id": subnet}, "privateIPAllocationMethod": "Static", "privateIPAddress": "10.10.2.9"}),
            "PrivateIPAddressNotInSubnet",
        ),
        (
            json!({"subnet": {"id": subnet}, "privateIPAllocationMethod": "Static", "privateIPAddress": "10.10.1.3"}),
            "PrivateIPAddressInReservedRange",
        ),
        (
            json!({"subnet": {"id": subnet}, "privateIPAllocationMethod": "Static", "privateIPAddress": "10.10.1.255"}),
            "PrivateIPAddressInReservedRange",
        ),
    ] {
        let r = env.put(&lb_path, with(fe.clone())).await;
        assert_eq!(Env::error_code(r).await.1, code, "{fe}");
    }
    let fixed = json!({"subnet": {"id": subnet}, "privateIPAllocationMethod": "Static", "privateIPAddress": "10.10.1.4"});
    let r = env.put(&lb_path, with(fixed.clone())).await;
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    // Its own address again is no conflict; another load balancer cannot take it.
    let r = env.put(&lb_path, with(fixed.clone())).await;
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    let other = res_path("rg", "Microsoft.Network/loadBalancers", "other");
    let other_id = format!(
        "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/other"
    );
    let mut clash = lb_body("", &other_id);
    clash["properties"]["frontendIPConfigurations"][0]["properties"] = fixed;
    assert_eq!(
        Env::error_code(env.put(&other, clash.clone()).await)
            .await
            .1,
        "PrivateIPAddressInUse"
    );
    clash["properties"]["frontendIPConfigurations"][0]["properties"] =
        json!({"subnet": {"id": subnet}});
    let r = env.put(&other, clash).await;
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    let fe = &env.json(&other).await["properties"]["frontendIPConfigurations"][0]["properties"];
    assert_eq!(fe["privateIPAddress"], "10.10.1.5", "{fe}");
    assert_eq!(fe["privateIPAllocationMethod"], "Dynamic");
    // A scale set's VM gets the next free address.
    let r = env
        .put(
            &res_path("rg", "Microsoft.Compute/virtualMachineScaleSets", "vm"),
            env.vmss_body("rg", 1),
        )
        .await;
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    let nics = env
        .json(&format!(
            "{}/providers/Microsoft.Network/networkInterfaces",
            rg_path("rg")
        ))
        .await;
    assert_eq!(
        nics["value"][0]["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"],
        "10.10.1.6",
        "{nics}"
    );
    env.cloud.shutdown().await;
}
