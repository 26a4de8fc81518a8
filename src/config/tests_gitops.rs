//! Unit tests of the `gitops` fields, `postgres.secrets` and `postgres.ca_bundle`: defaults,
//! and one refusal per field naming it.

use super::*;
use std::path::Path;

const FLUX: &str = "cluster: demo\ncloud: {kind: local}\nnetwork: {admin_cidrs: [192.0.2.0/24]}\n";
const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn load(text: &str) -> Result<Config, Vec<ConfigIssue>> {
    Config::from_str(text, Path::new("/tmp/cfg"), None)
}

/// A flux config with `gitops` fields `extra` (flow mapping entries) and top-level `more`.
fn flux(extra: &str, more: &str) -> String {
    format!(
        "{FLUX}gitops: {{controller: flux, repository: 'https://git.example.com/fleet', {extra}}}\n{more}"
    )
}

/// The issues' paths and messages.
fn issues(text: &str) -> Vec<(String, String)> {
    load(text)
        .unwrap_err()
        .into_iter()
        .map(|i| (i.path, i.message))
        .collect()
}

/// Asserts exactly one issue, at `path`, whose message contains `words`.
fn refused(text: &str, path: &str, words: &str) {
    let got = issues(text);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, path, "{got:?}");
    assert!(got[0].1.contains(words), "{got:?}");
}

#[test]
fn flux_defaults_are_a_pinned_release_from_github() {
    let c = load(&flux(&format!("flux: {{sha256: {SHA}}}"), "")).unwrap();
    let g = &c.gitops;
    assert_eq!(g.flux.version, sections::FLUX_VERSION);
    assert_eq!(
        g.flux.manifests_url,
        "https://github.com/fluxcd/flux2/releases"
    );
    assert_eq!(g.flux.sha256.as_deref(), Some(SHA));
    assert_eq!(g.interval, "1m");
    assert_eq!(g.token_env, None);
    assert_eq!(g.manifests, None);
    assert!(c.postgres.secrets.is_empty());
}

#[test]
fn a_download_without_a_known_checksum_needs_one() {
    assert_eq!(sections::flux_checksum(sections::FLUX_VERSION), None);
    refused(&flux("", ""), "gitops.flux.sha256", "required");
    refused(
        &flux("flux: {sha256: abc}", ""),
        "gitops.flux.sha256",
        "64 hex digits",
    );
}

#[test]
fn an_offline_copy_needs_no_checksum_but_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("install.yaml");
    std::fs::write(&file, "---\n").unwrap();
    let c = load(&flux(&format!("manifests: '{}'", file.display()), "")).unwrap();
    assert_eq!(c.gitops.manifests.as_deref(), Some(file.as_path()));
    refused(
        &flux("manifests: /nonexistent/flux.yaml", ""),
        "gitops.manifests",
        "does not exist",
    );
}

#[test]
fn flux_version_and_url_are_checked() {
    let sha = format!("sha256: {SHA}");
    refused(
        &flux(&format!("flux: {{version: 2.9.4, {sha}}}"), ""),
        "gitops.flux.version",
        "v2.9.4",
    );
    refused(
        &flux(&format!("flux: {{version: v1.0.0, {sha}}}"), ""),
        "gitops.flux.version",
        "Flux v2 release tag",
    );
    refused(
        &flux(&format!("flux: {{manifests_url: 'ftp://x/y', {sha}}}"), ""),
        "gitops.flux.manifests_url",
        "base URL",
    );
    let c = load(&flux(
        &format!("flux: {{version: v2.6.4, manifests_url: 'http://127.0.0.1:8080/rel/', {sha}}}"),
        "",
    ))
    .unwrap();
    assert_eq!(c.gitops.flux.manifests_url, "http://127.0.0.1:8080/rel");
    assert_eq!(c.gitops.flux.version, "v2.6.4");
}

#[test]
fn intervals_are_durations_of_at_least_ten_seconds() {
    let sha = format!("flux: {{sha256: {SHA}}}");
    for ok in ["10s", "1m", "1m30s", "10m0s", "2h"] {
        let c = load(&flux(&format!("{sha}, interval: {ok}"), "")).unwrap();
        assert_eq!(c.gitops.interval, ok);
    }
    for bad in ["1", "5s", "1d", "m", "1m 30s", ""] {
        refused(
            &flux(&format!("{sha}, interval: '{bad}'"), ""),
            "gitops.interval",
            "duration",
        );
    }
}

