//! Bootstrapping the Argo CD-shaped fixture on the stand-in's API server: the `argocd`
//! Namespace made and every namespaced object put in it, the CRDs Established, the
//! Deployments Available and the StatefulSet ready, the interval and known_hosts written
//! into Argo CD's ConfigMaps, the repository Secret and the root Application as Argo CD
//! reads them; a re-run sends no writes; the wait fails on an error condition naming its
//! message and succeeds once Synced and Healthy (the status written as a controller would).

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams};
use serde_json::json;

use platform::phases::gitops::argocd::{self, reference, wait_synced};
use platform::phases::gitops::{GitopsOutputs, TIMEOUT};

use super::{ApiServer, argocd_lines, bootstrap, config};

/// An SSH repository with a known_hosts file, so the repository Secret and known hosts
/// are written.
fn ssh_lines(dir: &std::path::Path) -> String {
    let known = dir.join("known_hosts");
    std::fs::write(
        &known,
        "git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey\n",
    )
    .unwrap();
    format!(
        "{}  repository: ssh://git@git.example.com/fleet.git\n  known_hosts: '{}'\n  interval: 30s\n",
        argocd_lines(),
        known.display()
    )
}

#[tokio::test]
async fn the_fixture_installs_into_argocd_and_a_rerun_writes_nothing() {
    let api = ApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), &ssh_lines(dir.path()), "");
    let (first, applier, count) = bootstrap(&api, &c, &GitopsOutputs::default()).await;
    let first = first.unwrap();
    // The 37 objects of the fixture and the Namespace platform adds.
    assert_eq!(first.installed.created, 38);
    assert_eq!(first.outputs.controller, "argocd");
    assert_eq!(first.outputs.version, "manifests");
    // The repository Secret and the Application.
    assert_eq!(first.controller_writes, 2);
    assert_eq!(count.writes(), 40);
    let client = applier.client().clone();
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "argocd");
    let set = sets.get("argocd-application-controller").await.unwrap();
    assert_eq!(set.status.unwrap().ready_replicas, Some(1));
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "argocd");
    let cm = cms.get("argocd-cm").await.unwrap().data.unwrap();
    assert_eq!(cm["timeout.reconciliation"], "30s");
    let known = cms
        .get("argocd-ssh-known-hosts-cm")
        .await
        .unwrap()
        .data
        .unwrap();
    assert!(
        known["ssh_known_hosts"]
            .contains("git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey"),
        "{known:?}"
    );
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "argocd");
    let repo = secrets.get(argocd::REPO_SECRET).await.unwrap();
    assert_eq!(
        repo.metadata.labels.unwrap()["argocd.argoproj.io/secret-type"],
        "repository"
    );
    let data = repo.data.unwrap();
    assert_eq!(data["url"].0, b"ssh://git@git.example.com/fleet.git");
    assert_eq!(data["type"].0, b"git");
    assert!(
        String::from_utf8_lossy(&data["sshPrivateKey"].0).contains("OPENSSH PRIVATE KEY"),
        "the deploy key"
    );
    let apps = applier.api_of(&reference()).unwrap();
    let app = apps.get(argocd::APP).await.unwrap();
    let spec = &app.data["spec"];
    assert_eq!(
        spec["source"]["repoURL"],
        "ssh://git@git.example.com/fleet.git"
    );
    assert_eq!(spec["source"]["targetRevision"], "main");
    assert_eq!(spec["source"]["path"], "clusters/demo");
    assert_eq!(
        spec["destination"]["server"],
        "https://kubernetes.default.svc"
    );
    assert_eq!(
        spec["syncPolicy"]["automated"],
        json!({"prune": true, "selfHeal": true})
    );
    assert_eq!(
        spec["syncPolicy"]["syncOptions"],
        json!(["CreateNamespace=true"])
    );

    let (again, _, count) = bootstrap(&api, &c, &first.outputs).await;
    let again = again.unwrap();
    assert_eq!(again.installed.unchanged, 38);
    assert_eq!((again.controller_writes, count.writes()), (0, 0));

    // A new interval changes argocd-cm, which Argo CD reads when it starts: the controller
    // and the repo server are restarted, once.
    let restarted = |s: &StatefulSet| {
        s.spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .clone()
            .unwrap_or_default()
    };
    assert!(
        !restarted(&sets.get("argocd-application-controller").await.unwrap())
            .contains_key("kubectl.kubernetes.io/restartedAt")
    );
    let slower = config(
        dir.path(),
        &ssh_lines(dir.path()).replace("interval: 30s", "interval: 2m"),
        "",
    );
    let (third, _, count) = bootstrap(&api, &slower, &again.outputs).await;
    assert_eq!(third.unwrap().installed.configured, 1);
    // argocd-cm, then the two restarts.
    assert_eq!(count.writes(), 3);
    assert!(
        restarted(&sets.get("argocd-application-controller").await.unwrap())
            .contains_key("kubectl.kubernetes.io/restartedAt")
    );
    let (fourth, _, count) = bootstrap(&api, &slower, &GitopsOutputs::default()).await;
    assert_eq!(
        (fourth.unwrap().installed.unchanged, count.writes()),
        (38, 0)
    );
}

