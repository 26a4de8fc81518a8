//! The ARM client against the project's local cloud: the same code path as for Azure, over
//! HTTPS with the local CA, with the cloud's own LROs, paging, throttling and failures.

use local_cloud::{FailRule, FaultConfig};
use platform::azure::{
    ArmClient, ArmClientOptions, ArmError, FinalStateVia, PollConfig, RetryConfig, api_versions,
    ids,
};
use serde_json::json;
use std::time::Duration;

const SUB: &str = "00000000-0000-0000-0000-000000000001";

/// A local cloud with two items per list page, fast.
async fn cloud(dir: &tempfile::TempDir, faults: FaultConfig) -> local_cloud::LocalCloudHandle {
    support::local_cloud::start_in(dir.path(), 2, faults).await
}

fn client(c: &local_cloud::LocalCloudHandle) -> ArmClient {
    let mut o = ArmClientOptions::local(
        c.endpoint.clone(),
        SUB,
        c.ca_pem.clone(),
        platform::azure::Secret::new(c.token().to_owned()),
    );
    o.retry = RetryConfig {
        initial_delay: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_retry_after: Duration::from_millis(20),
        budget: Duration::from_secs(5),
        max_retries: 30,
        ratelimit_low_watermark: 0,
    };
    o.poll = PollConfig {
        default_interval: Duration::from_millis(5),
        min_interval: Duration::from_millis(2),
        max_interval: Duration::from_millis(20),
        deadline: Duration::from_secs(20),
        max_status_read_failures: 5,
    };
    ArmClient::new(o).unwrap()
}

fn vnet_body(prefix: &str) -> serde_json::Value {
    json!({"location": "eastus", "tags": {"managed-by": "platform"},
           "properties": {"addressSpace": {"addressPrefixes": [prefix]}}})
}

#[tokio::test]
async fn creates_reads_lists_and_deletes_through_the_local_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(&dir, FaultConfig::default()).await;
    let arm = client(&c);
    let rg = ids::resource_group(SUB, "rg1");
    let group = arm
        .put(
            &rg,
            api_versions::RESOURCES,
            &json!({"location": "eastus"}),
            FinalStateVia::OriginalUri,
        )
        .await
        .unwrap();
    assert_eq!(group["properties"]["provisioningState"], "Succeeded");
    let mut vnets = Vec::new();
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let id = ids::resource(SUB, "rg1", "Microsoft.Network/virtualNetworks", name);
        let body = vnet_body(&format!("10.{i}.0.0/16"));
        let got = arm
            .put(
                &id,
                api_versions::NETWORK,
                &body,
                FinalStateVia::AzureAsyncOperation,
            )
            .await
            .unwrap();
        assert_eq!(got["properties"]["provisioningState"], "Succeeded", "{got}");
        vnets.push(id);
    }
    let got = arm
        .get(&vnets[0], api_versions::NETWORK)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got["properties"]["addressSpace"]["addressPrefixes"][0],
        "10.0.0.0/16"
    );
    // page_size 2: three VNets come back over two pages joined by nextLink.
    let coll = format!("{rg}/providers/Microsoft.Network/virtualNetworks");
    let listed = arm.list(&coll, api_versions::NETWORK).await.unwrap();
    assert_eq!(listed.len(), 3);
    arm.delete(&vnets[2], api_versions::NETWORK).await.unwrap();
    assert_eq!(
        arm.get(&vnets[2], api_versions::NETWORK).await.unwrap(),
        None
    );
    arm.delete(&vnets[2], api_versions::NETWORK).await.unwrap();
    arm.delete(&rg, api_versions::RESOURCES).await.unwrap();
    assert_eq!(arm.get(&rg, api_versions::RESOURCES).await.unwrap(), None);
    // Both sides agree on how many requests were made.
    let (ours, theirs) = (arm.stats(), c.stats());
    assert_eq!(ours.requests(), theirs.total, "{ours:?} vs {theirs:?}");
    assert_eq!(ours.put, theirs.method("PUT"));
    c.shutdown().await;
}

#[tokio::test]
async fn throttling_and_server_errors_are_absorbed_by_retries() {
    let dir = tempfile::tempdir().unwrap();
    let faults = FaultConfig {
        throttle_rate: 0.3,
        server_error_rate: 0.1,
        retry_after_secs: 0,
        seed: Some(7),
        ..Default::default()
    };
    let c = cloud(&dir, faults).await;
    let arm = client(&c);
    let rg = ids::resource_group(SUB, "rg2");
    arm.put(
        &rg,
        api_versions::RESOURCES,
        &json!({"location": "eastus"}),
        FinalStateVia::OriginalUri,
    )
    .await
    .unwrap();
    for name in ["x", "y", "z"] {
        let id = ids::resource(SUB, "rg2", "Microsoft.Network/virtualNetworks", name);
        arm.put(
            &id,
            api_versions::NETWORK,
            &vnet_body("10.9.0.0/16"),
            FinalStateVia::AzureAsyncOperation,
        )
        .await
        .unwrap();
    }
    let ours = arm.stats();
    let theirs = c.stats();
    assert!(ours.retries > 0, "{ours:?}");
    assert_eq!(ours.throttled, theirs.throttled);
    assert_eq!(ours.requests(), theirs.total);
    c.shutdown().await;
}

