//! ARM client requests, retries, paging, errors and TLS trust against a scripted HTTPS server.

use platform::azure::{ArmClient, ArmError};
use serde_json::json;
use support::arm_server::{Scripted, reply, test_pki};

const RG: &str = "/subscriptions/sub1/resourceGroups/rg";
const NIC: &str =
    "/subscriptions/sub1/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n";

#[tokio::test]
async fn get_returns_none_on_404_and_the_body_on_200() {
    let srv = Scripted::start().await;
    srv.on(
        "GET",
        RG,
        vec![reply(404).json(json!({"error": {"code": "ResourceGroupNotFound", "message": "no"}}))],
    );
    srv.on("GET", NIC, vec![reply(200).json(json!({"id": NIC}))]);
    let client = srv.client();
    assert_eq!(client.get(RG, "2024-11-01").await.unwrap(), None);
    assert_eq!(
        client.get(NIC, "2026-03-01").await.unwrap(),
        Some(json!({"id": NIC}))
    );
    assert_eq!(client.stats().get, 2);
    assert_eq!(client.subscription_id(), "sub1");
}

#[tokio::test]
async fn throttled_429_is_retried_after_retry_after() {
    let srv = Scripted::start().await;
    let throttled = reply(429)
        .header("retry-after", "1")
        .json(json!({"error": {"code": "TooManyRequests", "message": "slow down"}}));
    srv.on(
        "GET",
        NIC,
        vec![throttled, reply(200).json(json!({"id": NIC}))],
    );
    let client = srv.client();
    assert!(client.get(NIC, "v1").await.unwrap().is_some());
    let s = client.stats();
    assert_eq!((s.get, s.retries, s.throttled), (2, 1, 1));
}

#[tokio::test]
async fn server_error_is_retried_with_backoff() {
    let srv = Scripted::start().await;
    srv.on(
        "GET",
        NIC,
        vec![reply(500), reply(503), reply(200).json(json!({"id": NIC}))],
    );
    let client = srv.client();
    assert!(client.get(NIC, "v1").await.unwrap().is_some());
    assert_eq!(client.stats().retries, 2);
}

#[tokio::test]
async fn retries_stop_at_the_limit_with_the_last_error() {
    let srv = Scripted::start().await;
    let busy = json!({"error": {"code": "ServerBusy", "message": "try later"}});
    srv.on(
        "GET",
        NIC,
        vec![reply(503).header("x-ms-request-id", "req-42").json(busy)],
    );
    let client = srv.client();
    let err = client.get(NIC, "v1").await.unwrap_err();
    match &err {
        ArmError::Http(e) => {
            assert_eq!((e.status, e.code.as_deref()), (503, Some("ServerBusy")));
            assert_eq!(e.request_id.as_deref(), Some("req-42"));
            assert_eq!(e.resource, NIC);
        }
        other => panic!("{other:?}"),
    }
    // max_retries is 5 in the test options: 6 attempts in all.
    assert_eq!(client.stats().get, 6);
}

