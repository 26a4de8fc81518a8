//! The phase's entry point, as `platform up` calls it: the client from the state
//! directory's kubeconfig, the bootstrap, then the Ready wait, with a task standing in for
//! Flux's controllers (it waits, through watches, for the objects platform creates and
//! writes their status).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ApiResource, DynamicObject};
use kube::core::GroupVersionKind;
use kube::runtime::wait::{await_condition, conditions};
use serde_json::json;

use platform::output::Progress;
use platform::state::State;

use super::{ApiServer, config, fixture_line};

const REV: &str = "main@sha1:89abcdef0123456789abcdef0123456789abcdef";

/// Plays Flux's controllers once: when `kind` flux-system exists, sets its Ready condition.
async fn controller(client: kube::Client, kind: &str, ready: &str, message: &str) {
    let (group, plural) = match kind {
        "GitRepository" => ("source.toolkit.fluxcd.io", "gitrepositories"),
        _ => ("kustomize.toolkit.fluxcd.io", "kustomizations"),
    };
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    await_condition(
        crds,
        &format!("{plural}.{group}"),
        conditions::is_crd_established(),
    )
    .await
    .unwrap();
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural);
    let api: Api<DynamicObject> = Api::namespaced_with(client, "flux-system", &ar);
    await_condition(api.clone(), "flux-system", conditions::is_created())
        .await
        .unwrap();
    let extra = match kind {
        "GitRepository" => json!({"artifact": {"revision": REV, "path": "p", "url": "http://x/p",
            "lastUpdateTime": "2026-01-01T00:00:00Z"}}),
        _ => json!({"lastAppliedRevision": REV}),
    };
    super::set_status(&api, kind, ready, message, extra).await;
    // A verdict the phase took for one left over from before is asked for again: answer it.
    if ready == "False" {
        super::answer_requests(api, kind, ready, message, std::time::Duration::from_secs(5)).await;
    }
}

/// A config whose state directory has the stand-in's kubeconfig.
fn phase_config(api: &ApiServer, dir: &std::path::Path, gitops: &str) -> platform::config::Config {
    let c = config(dir, &format!("{}{gitops}", fixture_line()), "");
    std::fs::write(c.paths().kubeconfig(), &api.kubeconfig).unwrap();
    c
}

#[tokio::test]
async fn up_reports_the_revision_once_source_and_sync_are_ready() {
    let api = ApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let c = phase_config(&api, dir.path(), "");
    let (client, _) = api.client().await;
    let flux = tokio::spawn(async move {
        controller(client.clone(), "GitRepository", "True", "stored artifact").await;
        controller(
            client,
            "Kustomization",
            "True",
            &format!("Applied revision: {REV}"),
        )
        .await;
    });
    let out = platform::phases::gitops::run(&c, &State::new("demo"), &Progress::discard())
        .await
        .unwrap();
    flux.await.unwrap();
    assert_eq!(out["revision"], REV);
    assert_eq!(out["controller"], "flux");
    assert_eq!(out["version"], "manifests");
    assert_eq!(out["inventory"].as_array().unwrap().len(), 17);
    assert_eq!(out["source"]["url"], "https://git.example.com/fleet.git");
}

#[tokio::test]
async fn up_fails_naming_the_source_condition_message() {
    let api = ApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let c = phase_config(&api, dir.path(), "  branch: nope\n");
    let (client, _) = api.client().await;
    let message = "couldn't find remote ref \"refs/heads/nope\"";
    let flux = tokio::spawn(async move {
        controller(client, "GitRepository", "False", message).await;
    });
    let e = platform::phases::gitops::run(&c, &State::new("demo"), &Progress::discard())
        .await
        .unwrap_err()
        .to_string();
    flux.await.unwrap();
    assert!(
        e.contains(&format!(
            "GitRepository flux-system/flux-system is not Ready: {message}"
        )),
        "{e}"
    );
}
