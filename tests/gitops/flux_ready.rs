//! The wait for Flux's source and sync: the revision once Ready, the condition's message
//! when not. The stand-in has no Flux reconciler yet, so each test writes the status a
//! controller would, through the status subresource.

use serde_json::json;

use platform::phases::gitops::source::{reference, wait_ready};
use platform::phases::gitops::{GitopsOutputs, TIMEOUT};

use super::{ApiServer, bootstrap, config, fixture_line};

/// Bootstraps the fixture with more `gitops` fields and returns the applier.
async fn bootstrapped(
    api: &ApiServer,
    dir: &std::path::Path,
    gitops: &str,
) -> platform::kube::apply::Applier {
    let c = config(dir, &format!("{}{gitops}", fixture_line()), "");
    let (done, applier, _) = bootstrap(api, &c, &GitopsOutputs::default()).await;
    done.unwrap();
    applier
}

/// Sets `kind` flux-system's status as a controller reconciling its current generation.
async fn set_status(
    applier: &platform::kube::apply::Applier,
    kind: &str,
    ready: &str,
    message: &str,
    extra: serde_json::Value,
) {
    let api = applier.api_of(&reference(kind)).unwrap();
    super::set_status(&api, kind, ready, message, extra).await;
}

#[tokio::test]
async fn ready_objects_report_their_revision() {
    let api = ApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let applier = bootstrapped(&api, dir.path(), "").await;
    let rev = "main@sha1:0123456789abcdef0123456789abcdef01234567";
    set_status(
        &applier,
        "GitRepository",
        "True",
        &format!("stored artifact for revision '{rev}'"),
        json!({"artifact": {"revision": rev, "path": "p", "url": "http://x/p",
            "lastUpdateTime": "2026-01-01T00:00:00Z"}}),
    )
    .await;
    assert_eq!(
        wait_ready(&applier, "GitRepository", TIMEOUT)
            .await
            .unwrap(),
        rev
    );
    set_status(
        &applier,
        "Kustomization",
        "True",
        &format!("Applied revision: {rev}"),
        json!({"lastAppliedRevision": rev}),
    )
    .await;
    assert_eq!(
        wait_ready(&applier, "Kustomization", TIMEOUT)
            .await
            .unwrap(),
        rev
    );
}

#[tokio::test]
async fn a_source_that_is_not_ready_fails_naming_the_message() {
    let api = ApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let applier = bootstrapped(&api, dir.path(), "  branch: nope\n").await;
    let message = "failed to checkout and determine revision: unable to clone 'https://git.example.com/fleet.git': couldn't find remote ref \"refs/heads/nope\"";
    set_status(&applier, "GitRepository", "False", message, json!({})).await;
    // The verdict predates the wait: the phase asks for a reconciliation, which the
    // controller answers with the same verdict.
    let api = applier.api_of(&reference("GitRepository")).unwrap();
    let answering = tokio::spawn(async move {
        super::answer_requests(api, "GitRepository", "False", message, TIMEOUT).await;
    });
    let e = wait_ready(&applier, "GitRepository", TIMEOUT)
        .await
        .unwrap_err()
        .to_string();
    answering.abort();
    assert_eq!(
        e,
        format!("GitRepository flux-system/flux-system is not Ready: {message}")
    );
}

#[tokio::test]
async fn an_https_token_goes_into_the_source_secret() {
    let api = ApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    // PATH is set wherever tests run; its value stands in for a token.
    let applier = bootstrapped(&api, dir.path(), "  token_env: PATH\n").await;
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(applier.client().clone(), "flux-system");
    let data = secrets.get("flux-system").await.unwrap().data.unwrap();
    assert_eq!(data["username"].0, b"git");
    assert_eq!(
        data["password"].0,
        std::env::var("PATH").unwrap().into_bytes()
    );
    let gr = applier.api_of(&reference("GitRepository")).unwrap();
    let gr = gr.get("flux-system").await.unwrap();
    assert_eq!(gr.data["spec"]["secretRef"]["name"], "flux-system");
}

#[tokio::test]
async fn a_missing_token_variable_stops_before_anything_is_applied() {
    let api = ApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gitops = format!(
        "{}  token_env: PLATFORM_TEST_NO_SUCH_VARIABLE\n",
        fixture_line()
    );
    let c = config(dir.path(), &gitops, "");
    let (done, _, count) = bootstrap(&api, &c, &GitopsOutputs::default()).await;
    let e = done.unwrap_err().to_string();
    assert!(
        e.contains("gitops.token_env") && e.contains("PLATFORM_TEST_NO_SUCH_VARIABLE"),
        "{e}"
    );
    assert_eq!(count.writes(), 0);
}

#[tokio::test]
async fn an_ssh_repository_gets_a_deploy_key_once_and_the_given_host_keys() {
    let api = ApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    let host_key = "git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n";
    std::fs::write(&kh, host_key).unwrap();
    let gitops = format!(
        "{}  known_hosts: '{}'\n  repository: git@git.example.com:org/fleet.git\n",
        fixture_line(),
        kh.display()
    );
    let c = config(dir.path(), &gitops, "");
    let (first, applier, _) = bootstrap(&api, &c, &GitopsOutputs::default()).await;
    let first = first.unwrap();
    let info = first.outputs.source.clone().unwrap();
    assert_eq!(info.url, "ssh://git@git.example.com/org/fleet.git");
    assert_eq!(info.auth, "ssh");
    let public = info.deploy_key.clone().unwrap();
    assert!(public.starts_with("ssh-ed25519 "), "{public}");
    let key_file = c.paths().secrets_dir().join("flux-deploy-key");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the deploy key is private: {mode:o}");
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(applier.client().clone(), "flux-system");
    let data = secrets.get("flux-system").await.unwrap().data.unwrap();
    assert_eq!(data["known_hosts"].0, host_key.as_bytes());
    assert_eq!(data["identity.pub"].0, public.as_bytes());
    assert_eq!(data["identity"].0, std::fs::read(&key_file).unwrap());
    let recorded = serde_json::to_string(&first.outputs).unwrap();
    assert!(!recorded.contains("PRIVATE KEY"), "{recorded}");
    // The key is kept: a second run applies nothing new.
    let (again, _, count) = bootstrap(&api, &c, &first.outputs).await;
    assert_eq!(again.unwrap().outputs, first.outputs);
    assert_eq!(count.writes(), 0);
}
