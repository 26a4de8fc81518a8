//! The `kube` crate against the stand-in: CRUD with the real error statuses, selectors and
//! paging, discovery, authentication.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod support;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::{Options, api_err, configmap as cm, start, start_with};

#[tokio::test]
async fn crud_answers_like_the_real_server() {
    let c = start().await;
    let client = c.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let pp = PostParams {
        field_manager: Some("tester".into()),
        ..Default::default()
    };
    let created = cms.create(&pp, &cm("one", &[("app", "a")])).await.unwrap();
    let md = &created.metadata;
    assert!(md.uid.is_some() && md.creation_timestamp.is_some());
    let rv1: i64 = md.resource_version.as_deref().unwrap().parse().unwrap();
    let mf = md.managed_fields.as_ref().unwrap();
    assert_eq!(mf[0].manager.as_deref(), Some("tester"));
    assert_eq!(mf[0].operation.as_deref(), Some("Update"));
    assert_eq!(
        mf[0].fields_v1.as_ref().unwrap().0,
        json!({"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}})
    );

    // AlreadyExists, NotFound.
    let dup = api_err(cms.create(&pp, &cm("one", &[])).await.unwrap_err());
    assert_eq!((dup.code, dup.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(dup.message, "configmaps \"one\" already exists");
    let missing = api_err(cms.get("nope").await.unwrap_err());
    assert!(missing.is_not_found());
    assert_eq!(missing.message, "configmaps \"nope\" not found");
    assert!(cms.get_opt("nope").await.unwrap().is_none());

    // Merge patch, then a replace with the stale resourceVersion: 409 Conflict.
    let patched = cms
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "v2"}})),
        )
        .await
        .unwrap();
    let rv2: i64 = patched
        .metadata
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1);
    let mut stale = created.clone();
    stale.data = Some(BTreeMap::from([("k".into(), "v3".into())]));
    let conflict = api_err(cms.replace("one", &pp, &stale).await.unwrap_err());
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        conflict.message,
        "Operation cannot be fulfilled on configmaps \"one\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // A namespace that does not exist.
    let other: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
    let nf = api_err(other.create(&pp, &cm("x", &[])).await.unwrap_err());
    assert_eq!(
        (nf.code, nf.message.as_str()),
        (404, "namespaces \"nowhere\" not found")
    );

    // Invalid names are 422 with the validation message.
    let bad = api_err(cms.create(&pp, &cm("Bad_Name", &[])).await.unwrap_err());
    assert_eq!((bad.code, bad.reason.as_str()), (422, "Invalid"));
    assert!(
        bad.message.starts_with(
            "ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\""
        ),
        "{}",
        bad.message
    );

    // Delete answers a Status; the object is gone.
    let deleted = cms.delete("one", &DeleteParams::default()).await.unwrap();
    assert!(deleted.is_right());
    assert!(cms.get_opt("one").await.unwrap().is_none());
    c.server.shutdown().await;
}

