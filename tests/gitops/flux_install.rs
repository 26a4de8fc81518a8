//! Bootstrapping the Flux-shaped fixture on the stand-in: two stages with every CRD
//! Established and every Deployment Available, the postgres Secrets (their `ca.crt` read back
//! by real kubectl too) and Flux's source objects; a re-run sends no writes (counted at the
//! client); a changed manifest set deletes what it no longer has.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;

use platform::phases::gitops::GitopsOutputs;

use super::{ApiServer, bootstrap, config, fixture_line};

const SECRETS: &str = "postgres:\n  databases: [kong, atlas]\n  secrets:\n    - {namespace: kong, database: kong, name: kong-postgres}\n";

#[tokio::test]
async fn the_fixture_installs_in_stages_and_a_rerun_writes_nothing() {
    let api = ApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), &fixture_line(), SECRETS);
    let (first, applier, count) = bootstrap(&api, &c, &GitopsOutputs::default()).await;
    let first = first.unwrap();
    let i = &first.installed;
    assert_eq!(
        (i.created, i.configured, i.unchanged, i.deleted),
        (17, 0, 0, 0)
    );
    assert_eq!(first.outputs.inventory.len(), 17);
    assert!(
        first.outputs.inventory[..3]
            .iter()
            .all(|r| r.is_cluster_definition())
    );
    // Secret kong-postgres, GitRepository, Kustomization (anonymous https: no flux Secret).
    assert_eq!(first.source_writes, 3);
    // 17 applies, the namespace kong, the Secret and the two Flux objects.
    assert_eq!(count.writes(), 21);

    let client = applier.client().clone();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in [
        "gitrepositories.source.toolkit.fluxcd.io",
        "kustomizations.kustomize.toolkit.fluxcd.io",
    ] {
        let crd = crds.get(name).await.unwrap();
        let established = crd.status.unwrap().conditions.unwrap_or_default();
        assert!(
            established
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True"),
            "{name}"
        );
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "flux-system");
    let listed = deployments.list(&Default::default()).await.unwrap();
    assert_eq!(listed.items.len(), 4);
    for d in &listed.items {
        let available = d.status.as_ref().unwrap().conditions.as_ref().unwrap();
        assert!(
            available
                .iter()
                .any(|c| c.type_ == "Available" && c.status == "True")
        );
        let fm = d.metadata.managed_fields.as_ref().unwrap();
        assert!(
            fm.iter().any(|m| m.manager.as_deref() == Some("platform")
                && m.operation.as_deref() == Some("Apply"))
        );
    }

    // The postgres Secret, in a namespace created for it; the password only there.
    let ns: Api<Namespace> = Api::all(client.clone());
    assert!(ns.get_opt("kong").await.unwrap().is_some());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kong");
    let s = secrets.get("kong-postgres").await.unwrap();
    let data = s.data.unwrap();
    let text = |k: &str| String::from_utf8(data[k].0.clone()).unwrap();
    let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "ca.crt", "database", "host", "password", "port", "sslmode", "uri", "username"
        ]
    );
    let roots = platform::phases::infra::ca::azure().unwrap();
    assert_eq!(text("ca.crt"), roots.pem());
    assert_eq!(text("host"), "demo-pg.private.postgres.database.azure.com");
    assert_eq!(text("port"), "5432");
    assert_eq!(text("database"), "kong");
    assert_eq!(text("username"), "platformadmin");
    assert_eq!(text("password"), super::PASSWORD);
    assert_eq!(text("sslmode"), "verify-full");
    assert_eq!(
        text("uri"),
        "postgresql://platformadmin:Pg-s3cret%2Fwith%3Aodd%40chars7-@demo-pg.private.postgres.database.azure.com:5432/kong?sslmode=verify-full"
    );
    let recorded = serde_json::to_string(&first.outputs).unwrap();
    assert!(!recorded.contains("s3cret"), "{recorded}");

    // Flux's source objects as flux bootstrap writes them.
    let (gr, ks) = flux_objects(&applier).await;
    assert_eq!(gr["spec"]["url"], "https://git.example.com/fleet.git");
    assert_eq!(gr["spec"]["ref"]["branch"], "main");
    assert_eq!(gr["spec"]["interval"], "1m");
    assert!(gr["spec"].get("secretRef").is_none());
    assert_eq!(ks["spec"]["path"], "./clusters/demo");
    assert_eq!(ks["spec"]["prune"], true);
    assert_eq!(ks["spec"]["sourceRef"]["kind"], "GitRepository");

    // The same config again, with a fresh client: reads and dry runs only.
    let (again, _, count) = bootstrap(&api, &c, &first.outputs).await;
    let again = again.unwrap();
    let i = &again.installed;
    assert_eq!(
        (i.created, i.configured, i.unchanged, i.deleted),
        (0, 0, 17, 0)
    );
    assert_eq!(again.source_writes, 0);
    assert_eq!(count.writes(), 0, "a no-op re-run sent writes");
    assert_eq!(again.outputs, first.outputs);
}

