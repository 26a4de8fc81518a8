//! Local cloud lifecycles: Postgres visibility, group delete cascade, persistence across a
//! restart, in-use protection, VM power control.

use local_cloud::FaultConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::local_cloud::{Env, SUB, client, res_path, rg_path, start, start_in};

async fn create_postgres(env: &Env) -> String {
    let zone_name = "k3s.private.postgres.database.azure.com";
    let zone = res_path("rg", "Microsoft.Network/privateDnsZones", zone_name);
    let r = env.put(&zone, json!({"location": "global"})).await;
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    let link = format!("{zone}/virtualNetworkLinks/vnet");
    let vnet_id = format!(
        "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet"
    );
    let r = env.put(&link, json!({"location": "Global", "properties": {"virtualNetwork": {"id": vnet_id}, "registrationEnabled": false}})).await;
    assert_eq!(
        r.status(),
        StatusCode::ACCEPTED,
        "the Private DNS RP answers 202"
    );
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    let pg = res_path("rg", "Microsoft.DBforPostgreSQL/flexibleServers", "pg-main");
    let r = env
        .put(&pg, json!({"location": "eastus", "sku": {"name": "Standard_B2s", "tier": "Burstable"},
            "properties": {"administratorLogin": "k3sadmin", "administratorLoginPassword": "S3cret-pass!", "version": "17",
                "network": {"delegatedSubnetResourceId": env.subnet_id("rg", "pg"),
                    "privateDnsZoneArmResourceId": format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/{zone_name}")}}}))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // A 202 create is invisible until it completes.
    let early = env.get(&pg).await;
    assert_eq!(
        Env::error_code(early).await,
        (StatusCode::NOT_FOUND, "ResourceNotFound".into())
    );
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    pg
}

#[tokio::test]
async fn postgres_becomes_ready_and_group_delete_cascades() {
    let env = start(100).await;
    env.create_group("rg").await;
    env.create_network("rg").await;
    let pg = create_postgres(&env).await;
    let server = env.json(&pg).await;
    assert_eq!(server["properties"]["state"], "Ready");
    assert_eq!(
        server["properties"]["fullyQualifiedDomainName"],
        "pg-main.postgres.database.azure.com"
    );
    assert_eq!(
        server["properties"]["network"]["publicNetworkAccess"],
        "Disabled"
    );
    assert!(
        server["properties"]
            .get("administratorLoginPassword")
            .is_none(),
        "the password is never returned"
    );
    assert!(
        !std::fs::read_to_string(env.dir.path().join("cloud.json"))
            .unwrap()
            .contains("S3cret-pass!")
    );

    let r = env
        .put(
            &format!("{pg}/databases/app"),
            json!({"properties": {"charset": "UTF8"}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    let dbs = env.json(&format!("{pg}/databases")).await;
    assert_eq!(dbs["value"][0]["name"], "app");

    // The delegated subnet is in use by the server.
    let r = env
        .delete(&format!(
            "{}/subnets/pg",
            res_path("rg", "Microsoft.Network/virtualNetworks", "vnet")
        ))
        .await;
    assert_eq!(
        Env::error_code(r).await,
        (StatusCode::BAD_REQUEST, "InUseSubnetCannotBeDeleted".into())
    );

    let vmss = res_path("rg", "Microsoft.Compute/virtualMachineScaleSets", "servers");
    let r = env.put(&vmss, env.vmss_body("rg", 2)).await;
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    let listed = env.json(&format!("{}/resources", rg_path("rg"))).await;
    let types: Vec<&str> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["type"].as_str().unwrap())
        .collect();
    for t in [
        "Microsoft.Compute/virtualMachines",
        "Microsoft.Network/networkInterfaces",
        "Microsoft.DBforPostgreSQL/flexibleServers",
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
    ] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    let tagged = env
        .json(&format!(
            "{}/resources?$filter=tagName eq 'missing'",
            rg_path("rg")
        ))
        .await;
    assert_eq!(tagged["value"].as_array().unwrap().len(), 0);

    let r = env.delete(&rg_path("rg")).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r2 = env
        .put(
            &res_path("rg", "Microsoft.Network/publicIPAddresses", "late"),
            json!({"location": "eastus"}),
        )
        .await;
    assert_eq!(
        Env::error_code(r2).await,
        (StatusCode::CONFLICT, "ResourceGroupBeingDeleted".into())
    );
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    assert_eq!(
        env.get(&rg_path("rg")).await.status(),
        StatusCode::NOT_FOUND
    );
    env.create_group("rg").await;
    let listed = env.json(&format!("{}/resources", rg_path("rg"))).await;
    assert_eq!(listed["value"], json!([]), "nothing survives the group");
    assert_eq!(env.get(&pg).await.status(), StatusCode::NOT_FOUND);
    env.cloud.shutdown().await;
}

#[tokio::test]
async fn resources_survive_a_restart_and_the_ca_stays_trusted() {
    let env = start(100).await;
    env.create_group("rg").await;
    env.create_network("rg").await;
    let pip = res_path("rg", "Microsoft.Network/publicIPAddresses", "api");
    let r = env.put(&pip, json!({"location": "eastus", "sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "Static"}})).await;
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    let before = env.json(&pip).await;
    let old_ca = env.cloud.ca_pem.clone();
    let Env { cloud, dir, .. } = env;
    cloud.shutdown().await;

    let cloud = start_in(dir.path(), 100, FaultConfig::default()).await;
    let env = Env {
        http: client(&old_ca),
        cloud,
        dir,
    };
    let after = env.json(&pip).await;
    assert_eq!(
        after["properties"]["ipAddress"],
        before["properties"]["ipAddress"]
    );
    let vnet = env
        .json(&res_path("rg", "Microsoft.Network/virtualNetworks", "vnet"))
        .await;
    assert_eq!(vnet["properties"]["subnets"].as_array().unwrap().len(), 2);
    let subnet = env
        .json(&format!(
            "{}/subnets/pg",
            res_path("rg", "Microsoft.Network/virtualNetworks", "vnet")
        ))
        .await;
    assert_eq!(
        subnet["properties"]["delegations"][0]["properties"]["serviceName"],
        "Microsoft.DBforPostgreSQL/flexibleServers"
    );
    // An unchanged state means no writes were needed: the stats start empty after restart.
    assert_eq!(env.cloud.stats().puts, 0);
    env.cloud.shutdown().await;
}

#[tokio::test]
async fn vm_power_state_is_controllable() {
    let env = start(100).await;
    env.create_group("rg").await;
    env.create_network("rg").await;
    let r = env
        .put(
            &res_path("rg", "Microsoft.Compute/virtualMachineScaleSets", "agents"),
            env.vmss_body("rg", 1),
        )
        .await;
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    let vms = env
        .json(&format!(
            "{}/providers/Microsoft.Compute/virtualMachines",
            rg_path("rg")
        ))
        .await;
    let name = vms["value"][0]["name"].as_str().unwrap().to_string();
    let vm = res_path("rg", "Microsoft.Compute/virtualMachines", &name);

    let r = env
        .http
        .post(format!("{}_local/vms/{name}/stop", env.cloud.endpoint))
        .bearer_auth(env.cloud.token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let view = env.json(&format!("{vm}/instanceView")).await;
    assert_eq!(view["statuses"][1]["code"], "PowerState/stopped");

    // The ARM action is a 202 operation.
    let r = env
        .http
        .post(env.url(&format!("{vm}/start")))
        .bearer_auth(env.cloud.token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    let got: Value = env.json(&format!("{vm}?$expand=instanceView")).await;
    assert_eq!(
        got["properties"]["instanceView"]["statuses"][1]["code"],
        "PowerState/running"
    );

    // Deleting the VM lowers the scale set's capacity and removes its NIC.
    let nic = got["properties"]["networkProfile"]["networkInterfaces"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = env.delete(&vm).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    assert_eq!(env.get(&nic).await.status(), StatusCode::NOT_FOUND);
    let vmss = env
        .json(&res_path(
            "rg",
            "Microsoft.Compute/virtualMachineScaleSets",
            "agents",
        ))
        .await;
    assert_eq!(vmss["sku"]["capacity"], 0);
    env.cloud.shutdown().await;
}
