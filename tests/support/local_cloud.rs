//! A local cloud served inside the test process (`local_cloud::start`), driven over raw ARM
//! HTTPS trusting only its CA: the local cloud's own tests, and the ones whose scale-set VMs
//! become real SSH hosts (root needed), with a client key, a network on an address space of
//! the test's own, the control API and the leftovers checks.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use local_cloud::{self, FaultConfig, LatencyModel, LocalCloudHandle, LocalCloudOptions};
use platform::azure::api_versions;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

/// The subscription every request of these tests names.
pub const SUB: &str = "00000000-0000-0000-0000-00000000c10d";

/// A local cloud served in this process and an HTTPS client trusting only its CA.
pub struct Env {
    pub cloud: LocalCloudHandle,
    pub http: reqwest::Client,
    /// The cloud's data directory ([`start`]) or a scratch directory ([`start_with_hosts`],
    /// whose data directory the test owns).
    pub dir: tempfile::TempDir,
}

/// Fast latency: operations take a few to a few hundred milliseconds, polls say Retry-After 0.
pub fn fast() -> LatencyModel {
    LatencyModel {
        retry_after_secs: Some(0),
        ..LatencyModel::scaled(0.001)
    }
}

/// A cloud on `dir` with `page_size` items per list page, fast latencies and `faults`.
pub async fn start_in(dir: &Path, page_size: usize, faults: FaultConfig) -> LocalCloudHandle {
    let mut opts = LocalCloudOptions::new(dir);
    opts.latency = fast();
    opts.faults = faults;
    opts.page_size = page_size;
    local_cloud::start(opts).await.expect("local cloud starts")
}

/// A cloud on a temporary data directory with `page_size` items per list page, fast.
pub async fn start(page_size: usize) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let cloud = start_in(dir.path(), page_size, FaultConfig::default()).await;
    Env::new(cloud, dir)
}

/// A cloud on `data_dir` whose scale-set VMs are real SSH hosts (root needed).
pub async fn start_with_hosts(data_dir: &Path, latency: LatencyModel) -> Env {
    let mut opts = LocalCloudOptions::new(data_dir);
    opts.latency = latency;
    opts.realize_hosts = true;
    let cloud = local_cloud::start(opts)
        .await
        .expect("local cloud with hosts starts");
    Env::new(cloud, tempfile::tempdir().unwrap())
}

/// A client that trusts only the local cloud's CA (no system roots, full verification).
pub fn client(ca_pem: &str) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap()
}

/// The ARM path of resource group `rg`.
pub fn rg_path(rg: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}")
}

