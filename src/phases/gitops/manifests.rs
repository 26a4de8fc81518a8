//! The controller's install manifests on the controller machine: `gitops.manifests` when set
//! (an offline copy, used as is), else the release's `install.yaml`, downloaded once into
//! the user's cache and checked against a sha256 the user or `platform` pins (never one the
//! download site serves next to it). A mismatch leaves nothing in the cache.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::{Controller, Gitops, Release, argocd_checksum, flux_checksum};

/// The release asset with the whole install.
pub const ASSET: &str = "install.yaml";

/// What can go wrong getting the manifests.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("gitops.manifests: {0}")]
    Read(#[from] crate::fsutil::FsError),
    #[error("cannot download {name}'s {ASSET}: {source}")]
    Download {
        name: &'static str,
        source: crate::phases::nodes::release::ReleaseError,
    },
    #[error(
        "no checksum for {name} {version}'s {ASSET}: set {key}.sha256 from the release's published checksums, or gitops.manifests: PATH"
    )]
    NoChecksum {
        name: &'static str,
        key: &'static str,
        version: String,
    },
    #[error(
        "checksum mismatch for {url}: {key}.sha256 (or platform's pin) is {expected}, the download has {actual}; nothing was applied"
    )]
    Mismatch {
        key: &'static str,
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

/// Which controller's release: its settings' key, its name, its cache directory, where
/// its `install.yaml` is below the base URL, and the checksums platform carries.
pub struct Kind {
    pub key: &'static str,
    pub name: &'static str,
    /// The cache's subdirectory (`<user cache>/<dir>/<version>/install.yaml`).
    pub dir: &'static str,
    url: fn(&Release) -> String,
    carried: fn(&str) -> Option<&'static str>,
}

/// Flux: `<manifests_url>/download/<version>/install.yaml`.
pub const FLUX: Kind = Kind {
    key: "gitops.flux",
    name: "Flux",
    dir: "flux",
    url: |r| format!("{}/download/{}/{ASSET}", r.manifests_url, r.version),
    carried: flux_checksum,
};

/// Argo CD: `<manifests_url>/<version>/manifests/install.yaml`.
pub const ARGOCD: Kind = Kind {
    key: "gitops.argocd",
    name: "Argo CD",
    dir: "argocd",
    url: |r| format!("{}/{}/manifests/{ASSET}", r.manifests_url, r.version),
    carried: argocd_checksum,
};

impl Kind {
    /// The controller's kind and release settings.
    pub fn of(g: &Gitops) -> (&'static Kind, &Release) {
        match g.controller {
            Controller::Argocd => (&ARGOCD, &g.argocd),
            _ => (&FLUX, &g.flux),
        }
    }

    /// The URL of the release's `install.yaml`.
    pub fn url(&self, r: &Release) -> String {
        (self.url)(r)
    }
}

/// The configured controller's install manifests (see the module's header); `cache` is the
/// user's cache directory, holding `<controller>/<version>/install.yaml`.
pub async fn fetch(g: &Gitops, cache: &Path) -> Result<Manifests, ManifestError> {
    if let Some(path) = &g.manifests {
        let text = crate::fsutil::read_capped(path, crate::fsutil::caps::MANIFESTS)?;
        return Ok(Manifests {
            sha256: sha256_hex(text.as_bytes()),
            source: path.display().to_string(),
            text,
        });
    }
    let (kind, release) = Kind::of(g);
    let expected = release
        .sha256
        .clone()
        .or_else(|| (kind.carried)(&release.version).map(str::to_owned))
        .ok_or_else(|| ManifestError::NoChecksum {
            name: kind.name,
            key: kind.key,
            version: release.version.clone(),
        })?;
    let url = kind.url(release);
    let dir = cache.join(kind.dir).join(&release.version);
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
    let bytes = crate::phases::nodes::release::get_bytes(&url)
        .await
        .map_err(|source| ManifestError::Download {
            name: kind.name,
            source,
        })?;
    let actual = sha256_hex(&bytes);
    if actual != expected {
        return Err(ManifestError::Mismatch {
            key: kind.key,
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
