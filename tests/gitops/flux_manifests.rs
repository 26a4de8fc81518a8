//! Flux's install.yaml from a release site: downloaded once into the cache when its sha256
//! matches the pin, refused (and not cached) when it does not, read as is from
//! `gitops.manifests`.

use support::http_files::FileServer;

use platform::phases::gitops::manifests::{self, ManifestError, sha256_hex};

const BODY: &[u8] = b"apiVersion: v1\nkind: Namespace\nmetadata: {name: flux-system}\n";

fn gitops(base: &str, sha: &str) -> platform::config::Gitops {
    let dir = tempfile::tempdir().unwrap();
    let c = super::config(
        dir.path(),
        &format!("  flux: {{version: v2.9.4, manifests_url: '{base}', sha256: {sha}}}\n"),
        "",
    );
    c.gitops
}

#[tokio::test]
async fn a_pinned_download_is_cached_and_reused() {
    let site = FileServer::start(vec![(
        "/download/v2.9.4/install.yaml".into(),
        BODY.to_vec(),
    )]);
    let g = gitops(&site.base, &sha256_hex(BODY));
    let cache = tempfile::tempdir().unwrap();
    let m = manifests::fetch(&g, cache.path()).await.unwrap();
    assert_eq!(m.text.as_bytes(), BODY);
    assert_eq!(m.sha256, sha256_hex(BODY));
    assert_eq!(site.take(), ["GET /download/v2.9.4/install.yaml"]);
    let cached = cache.path().join("flux/v2.9.4/install.yaml");
    assert_eq!(std::fs::read(&cached).unwrap(), BODY);
    // The second time comes from the cache: no request at all.
    let again = manifests::fetch(&g, cache.path()).await.unwrap();
    assert_eq!(again.text.as_bytes(), BODY);
    assert_eq!(site.take(), Vec::<String>::new());
    // A damaged cached copy is downloaded again, not trusted.
    std::fs::write(&cached, b"tampered").unwrap();
    manifests::fetch(&g, cache.path()).await.unwrap();
    assert_eq!(site.take(), ["GET /download/v2.9.4/install.yaml"]);
    assert_eq!(std::fs::read(&cached).unwrap(), BODY);
}

#[tokio::test]
async fn a_wrong_checksum_is_refused_and_nothing_is_cached() {
    let site = FileServer::start(vec![(
        "/download/v2.9.4/install.yaml".into(),
        BODY.to_vec(),
    )]);
    let wrong = "f".repeat(64);
    let g = gitops(&site.base, &wrong);
    let cache = tempfile::tempdir().unwrap();
    let e = manifests::fetch(&g, cache.path()).await.unwrap_err();
    assert!(matches!(e, ManifestError::Mismatch { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&wrong) && msg.contains(&sha256_hex(BODY)),
        "{msg}"
    );
    assert!(msg.contains("/download/v2.9.4/install.yaml"), "{msg}");
    assert!(!cache.path().join("flux/v2.9.4/install.yaml").exists());
}

#[tokio::test]
async fn a_missing_release_names_the_url() {
    let site = FileServer::start(vec![]);
    let g = gitops(&site.base, &"a".repeat(64));
    let cache = tempfile::tempdir().unwrap();
    let e = manifests::fetch(&g, cache.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/download/v2.9.4/install.yaml") && e.contains("404"),
        "{e}"
    );
}

#[tokio::test]
async fn an_offline_copy_is_read_without_a_download() {
    let dir = tempfile::tempdir().unwrap();
    let c = super::config(
        dir.path(),
        &format!("  manifests: '{}'\n", super::fixture().display()),
        "",
    );
    let cache = tempfile::tempdir().unwrap();
    let m = manifests::fetch(&c.gitops, cache.path()).await.unwrap();
    let want = std::fs::read(super::fixture()).unwrap();
    assert_eq!(m.sha256, sha256_hex(&want));
    assert_eq!(m.source, super::fixture().display().to_string());
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn argo_cds_install_yaml_comes_from_its_tag_and_is_cached_apart() {
    let site = FileServer::start(vec![(
        "/v3.5.1/manifests/install.yaml".into(),
        BODY.to_vec(),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let c = super::config(
        dir.path(),
        &format!(
            "  controller: argocd\n  argocd: {{version: v3.5.1, manifests_url: '{}', sha256: {}}}\n",
            site.base,
            sha256_hex(BODY)
        ),
        "",
    );
    let cache = tempfile::tempdir().unwrap();
    let m = manifests::fetch(&c.gitops, cache.path()).await.unwrap();
    assert_eq!(m.text.as_bytes(), BODY);
    assert_eq!(site.take(), ["GET /v3.5.1/manifests/install.yaml"]);
    let cached = cache.path().join("argocd/v3.5.1/install.yaml");
    assert_eq!(std::fs::read(&cached).unwrap(), BODY);
    manifests::fetch(&c.gitops, cache.path()).await.unwrap();
    assert_eq!(site.take(), Vec::<String>::new());
}