#[tokio::test]
async fn a_failed_operation_reports_the_clouds_error() {
    let dir = tempfile::tempdir().unwrap();
    let faults = FaultConfig {
        fail_operations: vec![FailRule {
            resource_type: Some("Microsoft.Network/virtualNetworks".into()),
            name: Some("doomed".into()),
            operation: None,
            code: "QuotaExceeded".into(),
            message: "regional network quota reached".into(),
            times: None,
        }],
        ..Default::default()
    };
    let c = cloud(&dir, faults).await;
    let arm = client(&c);
    let rg = ids::resource_group(SUB, "rg3");
    arm.put(
        &rg,
        api_versions::RESOURCES,
        &json!({"location": "eastus"}),
        FinalStateVia::OriginalUri,
    )
    .await
    .unwrap();
    let id = ids::resource(SUB, "rg3", "Microsoft.Network/virtualNetworks", "doomed");
    let err = arm
        .put(
            &id,
            api_versions::NETWORK,
            &vnet_body("10.0.0.0/16"),
            FinalStateVia::AzureAsyncOperation,
        )
        .await
        .unwrap_err();
    match &err {
        ArmError::OperationFailed { resource, code, .. } => {
            assert_eq!(resource, &id);
            assert_eq!(code, "QuotaExceeded");
        }
        other => panic!("{other}"),
    }
    assert!(err.hint().unwrap().contains("quota"));
    // A request the cloud rejects up front is an HTTP error naming the field.
    let bad = arm
        .put(
            &id,
            api_versions::NETWORK,
            &json!({"location": "eastus"}),
            FinalStateVia::AzureAsyncOperation,
        )
        .await
        .unwrap_err();
    assert_eq!(bad.status(), Some(400), "{bad}");
    assert!(bad.to_string().contains("addressPrefixes"), "{bad}");
    c.shutdown().await;
}

fn vmss_body(subnet_id: &str, capacity: u64) -> serde_json::Value {
    json!({"location": "eastus",
        "sku": {"name": "Standard_D2s_v5", "tier": "Standard", "capacity": capacity},
        "properties": {"orchestrationMode": "Flexible", "platformFaultDomainCount": 1,
            "singlePlacementGroup": false,
            "virtualMachineProfile": {
                "storageProfile": {
                    "imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                        "sku": "server", "version": "latest"},
                    "osDisk": {"createOption": "FromImage",
                        "managedDisk": {"storageAccountType": "StandardSSD_LRS"}}},
                "osProfile": {"computerNamePrefix": "srv", "adminUsername": "azureuser",
                    "linuxConfiguration": {"disablePasswordAuthentication": true,
                        "ssh": {"publicKeys": [{"path": "/home/azureuser/.ssh/authorized_keys",
                            "keyData": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample"}]}}},
                "networkProfile": {"networkApiVersion": "2022-11-01",
                    "networkInterfaceConfigurations": [{"name": "nic", "properties": {
                        "primary": true,
                        "ipConfigurations": [{"name": "ipcfg", "properties": {
                            "primary": true, "subnet": {"id": subnet_id}}}]}}]}}}})
}

#[tokio::test]
async fn scale_set_location_lro_and_paged_vm_list() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(&dir, FaultConfig::default()).await;
    let arm = client(&c);
    let rg = ids::resource_group(SUB, "rg4");
    arm.put(
        &rg,
        api_versions::RESOURCES,
        &json!({"location": "eastus"}),
        FinalStateVia::OriginalUri,
    )
    .await
    .unwrap();
    let vnet = ids::resource(SUB, "rg4", "Microsoft.Network/virtualNetworks", "vnet");
    let mut body = vnet_body("10.10.0.0/16");
    body["properties"]["subnets"] =
        json!([{"name": "nodes", "properties": {"addressPrefix": "10.10.1.0/24"}}]);
    arm.put(
        &vnet,
        api_versions::NETWORK,
        &body,
        FinalStateVia::AzureAsyncOperation,
    )
    .await
    .unwrap();
    let vmss = ids::resource(
        SUB,
        "rg4",
        "Microsoft.Compute/virtualMachineScaleSets",
        "servers",
    );
    let subnet = ids::child(&vnet, "subnets", "nodes");
    let got = arm
        .put(
            &vmss,
            api_versions::COMPUTE,
            &vmss_body(&subnet, 3),
            FinalStateVia::Location,
        )
        .await
        .unwrap();
    assert_eq!(got["properties"]["provisioningState"], "Succeeded", "{got}");
    // Three VMs over pages of two, joined by nextLink.
    let vms = arm
        .list(
            &format!("{rg}/providers/Microsoft.Compute/virtualMachines"),
            api_versions::COMPUTE,
        )
        .await
        .unwrap();
    assert_eq!(vms.len(), 3, "{vms:?}");
    arm.delete(&vmss, api_versions::COMPUTE).await.unwrap();
    assert_eq!(arm.get(&vmss, api_versions::COMPUTE).await.unwrap(), None);
    c.shutdown().await;
}
