//! k3s releases on the controller: a channel resolved to one exact tag (once, then recorded in
//! state), and for `k3s.install: upload` the release's `k3s` downloaded once into the user's
//! cache and checked against the release's `sha256sum-amd64.txt`, as every node checks it in
//! the `download` path.
//!
//! URLs follow GitHub's release layout (`<release_url>/download/<tag>/<asset>`) and the
//! channel server's (`<channel_url>/<channel>` answers a redirect to
//! `.../releases/tag/<tag>`); the local cloud's mirror serves the same layout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::{CloudKind, Config};

/// GitHub's k3s releases.
pub const GITHUB_RELEASES: &str = "https://github.com/k3s-io/k3s/releases";
/// k3s's channel server.
pub const UPDATE_CHANNELS: &str = "https://update.k3s.io/v1-release/channels";
/// The checksum file of a release, for amd64 (Azure's and the local cloud's VMs).
pub const SUMS_ASSET: &str = "sha256sum-amd64.txt";
/// The binary asset.
pub const BINARY_ASSET: &str = "k3s";
/// The port the local cloud's release mirror listens on, at each subnet gateway.
pub const LOCAL_MIRROR_PORT: u16 = local_cloud::mirror::PORT;

/// Why a release could not be resolved or fetched.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("{url}: {why}")]
    Http { url: String, why: String },
    #[error(
        "checksum mismatch for {file}: the release's {SUMS_ASSET} says sha256 {expected}, the file has {actual}"
    )]
    Mismatch {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("{sums} lists no {name}")]
    NotListed { sums: String, name: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The release and channel base URLs for `config`: the settings when given; otherwise, on a
/// local cloud of the cluster's own, its mirror on the node subnet's gateway (the address
/// the hosts reach the machine by), else GitHub's and update.k3s.io's.
pub fn urls(config: &Config) -> (String, String) {
    let local = config.cloud.kind == CloudKind::Local && config.cloud.arm_endpoint.is_none();
    let mirror = local.then(|| {
        let subnet = config.network.node_subnet;
        let gateway = std::net::Ipv4Addr::from(u32::from(subnet.network()) + 1);
        format!("http://{gateway}:{LOCAL_MIRROR_PORT}")
    });
    let release = config.k3s.release_url.clone().unwrap_or_else(|| {
        mirror.as_ref().map_or_else(
            || GITHUB_RELEASES.to_owned(),
            |m| format!("{m}/k3s-io/k3s/releases"),
        )
    });
    let channel = config.k3s.channel_url.clone().unwrap_or_else(|| {
        mirror.as_ref().map_or_else(
            || UPDATE_CHANNELS.to_owned(),
            |m| format!("{m}/v1-release/channels"),
        )
    });
    (
        release.trim_end_matches('/').to_owned(),
        channel.trim_end_matches('/').to_owned(),
    )
}

/// Whether `tag` looks like a k3s release (`v1.31.4+k3s1`).
pub fn is_tag(tag: &str) -> bool {
    tag.strip_prefix('v')
        .and_then(|r| r.split_once("+k3s"))
        .is_some_and(|(v, n)| {
            v.split('.').count() == 3
                && v.split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
        })
}

/// A tag's release order: `(major, minor, patch, k3s revision)`, `None` when not a tag.
pub fn tag_order(tag: &str) -> Option<(u64, u64, u64, u64)> {
    if !is_tag(tag) {
        return None;
    }
    let (v, n) = tag.strip_prefix('v')?.split_once("+k3s")?;
    let mut p = v.split('.').map(|x| x.parse::<u64>().ok());
    Some((p.next()??, p.next()??, p.next()??, n.parse().ok()?))
}

/// An HTTP client for release downloads: bounded connect time, no redirects followed for
/// channel lookups (the redirect is the answer).
fn client(follow: bool) -> Result<reqwest::Client, ReleaseError> {
    let policy = if follow {
        reqwest::redirect::Policy::limited(10)
    } else {
        reqwest::redirect::Policy::none()
    };
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .redirect(policy)
        .user_agent(concat!("platform/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ReleaseError::Http {
            url: String::new(),
            why: e.to_string(),
        })
}

/// The exact tag `channel` points at now: `<channel_url>/<channel>` answers a redirect whose
/// `Location` ends in `/tag/<tag>`.
pub async fn resolve_channel(channel_url: &str, channel: &str) -> Result<String, ReleaseError> {
    let url = format!("{channel_url}/{channel}");
    let http_err = |why: String| ReleaseError::Http {
        url: url.clone(),
        why,
    };
    let resp = client(false)?
        .get(&url)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .map_err(|e| http_err(e.to_string()))?;
    if !resp.status().is_redirection() {
        return Err(http_err(format!(
            "expected a redirect to the channel's release, got HTTP {}",
            resp.status()
        )));
    }
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let tag = location
        .rsplit_once("/tag/")
        .map(|(_, t)| t.replace("%2B", "+").replace("%2b", "+"))
        .unwrap_or_default();
    if !is_tag(&tag) {
        return Err(http_err(format!(
            "the redirect {location:?} does not name a k3s release"
        )));
    }
    Ok(tag)
}

/// `<hex>` for `name` in a `sha256sum` listing (`<hex>  <name>` lines, `*name` for binary).
pub fn checksum_of(sums: &str, name: &str) -> Option<String> {
    sums.lines().find_map(|l| {
        let (hex, file) = l.split_once(char::is_whitespace)?;
        let file = file.trim_start().trim_start_matches('*');
        (file == name && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| hex.to_ascii_lowercase())
    })
}

/// The sha256 of a file, read in chunks.
pub fn sha256_file(path: &Path) -> Result<String, ReleaseError> {
    use std::io::Read;
    let io = |source| ReleaseError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Checks `file` against what `sums` lists for `name`.
pub fn verify(file: &Path, sums: &str, sums_name: &str, name: &str) -> Result<(), ReleaseError> {
    let expected = checksum_of(sums, name).ok_or_else(|| ReleaseError::NotListed {
        sums: sums_name.to_owned(),
        name: name.to_owned(),
    })?;
    let actual = sha256_file(file)?;
    if actual != expected {
        return Err(ReleaseError::Mismatch {
            file: file.display().to_string(),
            expected,
            actual,
        });
    }
    Ok(())
}

/// The body of a GET of `url` (redirects followed), failing on a non-2xx answer.
pub async fn get_bytes(url: &str) -> Result<Vec<u8>, ReleaseError> {
    let http_err = |why: String| ReleaseError::Http {
        url: url.to_owned(),
        why,
    };
    let resp = client(true)?
        .get(url)
        .timeout(Duration::from_secs(600))
        .send()
        .await
        .map_err(|e| http_err(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(http_err(format!("HTTP {}", resp.status())));
    }
    resp.bytes()
        .await
        .map(|b| b.to_vec())
        .map_err(|e| http_err(e.to_string()))
}

/// The release's `k3s` in `cache` (`<cache>/<tag>/k3s`), downloaded when missing and checked
/// against the release's checksum file either way; a mismatch leaves no file behind.
pub async fn fetch_verified(
    release_url: &str,
    tag: &str,
    cache: &Path,
) -> Result<PathBuf, ReleaseError> {
    let dir = cache.join(tag);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ReleaseError::Io { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let base = format!("{release_url}/download/{}", tag.replace('+', "%2B"));
    let sums_url = format!("{base}/{SUMS_ASSET}");
    let sums = String::from_utf8_lossy(&get_bytes(&sums_url).await?).into_owned();
    let dest = dir.join(BINARY_ASSET);
    if dest.is_file() && verify(&dest, &sums, &sums_url, BINARY_ASSET).is_ok() {
        return Ok(dest);
    }
    let bytes = get_bytes(&format!("{base}/{BINARY_ASSET}")).await?;
    let tmp = dir.join(format!(".{BINARY_ASSET}.{}.part", std::process::id()));
    std::fs::write(&tmp, &bytes).map_err(io(&tmp))?;
    if let Err(e) = verify(&tmp, &sums, &sums_url, BINARY_ASSET) {
        let _ = std::fs::remove_file(&tmp);
        return Err(match e {
            ReleaseError::Mismatch {
                expected, actual, ..
            } => ReleaseError::Mismatch {
                file: format!("{base}/{BINARY_ASSET}"),
                expected,
                actual,
            },
            other => other,
        });
    }
    std::fs::rename(&tmp, &dest).map_err(io(&dest))?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_order_by_version_then_k3s_revision() {
        let o = |t| tag_order(t).unwrap();
        assert!(o("v1.31.4+k3s1") < o("v1.31.4+k3s2"));
        assert!(o("v1.31.10+k3s1") > o("v1.31.9+k3s3"), "numeric, not text");
        assert!(o("v1.32.0+k3s1") > o("v1.31.10+k3s1"));
        assert_eq!(tag_order("v1.31+k3s1"), None);
        assert_eq!(tag_order("stable"), None);
    }

    #[test]
    fn sums_are_looked_up_by_exact_name() {
        let h = "a".repeat(64);
        let g = "b".repeat(64);
        let sums = format!("{h}  k3s-airgap-images-amd64.tar\n{g}  k3s\n{h} *k3s-arm64\n");
        assert_eq!(checksum_of(&sums, "k3s"), Some(g));
        assert_eq!(checksum_of(&sums, "k3s-arm64"), Some(h));
        assert_eq!(checksum_of(&sums, "k3"), None);
        assert_eq!(checksum_of("zz  k3s\n", "k3s"), None);
    }

    #[test]
    fn tags_are_k3s_releases() {
        assert!(is_tag("v1.31.4+k3s1"));
        for bad in [
            "1.31.4+k3s1",
            "v1.31+k3s1",
            "v1.31.4",
            "v1.31.4+k3s",
            "v1.31.4+k3s1;x",
        ] {
            assert!(!is_tag(bad), "{bad}");
        }
    }

    /// The local cloud's mirror on loopback, serving `init` as the stand-in's path.
    async fn mirror() -> String {
        let bind = "127.0.0.1:0".parse().unwrap();
        let (addr, _task) = local_cloud::mirror::serve(bind, "/bin/true".into())
            .await
            .unwrap();
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_channel_resolves_to_one_tag_and_its_binary_is_fetched_once_verified() {
        let m = mirror().await;
        let channels = format!("{m}/v1-release/channels");
        let releases = format!("{m}/k3s-io/k3s/releases");
        assert_eq!(
            resolve_channel(&channels, "stable").await.unwrap(),
            "v1.32.5+k3s1"
        );
        assert_eq!(
            resolve_channel(&channels, "v1.31").await.unwrap(),
            "v1.31.4+k3s1"
        );
        let e = resolve_channel(&channels, "v9.9").await.unwrap_err();
        assert!(e.to_string().contains("expected a redirect"), "{e}");

        let cache = tempfile::tempdir().unwrap();
        let got = fetch_verified(&releases, "v1.32.5+k3s1", cache.path())
            .await
            .unwrap();
        assert_eq!(got, cache.path().join("v1.32.5+k3s1/k3s"));
        let text = std::fs::read_to_string(&got).unwrap();
        assert!(
            text.starts_with("#!/bin/sh") && text.contains("v1.32.5+k3s1"),
            "{text}"
        );
        // A damaged cached copy is replaced, not trusted.
        std::fs::write(&got, "tampered").unwrap();
        fetch_verified(&releases, "v1.32.5+k3s1", cache.path())
            .await
            .unwrap();
        assert_eq!(std::fs::read_to_string(&got).unwrap(), text);
    }

    /// A release whose checksum file does not match its binary.
    async fn lying_release() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = vec![0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let body = if req.contains(SUMS_ASSET) {
                    format!("{}  k3s\n", "0".repeat(64))
                } else {
                    "#!/bin/sh\necho not what the release says\n".to_owned()
                };
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            }
        });
        format!("http://{addr}/k3s-io/k3s/releases")
    }

    #[tokio::test]
    async fn a_binary_that_does_not_match_its_checksum_is_refused_and_not_kept() {
        let releases = lying_release().await;
        let cache = tempfile::tempdir().unwrap();
        let e = fetch_verified(&releases, "v1.31.4+k3s1", cache.path())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("checksum mismatch for"), "{e}");
        assert!(e.contains("/download/v1.31.4%2Bk3s1/k3s"), "{e}");
        assert!(e.contains(&"0".repeat(64)), "{e}");
        let left: Vec<_> = std::fs::read_dir(cache.path().join("v1.31.4+k3s1"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
