//! Shared helpers for the local cloud integration tests: start a server in a temp dir and
//! talk to it over real HTTPS trusting only its CA.
#![allow(dead_code)] // each test file uses a different subset

use std::path::Path;
use std::time::Duration;

use local_cloud::{self, FaultConfig, LatencyModel, LocalCloudHandle, LocalCloudOptions};
use platform::azure::api_versions;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

pub const SUB: &str = "00000000-0000-0000-0000-00000000c10d";

pub struct Env {
    pub cloud: LocalCloudHandle,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

/// Fast latency: operations take a few to a few hundred milliseconds, polls say Retry-After 0.
pub fn fast() -> LatencyModel {
    LatencyModel {
        retry_after_secs: Some(0),
        ..LatencyModel::scaled(0.001)
    }
}

pub async fn start_in(dir: &Path, page_size: usize, faults: FaultConfig) -> LocalCloudHandle {
    let mut opts = LocalCloudOptions::new(dir);
    opts.latency = fast();
    opts.faults = faults;
    opts.page_size = page_size;
    local_cloud::start(opts).await.expect("local cloud starts")
}

pub async fn start(page_size: usize) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let cloud = start_in(dir.path(), page_size, FaultConfig::default()).await;
    let http = client(&cloud.ca_pem);
    Env { cloud, http, dir }
}

/// A client that trusts only the local cloud's CA (no system roots, full verification).
pub fn client(ca_pem: &str) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap()
}

pub fn rg_path(rg: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}")
}

pub fn res_path(rg: &str, rtype: &str, name: &str) -> String {
    format!("{}/providers/{rtype}/{name}", rg_path(rg))
}

/// The pinned api-version of the type a path is about: a resource, a collection (no name
/// after the type) or an action; child types the product never addresses use their
/// top-level type's version, as their provider does.
fn version_for(path: &str) -> &'static str {
    let path = path.split('?').next().unwrap_or(path);
    // With a dummy name appended, a collection path reads as a resource of its type.
    let mut candidates: Vec<String> = [format!("{path}/x"), path.to_owned()]
        .iter()
        .filter_map(|p| platform::azure::ids::type_of(p))
        .collect();
    let tops: Vec<String> = candidates
        .iter()
        .map(|t| t.splitn(3, '/').take(2).collect::<Vec<_>>().join("/"))
        .collect();
    candidates.extend(tops);
    candidates
        .iter()
        .find_map(|t| api_versions::for_type(t))
        .unwrap_or(api_versions::RESOURCES)
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!(
            "{}{}{sep}api-version={}",
            self.cloud.endpoint,
            path.trim_start_matches('/'),
            version_for(path)
        )
    }

    pub async fn put(&self, path: &str, body: Value) -> Response {
        self.http
            .put(self.url(path))
            .bearer_auth("t")
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .bearer_auth("t")
            .send()
            .await
            .unwrap()
    }

    pub async fn get_abs(&self, url: &str) -> Response {
        self.http.get(url).bearer_auth("t").send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.http
            .delete(self.url(path))
            .bearer_auth("t")
            .send()
            .await
            .unwrap()
    }

    pub async fn json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.json().await.unwrap()
    }

    /// Polls an LRO the way the ARM client will: Azure-AsyncOperation if given, else
    /// Location. Returns the final status word (`Succeeded`/`Failed`) and the status body.
    pub async fn wait(&self, resp: &Response) -> (String, Value) {
        let h = resp.headers();
        assert!(
            h.get("retry-after").is_some(),
            "LRO answers carry Retry-After"
        );
        if let Some(url) = h
            .get("azure-asyncoperation")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
        {
            for _ in 0..500 {
                let r = self.get_abs(&url).await;
                assert_eq!(r.status(), StatusCode::OK);
                let body: Value = r.json().await.unwrap();
                let st = body["status"].as_str().unwrap().to_string();
                if st != "InProgress" {
                    return (st, body);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("operation never finished");
        }
        let url = h
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("Location header")
            .to_string();
        for _ in 0..500 {
            let r = self.get_abs(&url).await;
            match r.status() {
                StatusCode::ACCEPTED => {
                    assert!(
                        r.headers().get("location").is_some(),
                        "running polls repeat Location"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                StatusCode::OK | StatusCode::NO_CONTENT => {
                    let body = r.json().await.unwrap_or(Value::Null);
                    return ("Succeeded".into(), body);
                }
                _ => return ("Failed".into(), r.json().await.unwrap_or(Value::Null)),
            }
        }
        panic!("operation never finished");
    }

    pub async fn create_group(&self, rg: &str) {
        let r = self
            .put(
                &rg_path(rg),
                json!({"location": "eastus", "tags": {"managed-by": "platform"}}),
            )
            .await;
        assert!(r.status().is_success(), "RG create: {}", r.status());
    }

    /// VNet with a node subnet (NSG attached) and a subnet delegated to Postgres.
    pub async fn create_network(&self, rg: &str) {
        let nsg = res_path(rg, "Microsoft.Network/networkSecurityGroups", "nsg");
        let r = self
            .put(
                &nsg,
                json!({"location": "eastus", "properties": {"securityRules": [
                    {"name": "ssh", "properties": {"priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
                        "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "22"}}]}}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(self.wait(&r).await.0, "Succeeded");
        let nsg_id = format!(
            "/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/networkSecurityGroups/nsg"
        );
        let r = self
            .put(
                &res_path(rg, "Microsoft.Network/virtualNetworks", "vnet"),
                json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.10.0.0/16"]}, "subnets": [
                    {"name": "nodes", "properties": {"addressPrefix": "10.10.1.0/24", "networkSecurityGroup": {"id": nsg_id}}},
                    {"name": "pg", "properties": {"addressPrefix": "10.10.2.0/28",
                        "delegations": [{"name": "pg", "properties": {"serviceName": "Microsoft.DBforPostgreSQL/flexibleServers"}}]}}]}}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = self.wait(&r).await.1;
        assert_eq!(body["status"], "Succeeded");
    }

    pub fn subnet_id(&self, rg: &str, subnet: &str) -> String {
        format!(
            "/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/{subnet}"
        )
    }

    pub fn vmss_body(&self, rg: &str, capacity: u64) -> Value {
        json!({"location": "eastus", "sku": {"name": "Standard_D2s_v5", "tier": "Standard", "capacity": capacity},
            "properties": {"orchestrationMode": "Flexible", "platformFaultDomainCount": 1, "singlePlacementGroup": false,
                "virtualMachineProfile": {
                    "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"},
                        "osDisk": {"createOption": "FromImage", "managedDisk": {"storageAccountType": "StandardSSD_LRS"}}},
                    "osProfile": {"computerNamePrefix": "agent", "adminUsername": "azureuser", "customData": "I2Nsb3VkLWNvbmZpZwo=",
                        "linuxConfiguration": {"disablePasswordAuthentication": true, "ssh": {"publicKeys": [
                            {"path": "/home/azureuser/.ssh/authorized_keys", "keyData": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample"}]}}},
                    "networkProfile": {"networkApiVersion": "2022-11-01", "networkInterfaceConfigurations": [
                        {"name": "nic", "properties": {"primary": true, "ipConfigurations": [
                            {"name": "ipcfg", "properties": {"primary": true, "subnet": {"id": self.subnet_id(rg, "nodes")},
                                "publicIPAddressConfiguration": {"name": "pip", "sku": {"name": "Standard", "tier": "Regional"},
                                    "properties": {"idleTimeoutInMinutes": 4}}}}]}}]}}}})
    }

    pub async fn error_code(resp: Response) -> (StatusCode, String) {
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        (
            status,
            body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    }
}