/// The ARM path of resource `rtype`/`name` in group `rg`.
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
    /// Talks to `cloud`, keeping `dir` (its data, or the test's scratch) while it lives.
    pub fn new(cloud: LocalCloudHandle, dir: tempfile::TempDir) -> Env {
        let http = client(&cloud.ca_pem);
        Env { cloud, http, dir }
    }

    /// The absolute URL of ARM `path`, with the api-version the product pins for its type.
    pub fn url(&self, path: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!(
            "{}{}{sep}api-version={}",
            self.cloud.endpoint,
            path.trim_start_matches('/'),
            version_for(path)
        )
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> Response {
        self.http
            .put(self.url(path))
            .bearer_auth(self.cloud.token())
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `METHOD path` with the cloud's API token and no body.
    async fn send(&self, method: reqwest::Method, path: &str) -> Response {
        self.http
            .request(method, self.url(path))
            .bearer_auth(self.cloud.token())
            .send()
            .await
            .unwrap()
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response {
        self.send(reqwest::Method::GET, path).await
    }

    /// `GET` of an absolute URL the cloud gave (operation status, `nextLink`).
    pub async fn get_abs(&self, url: &str) -> Response {
        self.http
            .get(url)
            .bearer_auth(self.cloud.token())
            .send()
            .await
            .unwrap()
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Response {
        self.send(reqwest::Method::DELETE, path).await
    }

    /// `GET path`, which must answer 200, as JSON.
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

    /// Creates resource group `rg` (tagged as platform's).
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

    /// The id of subnet `subnet` of the VNet [`Env::create_network`] makes.
    pub fn subnet_id(&self, rg: &str, subnet: &str) -> String {
        format!(
            "/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/{subnet}"
        )
    }

    /// A Flexible scale set body of `capacity` VMs in the `nodes` subnet.
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

    /// The status and the ARM error code of an error answer.
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

/// A fresh ed25519 client key in `dir`: (private key path, public key line).
pub fn client_key(dir: &Path) -> (PathBuf, String) {
    let key =
        ssh_key::PrivateKey::random(&mut ssh_key::rand_core::OsRng, ssh_key::Algorithm::Ed25519)
            .unwrap();
    let path = dir.join("id_ed25519");
    key.write_openssh_file(&path, ssh_key::LineEnding::LF)
        .unwrap();
    (path, key.public_key().to_openssh().unwrap())
}

/// Resource group + VNet `vnet` (`prefix`.0.0/16) with subnet `nodes` (`prefix`.1.0/24).
pub async fn network(env: &Env, rg: &str, prefix: &str) {
    env.create_group(rg).await;
    let r = env
        .put(
            &res_path(rg, "Microsoft.Network/virtualNetworks", "vnet"),
            json!({"location": "eastus", "properties": {
                "addressSpace": {"addressPrefixes": [format!("{prefix}.0.0/16")]},
                "subnets": [{"name": "nodes", "properties": {"addressPrefix": format!("{prefix}.1.0/24")}}]}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(env.wait(&r).await.0, "Succeeded");
}

/// A Flexible scale set body of `capacity` VMs admitting `public_key` for `azureuser`.
pub fn vmss(env: &Env, rg: &str, capacity: u64, public_key: &str) -> Value {
    let mut body = env.vmss_body(rg, capacity);
    body["properties"]["virtualMachineProfile"]["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"]
        [0]["keyData"] = public_key.into();
    body
}

/// PUTs the scale set and waits for its operation: `Succeeded`, or the final status with
/// the operation's body.
pub async fn put_vmss(env: &Env, rg: &str, name: &str, body: Value) -> String {
    let r = env
        .put(
            &res_path(rg, "Microsoft.Compute/virtualMachineScaleSets", name),
            body,
        )
        .await;
    assert!(r.status().is_success(), "VMSS PUT: {}", r.status());
    let (status, body) = env.wait(&r).await;
    if status == "Succeeded" {
        status
    } else {
        format!("scale set {name}: {status}: {body}")
    }
}

/// `GET /_local/{path}` of the cloud at `endpoint` (the control API) with its API `token`,
/// as JSON.
pub async fn local_get(http: &reqwest::Client, endpoint: &str, token: &str, path: &str) -> Value {
    http.get(format!("{endpoint}_local/{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `GET /_local/vms` of the cloud at `endpoint`: every VM with its host.
pub async fn vms_at(http: &reqwest::Client, endpoint: &str, token: &str) -> Vec<Value> {
    let body = local_get(http, endpoint, token, "vms").await;
    body["value"].as_array().cloned().unwrap_or_default()
}

/// `GET /_local/vms`: every VM with its host.
pub async fn vms(env: &Env) -> Vec<Value> {
    vms_at(&env.http, env.cloud.endpoint.as_str(), env.cloud.token()).await
}

/// POSTs a control-API power action for VM `name`.
pub async fn power(env: &Env, name: &str, action: &str) {
    let url = format!("{}_local/vms/{name}/{action}", env.cloud.endpoint);
    let r = env
        .http
        .post(url)
        .bearer_auth(env.cloud.token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{action} {name}");
}

/// Mount points of this namespace below `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let d = dir.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&d))
        .map(str::to_string)
        .collect()
}

/// The interface prefix of the hosts of the cloud in `data_dir`.
pub fn instance_prefix(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join("hosts/.instance"))
        .unwrap()
        .trim()
        .to_string()
}

/// Polls `cond` every 50 ms for up to `secs` seconds.
pub async fn eventually(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
