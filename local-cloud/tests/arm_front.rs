//! The local cloud's front over real HTTPS: only its own API token gets in (ARM and control
//! routes alike); names arrive percent-encoded and are decoded as ARM does; it accepts
//! exactly the api-versions ARM serves for each type, and refuses any other with ARM's
//! error code, body and headers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use local_cloud::{LatencyModel, LocalCloudOptions, api_versions};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SUB: &str = "00000000-0000-0000-0000-0000000a0001";

struct Cloud {
    handle: local_cloud::LocalCloudHandle,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Cloud {
    async fn start() -> Cloud {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = LocalCloudOptions::new(dir.path());
        opts.latency = LatencyModel {
            retry_after_secs: Some(0),
            ..LatencyModel::scaled(0.001)
        };
        let handle = local_cloud::start(opts).await.expect("local cloud starts");
        let ca = reqwest::Certificate::from_pem(handle.ca_pem.as_bytes()).unwrap();
        let http = reqwest::Client::builder()
            .tls_certs_only([ca])
            .build()
            .unwrap();
        Cloud {
            handle,
            http,
            _dir: dir,
        }
    }

    fn url(&self, path: &str, version: &str) -> String {
        format!("{}{path}?api-version={version}", self.handle.endpoint)
    }

    async fn send(&self, method: reqwest::Method, url: String, body: Option<Value>) -> Answer {
        let mut req = self
            .http
            .request(method, url)
            .bearer_auth(self.handle.token());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let body = r.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str, version: &str) -> Answer {
        self.send(reqwest::Method::GET, self.url(path, version), None)
            .await
    }

    async fn put(&self, path: &str, version: &str, body: Value) -> Answer {
        self.send(reqwest::Method::PUT, self.url(path, version), Some(body))
            .await
    }
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    /// ARM's error shape: 400, `{"error":{"code","message"}}`, `x-ms-error-code`.
    fn refused(&self, code: &str) -> &str {
        assert_eq!(self.status, StatusCode::BAD_REQUEST, "{}", self.body);
        assert_eq!(self.body["error"]["code"], code, "{}", self.body);
        assert_eq!(self.headers["x-ms-error-code"], code);
        self.body["error"]["message"].as_str().unwrap()
    }
}

fn group() -> String {
    format!("subscriptions/{SUB}/resourceGroups/rg")
}

#[tokio::test]
async fn resource_groups_take_the_resources_versions_only() {
    let cloud = Cloud::start().await;
    for v in api_versions::RESOURCES {
        let r = cloud.put(&group(), v, json!({"location": "eastus"})).await;
        assert!(r.status.is_success(), "{v}: {}", r.status);
    }
    // A real version of another provider is still wrong here.
    let msg = cloud
        .get(&group(), "2026-03-01")
        .await
        .refused("InvalidApiVersionParameter")
        .to_string();
    assert_eq!(
        msg,
        "The api-version '2026-03-01' is invalid. The supported versions are \
         '2024-11-01,2025-04-01'."
    );
    cloud
        .get(&format!("{}/resources", group()), "2019-01-01")
        .await
        .refused("InvalidApiVersionParameter");
    cloud.handle.shutdown().await;
}

#[tokio::test]
async fn provider_types_take_their_own_versions_and_refuse_others_like_arm() {
    let cloud = Cloud::start().await;
    cloud
        .put(&group(), "2025-04-01", json!({"location": "westeurope"}))
        .await;
    let vnet = format!("{}/providers/Microsoft.Network/virtualNetworks/v", group());
    let body = json!({"location": "westeurope",
        "properties": {"addressSpace": {"addressPrefixes": ["10.20.0.0/16"]}}});
    // The oldest GA Network version creates; every served one reads.
    let created = cloud.put(&vnet, "2025-09-01", body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    for v in api_versions::NETWORK {
        assert_eq!(cloud.get(&vnet, v).await.status, StatusCode::OK, "{v}");
    }

    // Private DNS's version is Network's namespace but not this type's.
    let msg = cloud
        .get(&vnet, "2024-06-01")
        .await
        .refused("NoRegisteredProviderFound")
        .to_string();
    assert_eq!(
        msg,
        "No registered resource provider found for location 'westeurope' and API version \
         '2024-06-01' for type 'virtualNetworks'. The supported api-versions are \
         '2025-09-01, 2026-01-01, 2026-03-01'."
    );
    // Compute and its Disk RP have separate versions; a lookalike date is refused.
    let vmss = format!(
        "{}/providers/Microsoft.Compute/virtualMachineScaleSets/s",
        group()
    );
    for wrong in ["2025-01-02", "2026-03-02", "2026-03-01-preview"] {
        cloud
            .get(&vmss, wrong)
            .await
            .refused("NoRegisteredProviderFound");
    }
    for v in api_versions::COMPUTE {
        // Served: the answer is about the (missing) resource, not the version.
        let r = cloud.get(&vmss, v).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{v}: {}", r.body);
    }
    cloud.handle.shutdown().await;
}

#[tokio::test]
async fn operation_urls_take_any_version_of_their_provider() {
    let cloud = Cloud::start().await;
    cloud
        .put(&group(), "2024-11-01", json!({"location": "eastus"}))
        .await;
    let nsg = format!(
        "{}/providers/Microsoft.Network/networkSecurityGroups/n",
        group()
    );
    let r = cloud
        .put(&nsg, "2026-01-01", json!({"location": "eastus"}))
        .await;
    let status_url = r.headers["azure-asyncoperation"].to_str().unwrap();
    let (base, written) = status_url.split_once("?api-version=").unwrap();
    assert_eq!(
        written, "2026-03-01",
        "the newest of the type is handed out"
    );
    for v in api_versions::of_namespace("Microsoft.Network") {
        let r = cloud
            .send(
                reqwest::Method::GET,
                format!("{base}?api-version={v}"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{v}: {}", r.body);
    }
    // A Compute-only version is not one of Network's.
    let r = cloud
        .send(
            reqwest::Method::GET,
            format!("{base}?api-version=2025-11-01"),
            None,
        )
        .await;
    r.refused("InvalidApiVersionParameter");
    cloud.handle.shutdown().await;
}

#[tokio::test]
async fn only_this_clouds_token_reaches_arm_or_the_control_api() {
    let cloud = Cloud::start().await;
    let token = cloud.handle.token().to_string();
    // The file a client reads the token from: private, and holding exactly it.
    let meta = std::fs::metadata(&cloud.handle.token_path).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read_to_string(&cloud.handle.token_path)
            .unwrap()
            .trim(),
        token
    );
    let put_vmss_key = json!({"location": "eastus"});
    let routes = [
        (reqwest::Method::PUT, cloud.url(&group(), "2025-04-01")),
        (
            reqwest::Method::GET,
            format!("{}_local/vms", cloud.handle.endpoint),
        ),
        (
            reqwest::Method::PUT,
            format!("{}_local/faults", cloud.handle.endpoint),
        ),
    ];
    for (method, url) in &routes {
        for auth in [None, Some("any"), Some(&token[1..]), Some("")] {
            let mut req = cloud.http.request(method.clone(), url).json(&put_vmss_key);
            if let Some(t) = auth {
                req = req.bearer_auth(t);
            }
            let r = req.send().await.unwrap();
            assert_eq!(
                r.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {url} {auth:?}"
            );
            assert!(r.headers().contains_key("www-authenticate"));
            let body: Value = r.json().await.unwrap();
            let code = if auth.is_none() {
                "AuthenticationFailed"
            } else {
                "InvalidAuthenticationToken"
            };
            assert_eq!(body["error"]["code"], code, "{body}");
        }
    }
    // Nothing was created by the refused requests; the real token works.
    let r = cloud.get(&group(), "2025-04-01").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(cloud.handle.stats().unauthorized, 12);
    let vms = cloud
        .send(
            reqwest::Method::GET,
            format!("{}_local/vms", cloud.handle.endpoint),
            None,
        )
        .await;
    assert_eq!(vms.status, StatusCode::OK, "{}", vms.body);
    cloud.handle.shutdown().await;
}

#[tokio::test]
async fn the_token_survives_a_restart_on_the_same_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let first = local_cloud::start(LocalCloudOptions::new(dir.path()))
        .await
        .unwrap();
    let token = first.token().to_string();
    first.shutdown().await;
    let second = local_cloud::start(LocalCloudOptions::new(dir.path()))
        .await
        .unwrap();
    assert_eq!(second.token(), token);
    second.shutdown().await;
}

#[tokio::test]
async fn resource_groups_named_in_any_script_are_decoded_like_arm() {
    let cloud = Cloud::start().await;
    // Azure allows Unicode letters and digits in resource group names; clients send them
    // percent-encoded (UTF-8), and ARM answers with the decoded name in ids and names.
    let name = "plattform-prüfung-(東京)";
    let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace("%28", "(")
        .replace("%29", ")");
    assert!(encoded.contains("%C3%BC"), "{encoded}");
    let path = format!("subscriptions/{SUB}/resourceGroups/{encoded}");
    let created = cloud
        .put(&path, "2025-04-01", json!({"location": "japaneast"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["name"], name);
    assert_eq!(
        created.body["id"],
        format!("/subscriptions/{SUB}/resourceGroups/{name}")
    );
    let vnet = format!("{path}/providers/Microsoft.Network/virtualNetworks/v%C3%A9");
    let body = json!({"location": "japaneast",
        "properties": {"addressSpace": {"addressPrefixes": ["10.20.0.0/16"]}}});
    let created = cloud.put(&vnet, "2025-09-01", body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let got = cloud.get(&path, "2025-04-01").await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    let list = cloud
        .get(&format!("subscriptions/{SUB}/resourcegroups"), "2025-04-01")
        .await;
    assert_eq!(list.body["value"][0]["name"], name, "{}", list.body);
    // Names still follow ARM's rules once decoded: 90 characters at most, counted as
    // characters, not bytes.
    let long: String = "ü".repeat(90);
    let ok = format!(
        "subscriptions/{SUB}/resourceGroups/{}",
        url::form_urlencoded::byte_serialize(long.as_bytes()).collect::<String>()
    );
    let r = cloud
        .put(&ok, "2025-04-01", json!({"location": "eastus"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let bad = format!("{ok}%C3%BC");
    cloud
        .put(&bad, "2025-04-01", json!({"location": "eastus"}))
        .await
        .refused("InvalidResourceGroupName");
    // A segment that is not UTF-8 once decoded addresses nothing.
    let r = cloud
        .get(
            &format!("subscriptions/{SUB}/resourceGroups/%FF"),
            "2025-04-01",
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    cloud.handle.shutdown().await;
}
