//! The k3s release mirror the local cloud serves to its hosts, shaped like GitHub's release
//! downloads and k3s's channel server, so the install's `download` path (fetch the pinned
//! release's `k3s`, check it against the release's `sha256sum-amd64.txt`) is the same code on
//! Azure and here. Each version's `k3s` asset is a small script that runs the host's k3s
//! stand-in with that version (so versions differ, in output and in checksum). It needs no
//! API token: it is a service the hosts use, like the real release site.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use sha2::{Digest, Sha256};

/// The port the mirror listens on at each subnet gateway of the hosts' network.
pub const PORT: u16 = 80;

/// The versions the mirror serves, oldest first.
pub const VERSIONS: &[&str] = &["v1.31.4+k3s1", "v1.32.5+k3s1", "v1.33.1+k3s1"];

/// Channels and the version each resolves to (`stable` lags `latest`, as on update.k3s.io).
pub const CHANNELS: &[(&str, &str)] = &[
    ("stable", "v1.32.5+k3s1"),
    ("latest", "v1.33.1+k3s1"),
    ("testing", "v1.33.1+k3s1"),
    ("v1.31", "v1.31.4+k3s1"),
    ("v1.32", "v1.32.5+k3s1"),
    ("v1.33", "v1.33.1+k3s1"),
];

/// The airgap image archives a release lists before its binary in `sha256sum-amd64.txt`.
const IMAGES: &[&str] = &[
    "k3s-airgap-images-amd64.tar",
    "k3s-airgap-images-amd64.tar.gz",
    "k3s-airgap-images-amd64.tar.zst",
];

/// What a host runs as `/usr/local/bin/k3s` for `tag`: the stand-in in the host's init
/// executable (`init`), told its version.
pub fn k3s_asset(tag: &str, init: &std::path::Path) -> String {
    format!(
        "#!/bin/sh\n# k3s {tag}: the platform local cloud's k3s stand-in, not k3s (see the local cloud's README).\nexec {} {} {tag} \"$@\"\n",
        init.display(),
        crate::k3s::MARKER
    )
}

/// An airgap images archive of the stand-in (an empty tar naming its version).
fn images_asset(tag: &str, name: &str) -> Vec<u8> {
    format!("k3s stand-in {tag}: no images ({name})\n").into_bytes()
}

/// `sha256sum-amd64.txt` of `tag`: `<hex>  <name>` lines, the images first, as k3s ships it.
pub fn sha256sums(tag: &str, init: &std::path::Path) -> String {
    let mut out = String::new();
    for name in IMAGES {
        let h = hex::encode(Sha256::digest(images_asset(tag, name)));
        out.push_str(&format!("{h}  {name}\n"));
    }
    let h = hex::encode(Sha256::digest(k3s_asset(tag, init).as_bytes()));
    out.push_str(&format!("{h}  k3s\n"));
    out
}

#[derive(Clone)]
struct Mirror {
    init: PathBuf,
}

fn base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

async fn download(State(m): State<Mirror>, Path((tag, asset)): Path<(String, String)>) -> Response {
    if !VERSIONS.contains(&tag.as_str()) {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    let body = match asset.as_str() {
        "k3s" => k3s_asset(&tag, &m.init).into_bytes(),
        "sha256sum-amd64.txt" => sha256sums(&tag, &m.init).into_bytes(),
        a if IMAGES.contains(&a) => images_asset(&tag, a),
        _ => return (StatusCode::NOT_FOUND, "Not Found").into_response(),
    };
    ([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response()
}

async fn release(Path(tag): Path<String>) -> Response {
    if !VERSIONS.contains(&tag.as_str()) {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    format!("k3s {tag} (local-cloud stand-in)\n").into_response()
}

async fn channels(headers: HeaderMap) -> Response {
    let b = base(&headers);
    let data: Vec<serde_json::Value> = CHANNELS
        .iter()
        .map(|(name, latest)| {
            json!({"id": name, "type": "channel", "name": name, "latest": latest,
                "links": {"self": format!("{b}/v1-release/channels/{name}")}})
        })
        .collect();
    axum::Json(
        json!({"type": "collection", "resourceType": "channels", "actions": {},
        "links": {"self": format!("{b}/v1-release/channels")}, "data": data}),
    )
    .into_response()
}

/// `GET /v1-release/channels/<name>`: 302 to the release page of the version, as k3s's
/// channel server answers (install.sh and our install keep the last path element).
async fn channel(headers: HeaderMap, Path(name): Path<String>) -> Response {
    match CHANNELS.iter().find(|(n, _)| *n == name) {
        Some((_, v)) => (
            StatusCode::FOUND,
            [(
                header::LOCATION,
                format!("{}/k3s-io/k3s/releases/tag/{v}", base(&headers)),
            )],
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "Not Found").into_response(),
    }
}

/// The mirror's routes; `init` is where the hosts' init executable is.
pub fn router(init: PathBuf) -> Router {
    Router::new()
        .route("/k3s-io/k3s/releases/download/{tag}/{asset}", get(download))
        .route("/k3s-io/k3s/releases/tag/{tag}", get(release))
        .route("/v1-release/channels", get(channels))
        .route("/v1-release/channels/{name}", get(channel))
        .with_state(Mirror { init })
}

/// Serves the mirror on `bind`. Plain HTTP on the hosts' private network (the real release
/// site is HTTPS); the install checks every binary against the release's checksum file.
/// Returns the bound address.
pub async fn serve(
    bind: SocketAddr,
    init: PathBuf,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let app = router(init);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, task))
}
