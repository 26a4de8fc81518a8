//! ARM client long-running operations against a scripted HTTPS server.

use platform::azure::{ArmError, FinalStateVia};
use serde_json::json;
use std::time::Duration;
use support::arm_server::{Scripted, reply};

const VNET: &str =
    "/subscriptions/sub1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v";
const VMSS: &str =
    "/subscriptions/sub1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/s";
const OP: &str = "/subscriptions/sub1/providers/Microsoft.Network/locations/eastus/operations/op1";
const LOC: &str =
    "/subscriptions/sub1/providers/Microsoft.Compute/locations/eastus/operationResults/r1";

fn state(s: &str) -> serde_json::Value {
    json!({"id": VNET, "name": "v", "properties": {"provisioningState": s}})
}

#[tokio::test]
async fn put_201_with_async_operation_polls_then_gets_the_resource() {
    let srv = Scripted::start().await;
    srv.on(
        "PUT",
        VNET,
        vec![
            reply(201)
                .header(
                    "azure-asyncoperation",
                    srv.url(&format!("{OP}?api-version=2026-03-01")),
                )
                .header("retry-after", "0")
                .json(state("Updating")),
        ],
    );
    srv.on(
        "GET",
        OP,
        vec![
            reply(200).json(json!({"status": "InProgress"})),
            reply(200).json(json!({"status": "Succeeded"})),
        ],
    );
    srv.on("GET", VNET, vec![reply(200).json(state("Succeeded"))]);
    let body = json!({"location": "eastus", "properties": {}});
    let got = srv
        .client()
        .put(
            VNET,
            "2026-03-01",
            &body,
            FinalStateVia::AzureAsyncOperation,
        )
        .await
        .unwrap();
    assert_eq!(got["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        srv.calls(),
        vec![
            format!("PUT {VNET}"),
            format!("GET {OP}"),
            format!("GET {OP}"),
            format!("GET {VNET}"),
        ]
    );
    let log = srv.log();
    assert_eq!(log[0].authorization.as_deref(), Some("Bearer scripted"));
    assert_eq!(log[0].query, "api-version=2026-03-01");
    assert_eq!(log[0].body, Some(body));
    // The status URL already carries its api-version; it is not added twice.
    assert_eq!(log[1].query, "api-version=2026-03-01");
}

#[tokio::test]
async fn put_202_with_location_takes_the_final_body_from_location() {
    let srv = Scripted::start().await;
    srv.on(
        "PUT",
        VMSS,
        vec![reply(202).header("location", srv.url(LOC))],
    );
    let done = json!({"id": VMSS, "properties": {"provisioningState": "Succeeded"}});
    srv.on(
        "GET",
        LOC,
        vec![
            reply(202).header("retry-after", "1"),
            reply(200).json(done.clone()),
        ],
    );
    let got = srv
        .client()
        .put(VMSS, "2026-03-01", &json!({}), FinalStateVia::Location)
        .await
        .unwrap();
    assert_eq!(got, done);
    assert_eq!(
        srv.calls(),
        vec![
            format!("PUT {VMSS}"),
            format!("GET {LOC}"),
            format!("GET {LOC}")
        ]
    );
}

#[tokio::test]
async fn put_201_without_headers_polls_provisioning_state() {
    let srv = Scripted::start().await;
    srv.on("PUT", VNET, vec![reply(201).json(state("Creating"))]);
    srv.on(
        "GET",
        VNET,
        vec![
            reply(200).json(state("Updating")),
            reply(200).json(state("Succeeded")),
        ],
    );
    let got = srv
        .client()
        .put(VNET, "v1", &json!({}), FinalStateVia::OriginalUri)
        .await
        .unwrap();
    assert_eq!(got, state("Succeeded"));
    assert_eq!(srv.calls().len(), 3);
}

#[tokio::test]
async fn failed_async_operation_surfaces_code_message_and_resource() {
    let srv = Scripted::start().await;
    srv.on(
        "PUT",
        VMSS,
        vec![reply(201).header("azure-asyncoperation", srv.url(OP))],
    );
    srv.on(
        "GET",
        OP,
        vec![reply(200).json(json!({"status": "Failed",
        "error": {"code": "AllocationFailed", "message": "no capacity for Standard_D2s_v5"}}))],
    );
    let err = srv
        .client()
        .put(VMSS, "v1", &json!({}), FinalStateVia::AzureAsyncOperation)
        .await
        .unwrap_err();
    match &err {
        ArmError::OperationFailed {
            resource,
            state,
            code,
            message,
            ..
        } => {
            assert_eq!(resource, VMSS);
            assert_eq!(state, "Failed");
            assert_eq!(code, "AllocationFailed");
            assert!(message.contains("Standard_D2s_v5"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.hint().unwrap().contains("capacity"));
    assert!(err.to_string().contains(VMSS));
}

#[tokio::test]
async fn unreadable_status_is_retried_then_reported() {
    let srv = Scripted::start().await;
    srv.on(
        "PUT",
        VNET,
        vec![reply(201).header("azure-asyncoperation", srv.url(OP))],
    );
    // A 404 from the status URL means "can't read status now", not failure ...
    srv.on(
        "GET",
        OP,
        vec![reply(404), reply(200).json(json!({"status": "Succeeded"}))],
    );
    srv.on("GET", VNET, vec![reply(200).json(state("Succeeded"))]);
    srv.client()
        .put(VNET, "v1", &json!({}), FinalStateVia::AzureAsyncOperation)
        .await
        .unwrap();
    // ... but it is not polled forever.
    srv.on(
        "GET",
        OP,
        vec![reply(404).json(json!({"error": {"code": "NotFound", "message": "gone"}}))],
    );
    let err = srv
        .client()
        .put(VNET, "v1", &json!({}), FinalStateVia::AzureAsyncOperation)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
}

#[tokio::test]
async fn operation_deadline_ends_in_timeout() {
    let srv = Scripted::start().await;
    srv.on(
        "PUT",
        VNET,
        vec![reply(201).header("azure-asyncoperation", srv.url(OP))],
    );
    srv.on(
        "GET",
        OP,
        vec![reply(200).json(json!({"status": "InProgress"}))],
    );
    let client = srv
        .client()
        .with_operation_deadline(Duration::from_millis(200));
    let err = client
        .put(VNET, "v1", &json!({}), FinalStateVia::AzureAsyncOperation)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ArmError::Timeout { ref resource, .. } if resource == VNET),
        "{err}"
    );
}

#[tokio::test]
async fn delete_follows_location_and_tolerates_already_gone() {
    let srv = Scripted::start().await;
    srv.on(
        "DELETE",
        VMSS,
        vec![
            reply(202)
                .header("location", srv.url(LOC))
                .header("retry-after", "0"),
        ],
    );
    srv.on("GET", LOC, vec![reply(202), reply(204)]);
    let client = srv.client();
    client.delete(VMSS, "v1").await.unwrap();
    assert_eq!(srv.calls().len(), 3);
    srv.on(
        "DELETE",
        VNET,
        vec![reply(404).json(json!({"error": {"code": "ResourceNotFound", "message": "x"}}))],
    );
    client.delete(VNET, "v1").await.unwrap();
    let stats = client.stats();
    assert_eq!((stats.delete, stats.get, stats.retries), (2, 2, 0));
}

#[tokio::test]
async fn delete_202_without_headers_waits_for_404() {
    let srv = Scripted::start().await;
    srv.on("DELETE", VNET, vec![reply(202)]);
    srv.on(
        "GET",
        VNET,
        vec![reply(200).json(state("Deleting")), reply(404)],
    );
    srv.client().delete(VNET, "v1").await.unwrap();
    assert_eq!(
        srv.calls(),
        vec![
            format!("DELETE {VNET}"),
            format!("GET {VNET}"),
            format!("GET {VNET}")
        ]
    );
}

#[tokio::test]
async fn put_waits_out_another_operation_in_progress() {
    let srv = Scripted::start().await;
    let busy = json!({"error": {"code": "AnotherOperationInProgress", "message": "busy"}});
    srv.on(
        "PUT",
        VNET,
        vec![reply(409).json(busy), reply(200).json(state("Succeeded"))],
    );
    let client = srv.client();
    client
        .put(VNET, "v1", &json!({}), FinalStateVia::AzureAsyncOperation)
        .await
        .unwrap();
    assert_eq!(client.stats().put, 2);
    assert_eq!(client.stats().retries, 1);
}

#[tokio::test]
async fn poll_urls_off_the_endpoint_are_refused() {
    let srv = Scripted::start().await;
    let elsewhere = "https://collector.example/op?api-version=1";
    srv.on(
        "PUT",
        VNET,
        vec![reply(201).header("azure-asyncoperation", elsewhere)],
    );
    let err = srv
        .client()
        .put(VNET, "v1", &json!({}), FinalStateVia::AzureAsyncOperation)
        .await
        .unwrap_err();
    assert!(matches!(err, ArmError::InvalidResponse { .. }), "{err}");
    assert!(err.to_string().contains("collector.example"), "{err}");
}
