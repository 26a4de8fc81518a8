//! The local cloud over real HTTPS accepts exactly the api-versions ARM serves for each
//! type, and refuses any other with ARM's error code, body and headers.

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
        let mut req = self.http.request(method, url).bearer_auth("any");
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