#[test]
fn token_env_is_a_variable_name_for_https_only() {
    let sha = format!("flux: {{sha256: {SHA}}}");
    let c = load(&flux(&format!("{sha}, token_env: GIT_TOKEN"), "")).unwrap();
    assert_eq!(c.gitops.token_env.as_deref(), Some("GIT_TOKEN"));
    refused(
        &flux(&format!("{sha}, token_env: 'ghp_abc-def'"), ""),
        "gitops.token_env",
        "NAME of an environment variable",
    );
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    std::fs::write(&kh, "git.example.com ssh-ed25519 AAAA\n").unwrap();
    let ssh = flux(
        &format!(
            "{sha}, token_env: GIT_TOKEN, known_hosts: '{}'",
            kh.display()
        ),
        "",
    )
    .replace(
        "https://git.example.com/fleet",
        "ssh://git@git.example.com/fleet",
    );
    refused(&ssh, "gitops.token_env", "only applies to an https://");
}

#[test]
fn an_ssh_repository_needs_a_known_hosts_file() {
    let sha = format!("flux: {{sha256: {SHA}}}");
    let ssh = |extra: &str| {
        flux(&format!("{sha}{extra}"), "").replace(
            "https://git.example.com/fleet",
            "ssh://git@git.example.com/fleet",
        )
    };
    refused(
        &ssh(""),
        "gitops.known_hosts",
        "required for an SSH repository",
    );
    refused(
        &ssh(", known_hosts: /nonexistent/kh"),
        "gitops.known_hosts",
        "does not exist",
    );
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    std::fs::write(&kh, "git.example.com ssh-ed25519 AAAA\n").unwrap();
    let c = load(&ssh(&format!(", known_hosts: '{}'", kh.display()))).unwrap();
    assert_eq!(c.gitops.known_hosts.as_deref(), Some(kh.as_path()));
    refused(
        &flux(&format!("{sha}, known_hosts: '{}'", kh.display()), ""),
        "gitops.known_hosts",
        "only applies to an SSH repository",
    );
}

#[test]
fn postgres_secrets_name_a_listed_database() {
    let sha = format!("flux: {{sha256: {SHA}}}");
    let pg = "postgres:\n  databases: [kong, atlas]\n  secrets:\n    - {namespace: kong, database: kong, name: kong-postgres}\n    - {namespace: atlas, database: atlas, name: db}\n";
    let c = load(&flux(&sha, pg)).unwrap();
    assert_eq!(
        c.postgres.secrets[0],
        PgSecret {
            namespace: "kong".into(),
            database: "kong".into(),
            name: "kong-postgres".into()
        }
    );
    assert_eq!(c.postgres.secrets.len(), 2);
    let bad = pg.replace("database: atlas", "database: app");
    refused(
        &flux(&sha, &bad),
        "postgres.secrets[1].database",
        "\"app\" is not one of postgres.databases (kong, atlas)",
    );
}

#[test]
fn postgres_secrets_fields_are_required_and_checked() {
    let sha = format!("flux: {{sha256: {SHA}}}");
    let one = |entry: &str| flux(&sha, &format!("postgres:\n  secrets:\n    - {entry}\n"));
    refused(
        &one("{namespace: apps, database: app}"),
        "postgres.secrets[0].name",
        "required",
    );
    refused(
        &one("{namespace: Apps, database: app, name: db}"),
        "postgres.secrets[0].namespace",
        "namespace name",
    );
    refused(
        &one("{namespace: apps, database: app, name: DB_1}"),
        "postgres.secrets[0].name",
        "Secret name",
    );
    refused(
        &one("{namespace: apps, database: app, name: db, user: x}"),
        "postgres.secrets[0].user",
        "unknown",
    );
    refused(
        &flux(&sha, "postgres: {secrets: apps}\n"),
        "postgres.secrets",
        "expected a list",
    );
    let twice = flux(
        &sha,
        "postgres:\n  secrets:\n    - {namespace: a, database: app, name: db}\n    - {namespace: a, database: app, name: db}\n",
    );
    refused(&twice, "postgres.secrets[1].name", "listed twice");
    let off = flux(
        &sha,
        "postgres:\n  enabled: false\n  secrets:\n    - {namespace: a, database: app, name: db}\n",
    );
    refused(&off, "postgres.secrets", "postgres.enabled: true");
}