#[tokio::test]
async fn selectors_and_paging() {
    let c = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let pp = PostParams::default();
    for (i, tier) in ["front", "front", "back", "back", "db", "db", "db"]
        .iter()
        .enumerate()
    {
        let mut labels = vec![("tier", *tier)];
        if i % 2 == 0 {
            labels.push(("even", "yes"));
        }
        cms.create(&pp, &cm(&format!("cm-{i}"), &labels))
            .await
            .unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        l.items
            .into_iter()
            .map(|c| c.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };
    let sel = |s: &str| ListParams::default().labels(s);
    assert_eq!(
        names(cms.list(&sel("tier=front")).await.unwrap()),
        vec!["cm-0", "cm-1"]
    );
    assert_eq!(
        names(cms.list(&sel("tier==back")).await.unwrap()),
        vec!["cm-2", "cm-3"]
    );
    assert_eq!(cms.list(&sel("tier!=db")).await.unwrap().items.len(), 4);
    assert_eq!(
        names(cms.list(&sel("tier in (back,db),even")).await.unwrap()),
        vec!["cm-2", "cm-4", "cm-6"]
    );
    assert_eq!(
        names(cms.list(&sel("tier notin (db,back)")).await.unwrap()),
        vec!["cm-0", "cm-1"]
    );
    assert_eq!(cms.list(&sel("!even,tier")).await.unwrap().items.len(), 3);
    let by_name = cms
        .list(&ListParams::default().fields("metadata.name=cm-3"))
        .await
        .unwrap();
    assert_eq!(names(by_name), vec!["cm-3"]);
    let bad = api_err(
        cms.list(&ListParams::default().fields("data.k=v"))
            .await
            .unwrap_err(),
    );
    assert_eq!(bad.code, 400);

    // Pages of 3 share one resourceVersion, even with writes between them.
    let first = cms
        .list(&ListParams::default().labels("tier").limit(3))
        .await
        .unwrap();
    let rv = first.metadata.resource_version.clone().unwrap();
    let token = first.metadata.continue_.clone().expect("a continue token");
    cms.create(&pp, &cm("cm-99", &[("tier", "late")]))
        .await
        .unwrap();
    let second = cms
        .list(
            &ListParams::default()
                .labels("tier")
                .limit(3)
                .continue_token(&token),
        )
        .await
        .unwrap();
    assert_eq!(
        second.metadata.resource_version.as_deref(),
        Some(rv.as_str())
    );
    let third = cms
        .list(
            &ListParams::default()
                .labels("tier")
                .limit(3)
                .continue_token(second.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    let mut all = names(first);
    all.extend(names(second));
    all.extend(names(third.clone()));
    assert_eq!(
        all,
        (0..7).map(|i| format!("cm-{i}")).collect::<Vec<_>>(),
        "cm-99 came after the snapshot"
    );
    assert!(third.metadata.continue_.is_none());

    // deletecollection removes exactly what the selector picks.
    let gone = cms
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("tier=db"),
        )
        .await
        .unwrap();
    let gone = gone.left().expect("the deleted objects");
    assert_eq!(names(gone), vec!["cm-4", "cm-5", "cm-6"]);
    assert_eq!(cms.list(&sel("tier")).await.unwrap().items.len(), 5);
    c.server.shutdown().await;
}

#[tokio::test]
async fn discovery_run_finds_groups_kinds_and_verbs() {
    let c = start().await;
    let discovery = kube::discovery::Discovery::new(c.client().await)
        .run()
        .await
        .unwrap();
    let apps = discovery.get("apps").expect("apps group");
    let (ar, caps) = apps.recommended_kind("Deployment").expect("Deployment");
    assert_eq!(
        (ar.plural.as_str(), ar.version.as_str()),
        ("deployments", "v1")
    );
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    assert!(caps.supports_operation(kube::discovery::verbs::WATCH));
    assert!(
        caps.subresources
            .iter()
            .any(|(sr, _)| sr.plural == "status")
    );
    let core = discovery.get("").expect("core group");
    let (ns, caps) = core.recommended_kind("Namespace").unwrap();
    assert_eq!(
        (ns.plural.as_str(), caps.scope.clone()),
        ("namespaces", kube::discovery::Scope::Cluster)
    );
    for g in [
        "batch",
        "rbac.authorization.k8s.io",
        "apiextensions.k8s.io",
        "coordination.k8s.io",
        "networking.k8s.io",
        "policy",
        "storage.k8s.io",
        "scheduling.k8s.io",
        "admissionregistration.k8s.io",
        "apiregistration.k8s.io",
    ] {
        assert!(discovery.has_group(g), "{g} missing");
    }
    c.server.shutdown().await;
}

#[tokio::test]
async fn anonymous_is_401_and_tokens_authenticate() {
    let c = start_with(Options {
        tokens: vec![("tok-123".into(), "system:serviceaccount:default:bot".into())],
        ..Options::default()
    })
    .await;
    let anon = c.client_without_cert(None).await;
    let e = api_err(
        Api::<ConfigMap>::namespaced(anon, "default")
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (e.code, e.reason.as_str(), e.message.as_str()),
        (401, "Unauthorized", "Unauthorized")
    );
    let wrong = c.client_without_cert(Some("nope")).await;
    assert_eq!(
        api_err(wrong.apiserver_version().await.unwrap_err()).code,
        401
    );
    let bot = c.client_without_cert(Some("tok-123")).await;
    let v = bot.apiserver_version().await.unwrap();
    assert_eq!(v.git_version, "v1.33.1+k3s1");
    assert!(
        Api::<ConfigMap>::namespaced(bot, "default")
            .list(&ListParams::default())
            .await
            .is_ok()
    );
    c.server.shutdown().await;
}
