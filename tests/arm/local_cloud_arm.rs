//! The local cloud over real HTTPS: TLS trust, auth, api-version, scale set LRO, VM listing.

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::local_cloud::{Env, SUB, res_path, rg_path, start};

#[tokio::test]
async fn tls_auth_and_api_version_are_enforced() {
    let env = start(100).await;
    // A client without the local CA refuses the certificate: verification is real.
    let stranger = reqwest::Client::builder()
        .tls_certs_only([])
        .build()
        .unwrap();
    assert!(
        stranger
            .get(env.url(&rg_path("rg")))
            .bearer_auth(env.cloud.token())
            .send()
            .await
            .is_err()
    );

    let r = env.http.get(env.url(&rg_path("rg"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("x-ms-request-id").is_some());
    assert_eq!(
        r.headers()["x-ms-ratelimit-remaining-subscription-reads"],
        "250"
    );
    assert!(r.headers().get("x-ms-correlation-request-id").is_some());
    assert_eq!(Env::error_code(r).await.1, "AuthenticationFailed");

    let url = format!(
        "{}subscriptions/{SUB}/resourceGroups/rg",
        env.cloud.endpoint
    );
    let r = env
        .http
        .get(&url)
        .bearer_auth(env.cloud.token())
        .send()
        .await
        .unwrap();
    assert_eq!(
        Env::error_code(r).await,
        (StatusCode::BAD_REQUEST, "MissingApiVersionParameter".into())
    );
    let r = env
        .http
        .get(format!("{url}?api-version=2019-01-01"))
        .bearer_auth(env.cloud.token())
        .send()
        .await
        .unwrap();
    assert_eq!(
        Env::error_code(r).await,
        (StatusCode::BAD_REQUEST, "InvalidApiVersionParameter".into())
    );

    let r = env.get(&rg_path("rg")).await;
    assert_eq!(
        Env::error_code(r).await,
        (StatusCode::NOT_FOUND, "ResourceGroupNotFound".into())
    );
    let r = env
        .put(&rg_path("rg"), json!({"location": "East US"}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["location"], "eastus");
    assert_eq!(body["properties"]["provisioningState"], "Succeeded");
    let r = env.put(&rg_path("rg"), json!({"location": "eastus"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()
            .get("x-ms-ratelimit-remaining-subscription-writes")
            .is_some()
    );
    env.cloud.shutdown().await;
}

#[tokio::test]
async fn scale_set_creates_vms_with_nics_and_public_ips_and_lists_them_paged() {
    let env = start(2).await;
    env.create_group("rg").await;
    env.create_network("rg").await;
    let vmss = res_path("rg", "Microsoft.Compute/virtualMachineScaleSets", "agents");
    let r = env.put(&vmss, env.vmss_body("rg", 3)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.headers().get("location").is_some());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["properties"]["provisioningState"], "Creating");
    assert!(
        body["properties"]["virtualMachineProfile"]["osProfile"]
            .get("customData")
            .is_none(),
        "customData is write-only"
    );

    // Poll through Location, as the Compute spec says (final-state-via location).
    let r = env.put(&vmss, env.vmss_body("rg", 3)).await;
    assert_eq!(r.status(), StatusCode::OK, "second PUT is an update");
    let mut loc_only = r;
    let (status, final_body) = {
        let h = loc_only.headers_mut();
        h.remove("azure-asyncoperation");
        env.wait(&loc_only).await
    };
    assert_eq!(status, "Succeeded");
    assert_eq!(final_body["properties"]["provisioningState"], "Succeeded");

    let vmss_id = format!(
        "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/agents"
    );
    let list_path = format!(
        "{}/providers/Microsoft.Compute/virtualMachines?$filter={}",
        rg_path("rg"),
        urlencode(&format!("virtualMachineScaleSet/id eq '{vmss_id}'"))
    );
    let page1 = env.json(&list_path).await;
    assert_eq!(page1["value"].as_array().unwrap().len(), 2);
    let next = page1["nextLink"].as_str().expect("nextLink on a full page");
    assert!(next.starts_with("https://127.0.0.1:"));
    let page2: Value = env.get_abs(next).await.json().await.unwrap();
    assert_eq!(page2["value"].as_array().unwrap().len(), 1);
    assert!(page2.get("nextLink").is_none());

    let vms: Vec<Value> = page1["value"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2["value"].as_array().unwrap())
        .cloned()
        .collect();
    let mut private = Vec::new();
    for vm in &vms {
        let name = vm["name"].as_str().unwrap();
        assert!(
            name.starts_with("agents_") && name.len() == "agents_".len() + 8,
            "{name}"
        );
        assert_eq!(vm["properties"]["provisioningState"], "Succeeded");
        assert_eq!(
            vm["properties"]["virtualMachineScaleSet"]["id"],
            vmss_id.as_str()
        );
        assert!(
            vm["properties"]["osProfile"]["computerName"]
                .as_str()
                .unwrap()
                .starts_with("agent")
        );
        let nic_id = vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"]
            .as_str()
            .unwrap();
        let nic = env.json(nic_id).await;
        assert_eq!(nic["properties"]["virtualMachine"]["id"], vm["id"]);
        let cfg = &nic["properties"]["ipConfigurations"][0]["properties"];
        private.push(cfg["privateIPAddress"].as_str().unwrap().to_string());
        let pip = env
            .json(cfg["publicIPAddress"]["id"].as_str().unwrap())
            .await;
        assert!(
            pip["properties"]["ipAddress"]
                .as_str()
                .unwrap()
                .starts_with("203.0.113.")
        );
    }
    private.sort();
    assert_eq!(private, ["10.10.1.4", "10.10.1.5", "10.10.1.6"]);

    // The instance view carries the power state; the filter is required for $expand.
    let r = env
        .get(&format!(
            "{}/providers/Microsoft.Compute/virtualMachines?$expand=instanceView",
            rg_path("rg")
        ))
        .await;
    assert_eq!(Env::error_code(r).await.1, "InvalidParameter");
    let with_view = env.json(&format!("{list_path}&$expand=instanceView")).await;
    assert_eq!(
        with_view["value"][0]["properties"]["instanceView"]["statuses"][1]["code"],
        "PowerState/running"
    );

    // NICs of the group are listable in one call (the inventory join).
    let nics = env
        .json(&format!(
            "{}/providers/Microsoft.Network/networkInterfaces",
            rg_path("rg")
        ))
        .await;
    assert_eq!(nics["value"].as_array().unwrap().len(), 2, "page size 2");

    // Scale in to 1.
    let r = env.put(&vmss, env.vmss_body("rg", 1)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    let left = env.json(&list_path).await;
    assert_eq!(left["value"].as_array().unwrap().len(), 1);
    let stats = env.cloud.stats();
    assert_eq!(
        stats.puts_by_type["Microsoft.Compute/virtualMachineScaleSets"],
        3
    );
    assert!(stats.by_type["operations"] > 0);
    env.cloud.shutdown().await;
}

#[tokio::test]
async fn requests_are_validated_like_arm() {
    let env = start(100).await;
    let vnet = res_path("rg", "Microsoft.Network/virtualNetworks", "vnet");
    let r = env.put(&vnet, json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}})).await;
    assert_eq!(
        Env::error_code(r).await,
        (StatusCode::NOT_FOUND, "ResourceGroupNotFound".into())
    );
    env.create_group("rg").await;
    let r = env
        .put(
            &vnet,
            json!({"properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}),
        )
        .await;
    assert_eq!(
        Env::error_code(r).await,
        (StatusCode::BAD_REQUEST, "LocationRequired".into())
    );
    let r = env
        .put(&vnet, json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
            "subnets": [{"name": "a", "properties": {"addressPrefix": "10.1.0.0/24"}}]}}))
        .await;
    assert_eq!(Env::error_code(r).await.1, "NetcfgSubnetRangeOutsideVnet");
    let r = env
        .http
        .put(env.url(&vnet))
        .bearer_auth(env.cloud.token())
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(Env::error_code(r).await.1, "InvalidRequestContent");

    env.create_network("rg").await;
    let vmss = res_path("rg", "Microsoft.Compute/virtualMachineScaleSets", "s");
    let mut uniform = env.vmss_body("rg", 1);
    uniform["properties"]["orchestrationMode"] = "Uniform".into();
    assert_eq!(
        Env::error_code(env.put(&vmss, uniform).await).await.1,
        "InvalidParameter"
    );
    let mut no_keys = env.vmss_body("rg", 1);
    no_keys["properties"]["virtualMachineProfile"]["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"] =
        json!([]);
    assert_eq!(
        Env::error_code(env.put(&vmss, no_keys).await).await.1,
        "InvalidParameter"
    );
    let mut bad_subnet = env.vmss_body("rg", 1);
    bad_subnet["properties"]["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"]
        [0]["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"] =
        env.subnet_id("rg", "missing").into();
    assert_eq!(
        Env::error_code(env.put(&vmss, bad_subnet).await).await.1,
        "InvalidResourceReference"
    );

    let db = format!(
        "{}/databases/app",
        res_path("rg", "Microsoft.DBforPostgreSQL/flexibleServers", "nope")
    );
    assert_eq!(
        Env::error_code(env.put(&db, json!({"properties": {}})).await).await,
        (StatusCode::NOT_FOUND, "ParentResourceNotFound".into())
    );
    let pg = res_path("rg", "Microsoft.DBforPostgreSQL/flexibleServers", "pg-main");
    let mut body = local_cloud_lifecycle_pg_body(&env);
    body["properties"]["network"]["delegatedSubnetResourceId"] =
        env.subnet_id("rg", "nodes").into();
    assert_eq!(
        Env::error_code(env.put(&pg, body).await).await.1,
        "SubnetNotDelegated"
    );
    let mut body = local_cloud_lifecycle_pg_body(&env);
    body["properties"]["administratorLogin"] = "admin".into();
    assert_eq!(
        Env::error_code(env.put(&pg, body).await).await.1,
        "InvalidAdministratorLogin"
    );

    // Security rules: priorities must be unique per direction.
    let nsg = res_path("rg", "Microsoft.Network/networkSecurityGroups", "dup");
    let rule = json!({"name": "a", "properties": {"priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp"}});
    let mut rule2 = rule.clone();
    rule2["name"] = "b".into();
    let r = env
        .put(
            &nsg,
            json!({"location": "eastus", "properties": {"securityRules": [rule, rule2]}}),
        )
        .await;
    assert_eq!(Env::error_code(r).await.1, "SecurityRuleConflict");
    env.cloud.shutdown().await;
}

/// A Postgres body using the VNet of `create_network` (zone created on demand).
fn local_cloud_lifecycle_pg_body(env: &Env) -> Value {
    let zone = format!(
        "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/x.private.postgres.database.azure.com"
    );
    json!({"location": "eastus", "sku": {"name": "Standard_B2s", "tier": "Burstable"},
        "properties": {"administratorLogin": "k3sadmin", "administratorLoginPassword": "S3cret-pass!", "version": "17",
            "network": {"delegatedSubnetResourceId": env.subnet_id("rg", "pg"), "privateDnsZoneArmResourceId": zone}}})
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