/// A region (or sovereign cloud) that has not registered an api-version yet answers
/// `NoRegisteredProviderFound`; the hint names the region from the config and the version
/// that was refused, and does not send the user to `az provider register`.
#[tokio::test]
async fn unregistered_api_version_hint_names_region_and_version() {
    let srv = Scripted::start().await;
    let vmss = "/subscriptions/sub1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/demo-servers";
    let body = json!({"error": {"code": "NoRegisteredProviderFound", "message":
        "No registered resource provider found for location 'usgovvirginia' and API version '2025-04-01' for type 'virtualMachineScaleSets'."}});
    srv.on("PUT", vmss, vec![reply(400).json(body)]);
    let mut opts = srv.options();
    opts.region = Some("usgovvirginia".into());
    let client = ArmClient::new(opts).unwrap();
    let err = client
        .put(
            vmss,
            platform::azure::api_versions::COMPUTE,
            &json!({}),
            platform::azure::FinalStateVia::Location,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NoRegisteredProviderFound"));
    let hint = err.hint().unwrap();
    assert!(hint.contains("region usgovvirginia"), "{hint}");
    assert!(
        hint.contains(&format!(
            "api-version {}",
            platform::azure::api_versions::COMPUTE
        )),
        "{hint}"
    );
    assert!(!hint.contains("provider register"), "{hint}");
    assert_eq!(srv.calls(), [format!("PUT {vmss}")], "not retried");
}

#[tokio::test]
async fn client_errors_are_not_retried_and_keep_details() {
    let srv = Scripted::start().await;
    let body = json!({"error": {"code": "InvalidTemplateDeployment", "message": "invalid", "details": [
        {"code": "RequestDisallowedByPolicy", "message": "policy p1", "target": "vmss"}]}});
    srv.on("PUT", NIC, vec![reply(400).json(body)]);
    let client = srv.client();
    let err = client
        .put(
            NIC,
            "v1",
            &json!({}),
            platform::azure::FinalStateVia::AzureAsyncOperation,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidTemplateDeployment"));
    assert!(err.hint().unwrap().contains("Policy"));
    assert!(
        err.to_string()
            .contains("RequestDisallowedByPolicy: policy p1"),
        "{err}"
    );
    assert_eq!((client.stats().put, client.stats().retries), (1, 0));
}

#[tokio::test]
async fn list_follows_next_links_over_three_pages() {
    let srv = Scripted::start().await;
    let path = format!("{RG}/providers/Microsoft.Network/networkInterfaces");
    let next = |n: u32| srv.url(&format!("{path}?api-version=2026-03-01&$skiptoken={n}"));
    srv.on(
        "GET",
        &path,
        vec![
            reply(200).json(json!({"value": [{"name": "a"}, {"name": "b"}], "nextLink": next(2)})),
            reply(200).json(json!({"value": [{"name": "c"}], "nextLink": next(3)})),
            reply(200).json(json!({"value": [{"name": "d"}], "nextLink": null})),
        ],
    );
    let items = srv.client().list(&path, "2026-03-01").await.unwrap();
    let names: Vec<_> = items.iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    let queries: Vec<_> = srv.log().into_iter().map(|s| s.query).collect();
    assert_eq!(
        queries,
        [
            "api-version=2026-03-01",
            "api-version=2026-03-01&$skiptoken=2",
            "api-version=2026-03-01&$skiptoken=3",
        ]
    );
}

#[tokio::test]
async fn list_keeps_the_callers_filter() {
    let srv = Scripted::start().await;
    let path = "/subscriptions/sub1/resources";
    srv.on("GET", path, vec![reply(200).json(json!({"value": []}))]);
    let items = srv
        .client()
        .list(&format!("{path}?$filter=tagName eq 'x'"), "2024-11-01")
        .await
        .unwrap();
    assert!(items.is_empty());
    assert_eq!(
        srv.log()[0].query,
        "$filter=tagName%20eq%20%27x%27&api-version=2024-11-01"
    );
}

#[tokio::test]
async fn low_rate_limit_headers_slow_down_the_next_request() {
    let srv = Scripted::start().await;
    srv.on(
        "GET",
        NIC,
        vec![
            reply(200)
                .header("x-ms-ratelimit-remaining-subscription-reads", "0")
                .json(json!({"id": NIC})),
        ],
    );
    let mut opts = srv.options();
    opts.retry.ratelimit_low_watermark = 1; // 1 request short at 25/s: a 40 ms pause
    let client = ArmClient::new(opts).unwrap();
    client.get(NIC, "v1").await.unwrap();
    assert_eq!(client.stats().slowed_down, 0);
    let start = std::time::Instant::now();
    client.get(NIC, "v1").await.unwrap();
    assert_eq!(client.stats().slowed_down, 1);
    assert!(start.elapsed() >= std::time::Duration::from_millis(35));
}

#[tokio::test]
async fn only_the_configured_ca_is_trusted() {
    let srv = Scripted::start().await;
    srv.on("GET", NIC, vec![reply(200).json(json!({"id": NIC}))]);
    let mut opts = srv.options();
    opts.auth = platform::azure::ArmAuth::Local {
        ca_pem: test_pki().0,
        token: platform::azure::Secret::new("scripted"),
    };
    opts.retry.max_retries = 0;
    let err = ArmClient::new(opts)
        .unwrap()
        .get(NIC, "v1")
        .await
        .unwrap_err();
    assert!(matches!(err, ArmError::Transport { .. }), "{err}");
    assert!(
        srv.log().is_empty(),
        "no request may pass an untrusted handshake"
    );
}

/// True when an Azure login could exist here (then the chain might succeed and send a real
/// token to the test server, so the test below does not run).
fn azure_login_possible() -> bool {
    let on_path = |exe: &str| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(exe).is_file()))
    };
    std::env::var_os("AZURE_CLIENT_ID").is_some() || on_path("az") || on_path("azd")
}

#[tokio::test]
async fn auto_credential_failure_lists_every_source() {
    if azure_login_possible() {
        return;
    }
    let srv = Scripted::start().await;
    let mut opts = srv.options();
    opts.auth = platform::azure::ArmAuth::Azure(platform::azure::CredentialKind::Auto);
    let err = ArmClient::new(opts)
        .unwrap()
        .get(NIC, "v1")
        .await
        .unwrap_err();
    let ArmError::Credential(msg) = &err else {
        panic!("{err:?}")
    };
    for source in [
        "service principal: skipped",
        "workload identity: skipped",
        "managed identity",
        "Azure CLI (az login)",
        "Azure Developer CLI (azd auth login)",
    ] {
        assert!(msg.contains(source), "{source} missing from: {msg}");
    }
    assert!(err.hint().is_some());
    assert!(
        srv.log().is_empty(),
        "no request may go out without a token"
    );
}