/// Writes the Application's status as Argo CD's controller does after a refresh (the whole
/// object: the CRD has no status subresource), removing the refresh request.
async fn controller_writes(apps: &Api<DynamicObject>, status: serde_json::Value) {
    let patch = json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": null}},
        "status": status});
    apps.patch(argocd::APP, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

/// Answers refresh requests with `status` until `stop` is dropped.
fn play_controller(
    apps: Api<DynamicObject>,
    status: serde_json::Value,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let app = apps.get(argocd::APP).await.unwrap();
            let asked = app
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key("argocd.argoproj.io/refresh"));
            if asked {
                controller_writes(&apps, status.clone()).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
}

#[tokio::test]
async fn the_wait_names_argo_cds_condition_and_reports_the_synced_commit() {
    let api = ApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), &argocd_lines(), "");
    let (done, applier, _) = bootstrap(&api, &c, &GitopsOutputs::default()).await;
    assert_eq!(
        done.unwrap().controller_writes,
        1,
        "no Secret for a public repository"
    );
    let apps = applier.api_of(&reference()).unwrap();
    let spec = apps.get(argocd::APP).await.unwrap().data["spec"].clone();
    // What Argo CD records as compared: the spec's source and destination.
    let compared = json!({"source": spec["source"], "destination": spec["destination"]});

    let message = "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = unable to resolve 'main' to a commit SHA";
    let controller = play_controller(
        apps.clone(),
        json!({"sync": {"status": "Unknown", "comparedTo": compared.clone()},
            "health": {"status": "Healthy"},
            "conditions": [{"type": "ComparisonError", "message": message}]}),
    );
    let e = wait_synced(&applier, "main", true, TIMEOUT)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!("Application argocd/root is not Synced and Healthy: ComparisonError: {message}")
    );
    controller.abort();

    // An earlier verdict is not taken for this run's: the refresh is answered first.
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let controller = play_controller(
        apps.clone(),
        json!({"sync": {"status": "Synced", "revision": sha, "comparedTo": compared},
            "health": {"status": "Healthy"},
            "conditions": null, "operationState": {"phase": "Succeeded"}}),
    );
    let rev = wait_synced(&applier, "main", false, TIMEOUT).await.unwrap();
    assert_eq!(rev, format!("main@sha1:{sha}"));
    controller.abort();
    // Synced and unchanged: no refresh is requested, so nothing is written.
    let (client, count) = api.client().await;
    let applier = platform::kube::apply::Applier::new(client).await.unwrap();
    let rev = wait_synced(&applier, "main", false, TIMEOUT).await.unwrap();
    assert_eq!((rev, count.writes()), (format!("main@sha1:{sha}"), 0));
}