/// The postgres Secret as a peer reads it: real kubectl's `ca.crt` is the CA bundle infra
/// recorded, the three Azure roots in order.
#[tokio::test]
async fn kubectl_reads_the_ca_bundle_of_the_postgres_secret() {
    use base64::Engine as _;
    if !support::require(&[support::Need::Command("kubectl")]) {
        return;
    }
    let api = ApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), &fixture_line(), SECRETS);
    let (done, _, _) = bootstrap(&api, &c, &GitopsOutputs::default()).await;
    done.unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, &api.kubeconfig).unwrap();
    // tokio's process: the API server runs on this test's runtime and must keep answering.
    let out = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["get", "secret", "-n", "kong", "kong-postgres"])
        .args(["-o", "jsonpath={.data.ca\\.crt}"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let pem = base64::engine::general_purpose::STANDARD
        .decode(out.stdout.trim_ascii())
        .unwrap();
    let pem = String::from_utf8(pem).unwrap();
    let roots = platform::phases::infra::ca::azure().unwrap();
    assert_eq!(pem, roots.pem());
    let fingerprints: Vec<String> = platform::certs::parse_bundle(&pem)
        .unwrap()
        .into_iter()
        .map(|c| c.sha256)
        .collect();
    assert_eq!(
        fingerprints,
        [
            "cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f",
            "c741f70f4b2a8d88bf2e71c14122ef53ef10eba0cfa5e64cfa20f418853073e0",
            "4348a0e9444c78cb265e058d5e8944b4d84f9662bd26db257f8934a443c70161",
        ]
    );
}

/// The GitRepository and Kustomization `flux-system`, as JSON.
async fn flux_objects(
    applier: &platform::kube::apply::Applier,
) -> (serde_json::Value, serde_json::Value) {
    use platform::phases::gitops::source::reference;
    let mut out = Vec::new();
    for kind in ["GitRepository", "Kustomization"] {
        let api = applier.api_of(&reference(kind)).unwrap();
        out.push(serde_json::to_value(api.get("flux-system").await.unwrap()).unwrap());
    }
    let ks = out.pop().unwrap();
    (out.pop().unwrap(), ks)
}

#[tokio::test]
async fn a_changed_set_deletes_what_it_no_longer_has() {
    let api = ApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), &fixture_line(), SECRETS);
    let (first, _, _) = bootstrap(&api, &c, &GitopsOutputs::default()).await;
    let first = first.unwrap();

    // A "new release": no helm-controller (its ServiceAccount and Deployment), and one
    // changed argument on the source-controller.
    let text = std::fs::read_to_string(super::fixture()).unwrap();
    let docs: Vec<&str> = text
        .split("\n---\n")
        .filter(|d| !(d.contains("name: helm-controller\n  namespace: flux-system")))
        .collect();
    let next = docs
        .join("\n---\n")
        .replacen("--log-level=info", "--log-level=debug", 1);
    let newer = dir.path().join("flux-next.yaml");
    std::fs::write(&newer, next).unwrap();
    let other = "postgres:\n  databases: [kong, atlas]\n  secrets:\n    - {namespace: atlas, database: atlas, name: atlas-postgres}\n";
    let c2 = config(
        dir.path(),
        &format!("  manifests: '{}'\n", newer.display()),
        other,
    );
    let (second, applier, count) = bootstrap(&api, &c2, &first.outputs).await;
    let second = second.unwrap();
    let i = &second.installed;
    assert_eq!(
        (i.created, i.configured, i.unchanged, i.deleted),
        (0, 1, 14, 2)
    );
    assert_eq!(second.outputs.inventory.len(), 15);
    assert_eq!(second.secrets_deleted, 1);
    let client = applier.client().clone();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "flux-system");
    assert!(
        deployments
            .get_opt("helm-controller")
            .await
            .unwrap()
            .is_none()
    );
    let sa: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), "flux-system");
    assert!(sa.get_opt("helm-controller").await.unwrap().is_none());
    let kong: Api<Secret> = Api::namespaced(client.clone(), "kong");
    assert!(kong.get_opt("kong-postgres").await.unwrap().is_none());
    let atlas: Api<Secret> = Api::namespaced(client.clone(), "atlas");
    assert!(atlas.get_opt("atlas-postgres").await.unwrap().is_some());
    // The namespace platform created for a Secret stays (it may hold applications).
    let ns: Api<Namespace> = Api::all(client);
    assert!(ns.get_opt("kong").await.unwrap().is_some());
    // 1 configured + 2 deleted + 1 Secret created + 1 Secret deleted + 1 namespace created.
    assert_eq!(count.writes(), 6);
}
