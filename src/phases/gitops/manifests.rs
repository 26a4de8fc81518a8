//! The controller's install manifests on the controller machine: `gitops.manifests` when set
//! (an offline copy, used as is), else the release's `install.yaml`, downloaded once into
//! the user's cache and checked against a sha256 the user or `platform` pins (never one the
//! download site serves next to it). A mismatch leaves nothing in the cache.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::{Gitops, flux_checksum};

/// The release asset with the whole install.
pub const ASSET: &str = "install.yaml";

/// What can go wrong getting the manifests.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("gitops.manifests: {0}")]
    Read(#[from] crate::fsutil::FsError),
    #[error("cannot download Flux's {ASSET}: {0}")]
    Download(#[from] crate::phases::nodes::release::ReleaseError),
    #[error(
        "no checksum for Flux {version}'s {ASSET}: set gitops.flux.sha256 from the release's published checksums, or gitops.manifests: PATH"
    )]
    NoChecksum { version: String },
    #[error(
        "checksum mismatch for {url}: gitops.flux.sha256 (or platform's pin) is {expected}, the download has {actual}; nothing was applied"
    )]
    Mismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} is not UTF-8 text")]
    NotText { what: String },
}

/// The manifests, where they came from and their sha256.
#[derive(Clone, Debug)]
pub struct Manifests {
    pub text: String,
    /// The file or URL, for messages.
    pub source: String,
    pub sha256: String,
}

/// The sha256 of `bytes`, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The URL of Flux's `install.yaml` for the configured release.
pub fn flux_url(g: &Gitops) -> String {
    format!(
        "{}/download/{}/{ASSET}",
        g.flux.manifests_url, g.flux.version
    )
}

/// Flux's install manifests (see the module's header); `cache` is the cache directory
/// (`<user cache>/flux`), holding `<version>/install.yaml`.
pub async fn flux(g: &Gitops, cache: &Path) -> Result<Manifests, ManifestError> {
    if let Some(path) = &g.manifests {
        let text = crate::fsutil::read_capped(path, crate::fsutil::caps::MANIFESTS)?;
        return Ok(Manifests {
            sha256: sha256_hex(text.as_bytes()),
            source: path.display().to_string(),
            text,
        });
    }
    let expected = g
        .flux
        .sha256
        .clone()
        .or_else(|| flux_checksum(&g.flux.version).map(str::to_owned))
        .ok_or_else(|| ManifestError::NoChecksum {
            version: g.flux.version.clone(),
        })?;
    let url = flux_url(g);
    let dir = cache.join(&g.flux.version);
    let dest = dir.join(ASSET);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ManifestError::Io { path, source }
    };
    // A cached copy is used only when it still has the pinned checksum.
    if let Ok(bytes) = std::fs::read(&dest)
        && sha256_hex(&bytes) == expected
    {
        return text(bytes, dest.display().to_string(), expected);
    }
    let bytes = crate::phases::nodes::release::get_bytes(&url).await?;
    let actual = sha256_hex(&bytes);
    if actual != expected {
        return Err(ManifestError::Mismatch {
            url,
            expected,
            actual,
        });
    }
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    crate::fsutil::write_atomic(&dest, &bytes)?;
    text(bytes, url, expected)
}

fn text(bytes: Vec<u8>, source: String, sha256: String) -> Result<Manifests, ManifestError> {
    let text = String::from_utf8(bytes).map_err(|_| ManifestError::NotText {
        what: source.clone(),
    })?;
    Ok(Manifests {
        text,
        source,
        sha256,
    })
}