#[test]
fn postgres_secrets_need_a_controller() {
    let entry = "postgres:\n  secrets:\n    - {namespace: a, database: app, name: db}\n";
    let none = format!("{FLUX}gitops: {{controller: none}}\n{entry}");
    refused(&none, "postgres.secrets", "gitops.controller");
}

/// An argocd config with `gitops` fields `extra` (flow mapping entries).
fn argocd(extra: &str) -> String {
    format!(
        "{FLUX}gitops: {{controller: argocd, repository: 'https://git.example.com/fleet', {extra}}}\n"
    )
}

#[test]
fn argo_cd_has_its_own_release_settings_and_needs_a_checksum() {
    let c = load(&argocd(&format!("argocd: {{sha256: {SHA}}}"))).unwrap();
    let a = &c.gitops.argocd;
    assert_eq!(a.version, sections::ARGOCD_VERSION);
    assert_eq!(a.manifests_url, sections::ARGOCD_RELEASES);
    assert_eq!(sections::argocd_checksum(sections::ARGOCD_VERSION), None);
    refused(&argocd(""), "gitops.argocd.sha256", "Argo CD v3.5.1");
    // The other controller's section is not judged: switching back and forth keeps both.
    load(&argocd(&format!(
        "argocd: {{sha256: {SHA}}}, flux: {{sha256: abc}}"
    )))
    .unwrap();
    refused(
        &argocd(&format!("argocd: {{version: v1.8.0, sha256: {SHA}}}")),
        "gitops.argocd.version",
        "Argo CD release tag",
    );
    let c = load(&argocd(&format!(
        "argocd: {{version: v2.14.9, manifests_url: 'http://127.0.0.1:1/a/', sha256: {SHA}}}"
    )))
    .unwrap();
    assert_eq!(c.gitops.argocd.version, "v2.14.9");
    assert_eq!(c.gitops.argocd.manifests_url, "http://127.0.0.1:1/a");
    load(&argocd("manifests: /nonexistent/argo.yaml")).unwrap_err();
}

#[test]
fn postgres_ca_bundle_is_a_pem_file_of_certificates_beside_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let head = format!("{FLUX}gitops: {{controller: none}}\n");
    let load_in = |text: &str| Config::from_str(text, base, None);
    let refused_in = |text: &str, words: &str| {
        let got: Vec<(String, String)> = load_in(text)
            .unwrap_err()
            .into_iter()
            .map(|i| (i.path, i.message))
            .collect();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, "postgres.ca_bundle", "{got:?}");
        assert!(got[0].1.contains(words), "{got:?}");
    };
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let ca = params.self_signed(&key).unwrap().pem();
    std::fs::write(base.join("ca.pem"), &ca).unwrap();
    std::fs::write(base.join("empty.pem"), "not a certificate\n").unwrap();
    std::fs::write(base.join("key.pem"), format!("{ca}{}", key.serialize_pem())).unwrap();

    let c = load_in(&format!("{head}postgres: {{ca_bundle: ca.pem}}\n")).unwrap();
    assert_eq!(
        c.postgres.ca_bundle.as_deref(),
        Some(base.join("ca.pem").as_path())
    );
    assert_eq!(read_ca_bundle(&base.join("ca.pem")).unwrap().len(), 1);
    assert_eq!(load_in(&head).unwrap().postgres.ca_bundle, None);

    refused_in(
        &format!("{head}postgres: {{ca_bundle: gone.pem}}\n"),
        "No such file",
    );
    refused_in(
        &format!("{head}postgres: {{ca_bundle: empty.pem}}\n"),
        "holds no PEM certificate",
    );
    refused_in(
        &format!("{head}postgres: {{ca_bundle: key.pem}}\n"),
        "holds a private key",
    );
    refused_in(
        &format!("{head}postgres: {{ca_bundle: '.'}}\n"),
        "directory",
    );
    refused_in(
        &format!("{head}postgres: {{enabled: false, ca_bundle: ca.pem}}\n"),
        "postgres.enabled",
    );
}
