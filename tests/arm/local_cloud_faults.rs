//! Fault injection in the local cloud: 429 and 500 answers, token buckets, failed operations.

use local_cloud::{Bucket, FailRule, FaultConfig, OpKind, RateLimits};
use reqwest::StatusCode;
use serde_json::json;
use support::local_cloud::{Env, SUB, local_get, res_path, rg_path, start};

#[tokio::test]
async fn throttling_and_server_errors_are_injected_deterministically() {
    let env = start(100).await;
    env.create_group("rg").await;
    env.cloud.set_faults(FaultConfig {
        throttle_rate: 1.0,
        retry_after_secs: 7,
        seed: Some(1),
        ..Default::default()
    });
    let r = env.get(&rg_path("rg")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(Env::error_code(r).await.1, "TooManyRequests");

    env.cloud.set_faults(FaultConfig {
        server_error_rate: 1.0,
        seed: Some(1),
        ..Default::default()
    });
    let r = env
        .put(&rg_path("other"), json!({"location": "eastus"}))
        .await;
    assert_eq!(
        Env::error_code(r).await,
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError".into()
        )
    );
    assert_eq!(
        env.get(&rg_path("other")).await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );

    // A seeded mix answers the same sequence the same way on every run.
    let mix = FaultConfig {
        throttle_rate: 0.3,
        server_error_rate: 0.2,
        seed: Some(42),
        ..Default::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        env.cloud.set_faults(mix.clone());
        let mut statuses = Vec::new();
        for _ in 0..20 {
            statuses.push(env.get(&rg_path("rg")).await.status().as_u16());
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(
        runs[0].contains(&429) && runs[0].contains(&500) && runs[0].contains(&200),
        "{:?}",
        runs[0]
    );

    // The control API changes faults from another process.
    let r = env
        .http
        .put(format!("{}_local/faults", env.cloud.endpoint))
        .bearer_auth(env.cloud.token())
        .json(&FaultConfig::default())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(env.get(&rg_path("rg")).await.status(), StatusCode::OK);
    let stats = local_get(
        &env.http,
        env.cloud.endpoint.as_str(),
        env.cloud.token(),
        "stats",
    )
    .await;
    assert!(stats["throttled"].as_u64().unwrap() >= 2);
    assert!(stats["server_errors"].as_u64().unwrap() >= 2);
    env.cloud.shutdown().await;
}

#[tokio::test]
async fn token_buckets_report_remaining_and_throttle_when_empty() {
    let env = start(100).await;
    let limits = RateLimits {
        writes: Bucket {
            size: 3.0,
            refill_per_sec: 0.01,
        },
        ..Default::default()
    };
    env.cloud.set_faults(FaultConfig {
        rate_limits: Some(limits),
        ..Default::default()
    });
    let mut remaining = Vec::new();
    for i in 0..4 {
        let r = env
            .put(&rg_path(&format!("rg{i}")), json!({"location": "eastus"}))
            .await;
        remaining.push((
            r.status().as_u16(),
            r.headers()["x-ms-ratelimit-remaining-subscription-writes"]
                .to_str()
                .unwrap()
                .to_string(),
        ));
    }
    assert_eq!(
        remaining,
        [
            (201, "2".into()),
            (201, "1".into()),
            (201, "0".into()),
            (429, "0".into())
        ]
    );
    let r = env.get(&rg_path("rg0")).await;
    assert_eq!(r.status(), StatusCode::OK, "reads have their own bucket");
    assert_eq!(
        r.headers()["x-ms-ratelimit-remaining-subscription-reads"],
        "249"
    );
    env.cloud.shutdown().await;
}

#[tokio::test]
async fn a_failing_postgres_create_ends_failed_and_a_transient_rule_expires() {
    let env = start(100).await;
    env.create_group("rg").await;
    env.create_network("rg").await;
    let zone = res_path(
        "rg",
        "Microsoft.Network/privateDnsZones",
        "k3s.private.postgres.database.azure.com",
    );
    let r = env.put(&zone, json!({"location": "global"})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    env.cloud.set_faults(FaultConfig {
        fail_operations: vec![FailRule {
            resource_type: Some("Microsoft.DBforPostgreSQL/flexibleServers".into()),
            name: Some("pg-*".into()),
            operation: Some(OpKind::Create),
            code: "InternalServerError".into(),
            message: "An unexpected error occured while processing the request.".into(),
            times: Some(1),
        }],
        ..Default::default()
    });
    let pg = res_path("rg", "Microsoft.DBforPostgreSQL/flexibleServers", "pg-main");
    let body = json!({"location": "eastus", "sku": {"name": "Standard_B2s", "tier": "Burstable"},
        "properties": {"administratorLogin": "k3sadmin", "administratorLoginPassword": "S3cret-pass!", "version": "17",
            "network": {"delegatedSubnetResourceId": env.subnet_id("rg", "pg"),
                "privateDnsZoneArmResourceId": format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/k3s.private.postgres.database.azure.com")}}});
    let r = env.put(&pg, body.clone()).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(
        r.headers().get("location").is_some() && r.headers().get("azure-asyncoperation").is_some()
    );
    let (status, op) = env.wait(&r).await;
    assert_eq!(status, "Failed");
    assert_eq!(op["error"]["code"], "InternalServerError");
    let failed = env.json(&pg).await;
    assert_eq!(failed["properties"]["provisioningState"], "Failed");

    // The rule fired once; a re-run of the PUT converges.
    let r = env.put(&pg, body).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(env.wait(&r).await.0, "Succeeded");
    let ok = env.json(&pg).await;
    assert_eq!(ok["properties"]["state"], "Ready");
    assert_eq!(ok["properties"]["provisioningState"], "Succeeded");
    env.cloud.shutdown().await;
}

#[tokio::test]
async fn a_failing_scale_set_fails_its_vms_and_reports_through_location() {
    let env = start(100).await;
    env.create_group("rg").await;
    env.create_network("rg").await;
    env.cloud.set_faults(FaultConfig {
        fail_operations: vec![FailRule {
            resource_type: Some("Microsoft.Compute/virtualMachineScaleSets".into()),
            name: None,
            operation: None,
            code: "AllocationFailed".into(),
            message: "Allocation failed. We do not have sufficient capacity.".into(),
            times: None,
        }],
        ..Default::default()
    });
    let vmss = res_path("rg", "Microsoft.Compute/virtualMachineScaleSets", "agents");
    let mut r = env.put(&vmss, env.vmss_body("rg", 2)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.headers_mut().remove("azure-asyncoperation");
    let (status, body) = env.wait(&r).await;
    assert_eq!(status, "Failed");
    assert_eq!(body["error"]["code"], "AllocationFailed");
    assert_eq!(
        env.json(&vmss).await["properties"]["provisioningState"],
        "Failed"
    );
    let vms = env
        .json(&format!(
            "{}/providers/Microsoft.Compute/virtualMachines",
            rg_path("rg")
        ))
        .await;
    let states: Vec<&str> = vms["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["properties"]["provisioningState"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["Failed", "Failed"]);
    env.cloud.shutdown().await;
}
