//! The `kube` crate against the stand-in: CRUD with the real error statuses, selectors and
//! paging, watcher, await_condition, discovery, finalizers, namespaces, authentication.

mod support;

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use support::{Options, api_err, start, start_with, within};

fn cm(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()},
        "data": {"k": "v"}
    }))
    .unwrap()
}

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
async fn watcher_sees_creates_updates_and_deletes() {
    let c = start().await;
    let client = c.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut events = watcher(
        cms.clone(),
        watcher::Config::default().labels("watched=yes"),
    )
    .boxed();
    // The initial list is empty apart from the Init markers.
    loop {
        if let watcher::Event::InitDone = within(30, "initial list", events.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            break;
        }
    }
    cms.create(&PostParams::default(), &cm("w", &[("watched", "yes")]))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &cm("ignored", &[("watched", "no")]))
        .await
        .unwrap();
    let ev = within(30, "create event", events.try_next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&ev, watcher::Event::Apply(o) if o.metadata.name.as_deref() == Some("w")),
        "{ev:?}"
    );
    cms.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "changed"}})),
    )
    .await
    .unwrap();
    let ev = within(30, "update event", events.try_next())
        .await
        .unwrap()
        .unwrap();
    match ev {
        watcher::Event::Apply(o) => assert_eq!(o.data.unwrap()["k"], "changed"),
        other => panic!("{other:?}"),
    }
    // Relabelled out of the selector: the watcher sees it go.
    cms.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"watched": "no"}}})),
    )
    .await
    .unwrap();
    let ev = within(30, "delete event", events.try_next())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(ev, watcher::Event::Delete(_)), "{ev:?}");
    c.server.shutdown().await;
}

#[tokio::test]
async fn streaming_lists_end_with_the_initial_events_bookmark() {
    let c = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    cms.create(&PostParams::default(), &cm("s1", &[("s", "y")]))
        .await
        .unwrap();
    let mut events = watcher(
        cms.clone(),
        watcher::Config::default().labels("s=y").streaming_lists(),
    )
    .boxed();
    let mut seen = Vec::new();
    loop {
        match within(30, "streaming list", events.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            watcher::Event::InitApply(o) => seen.push(o.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(seen, vec!["s1"]);
    c.server.shutdown().await;
}

#[tokio::test]
async fn deployment_becomes_available_for_await_condition() {
    let c = start().await;
    let deploys: Api<Deployment> = Api::namespaced(c.client().await, "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}
    }))
    .unwrap();
    let created = deploys.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let spec = created.spec.as_ref().unwrap();
    assert_eq!(
        spec.strategy.as_ref().unwrap().type_.as_deref(),
        Some("RollingUpdate")
    );
    assert_eq!(spec.revision_history_limit, Some(10));
    let done = within(
        60,
        "deployment rollout",
        await_condition(
            deploys.clone(),
            "web",
            conditions::is_deployment_completed(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    let st = done.status.unwrap();
    assert_eq!(
        (
            st.observed_generation,
            st.ready_replicas,
            st.available_replicas
        ),
        (Some(1), Some(2), Some(2))
    );
    let types: Vec<_> = st
        .conditions
        .unwrap()
        .into_iter()
        .map(|c| (c.type_, c.status, c.reason.unwrap()))
        .collect();
    assert!(types.contains(&(
        "Available".into(),
        "True".into(),
        "MinimumReplicasAvailable".into()
    )));

    // A spec change bumps the generation; a label change does not; an annotation does.
    let p = |v| Patch::Merge(v);
    let g = |d: Deployment| d.metadata.generation.unwrap();
    let after_spec = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &p(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(g(after_spec), 2);
    let after_label = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &p(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(g(after_label), 2);
    let after_annotation = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &p(json!({"metadata": {"annotations": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(g(after_annotation), 3);
    let done = within(
        60,
        "second rollout",
        await_condition(deploys.clone(), "web", |d: Option<&Deployment>| {
            d.and_then(|d| d.status.as_ref()).is_some_and(|s| {
                s.observed_generation == Some(3) && s.available_replicas == Some(3)
            })
        }),
    )
    .await
    .unwrap()
    .unwrap();
    // The status subresource is the only way to change status.
    let mut forged = done.clone();
    forged.status.as_mut().unwrap().replicas = Some(42);
    forged.metadata.managed_fields = None;
    // No resourceVersion: an unconditional update, so a concurrent status write cannot make
    // this a 409.
    forged.metadata.resource_version = None;
    let replaced = deploys
        .replace("web", &PostParams::default(), &forged)
        .await
        .unwrap();
    assert_eq!(replaced.status.unwrap().replicas, Some(3));
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
async fn namespaces_start_with_the_system_ones_and_terminate_with_their_content() {
    let c = start().await;
    let client = c.client().await;
    let nss: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = nss
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| n.metadata.name.unwrap())
        .collect();
    for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(names.contains(&n.to_string()), "{n} missing from {names:?}");
    }
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "doomed"}})).unwrap();
    let ns = nss.create(&PostParams::default(), &ns).await.unwrap();
    assert_eq!(
        ns.metadata.labels.unwrap()["kubernetes.io/metadata.name"],
        "doomed"
    );
    assert_eq!(ns.spec.unwrap().finalizers.unwrap(), vec!["kubernetes"]);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    cms.create(&PostParams::default(), &cm("plain", &[]))
        .await
        .unwrap();
    let mut held = cm("held", &[]);
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &held).await.unwrap();

    let deleting = nss
        .delete("doomed", &DeleteParams::background())
        .await
        .unwrap();
    let deleting = deleting
        .left()
        .expect("the namespace stays while Terminating");
    assert_eq!(
        deleting.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    // The plain object goes; the held one is only marked; nothing new may be created.
    within(
        30,
        "content removed",
        await_condition(cms.clone(), "plain", conditions::is_deleted("")),
    )
    .await
    .unwrap();
    let marked = within(
        30,
        "held marked",
        await_condition(cms.clone(), "held", |o: Option<&ConfigMap>| {
            o.is_some_and(|o| o.metadata.deletion_timestamp.is_some())
        }),
    )
    .await
    .unwrap()
    .unwrap();
    let refused = api_err(
        cms.create(&PostParams::default(), &cm("late", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!((refused.code, refused.reason.as_str()), (403, "Forbidden"));
    assert!(
        refused.message.contains("because it is being terminated"),
        "{}",
        refused.message
    );
    // The namespace controller reports the finalizer holding the namespace.
    let ns_now = within(
        30,
        "finalizers condition",
        await_condition(nss.clone(), "doomed", |n: Option<&Namespace>| {
            let conds = n
                .and_then(|n| n.status.as_ref())
                .and_then(|s| s.conditions.as_ref());
            conds.is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "NamespaceFinalizersRemaining" && c.status == "True")
            })
        }),
    )
    .await
    .unwrap()
    .unwrap();
    let conds = ns_now.status.unwrap().conditions.unwrap();
    let fin = conds
        .iter()
        .find(|c| c.type_ == "NamespaceFinalizersRemaining")
        .unwrap();
    assert_eq!(
        fin.message.as_deref(),
        Some(
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        )
    );

    // Removing the last finalizer deletes the object, and then the namespace.
    let uid = marked.metadata.uid.clone().unwrap();
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    within(
        30,
        "namespace gone",
        await_condition(
            nss.clone(),
            "doomed",
            conditions::is_deleted(ns_now.metadata.uid.as_deref().unwrap()),
        ),
    )
    .await
    .unwrap();
    assert!(
        cms.get_opt("held").await.unwrap().is_none(),
        "{uid} should be gone"
    );
    c.server.shutdown().await;
}

#[tokio::test]
async fn finalizers_hold_objects_until_removed() {
    let c = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let mut o = cm("fin", &[]);
    o.metadata.finalizers = Some(vec!["example.com/keep".into()]);
    cms.create(&PostParams::default(), &o).await.unwrap();
    let first = cms.delete("fin", &DeleteParams::default()).await.unwrap();
    let marked = first.left().expect("still there");
    assert!(marked.metadata.deletion_timestamp.is_some());
    let added = api_err(
        cms.patch(
            "fin",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"finalizers": ["example.com/keep", "example.com/more"]}}),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(added.code, 422);
    cms.patch(
        "fin",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": []}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("fin").await.unwrap().is_none());
    c.server.shutdown().await;
}

#[tokio::test]
async fn services_get_cluster_ips_from_the_service_cidr() {
    let c = start().await;
    let svcs: Api<Service> = Api::namespaced(c.client().await, "default");
    let k = svcs.get("kubernetes").await.unwrap();
    assert_eq!(k.spec.unwrap().cluster_ip.as_deref(), Some("10.43.0.1"));
    let s: Service = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})).unwrap();
    let s = svcs.create(&PostParams::default(), &s).await.unwrap();
    let spec = s.spec.unwrap();
    let ip: std::net::Ipv4Addr = spec.cluster_ip.as_deref().unwrap().parse().unwrap();
    assert_eq!(&ip.octets()[..2], &[10, 43]);
    assert_eq!(spec.cluster_ips.unwrap(), vec![ip.to_string()]);
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    let port = &spec.ports.unwrap()[0];
    assert_eq!(
        (port.protocol.as_deref(), port.target_port.clone()),
        (
            Some("TCP"),
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80))
        )
    );
    let taken: Service = serde_json::from_value(json!({"metadata": {"name": "dup"}, "spec": {"clusterIP": ip.to_string(), "ports": [{"port": 80}]}})).unwrap();
    let e = api_err(
        svcs.create(&PostParams::default(), &taken)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert!(
        e.message.contains("provided IP is already allocated"),
        "{}",
        e.message
    );
    c.server.shutdown().await;
}

#[tokio::test]
async fn watch_from_a_compacted_revision_is_an_in_stream_410() {
    let c = start_with(Options {
        compaction_window: 5,
        ..Options::default()
    })
    .await;
    let client = c.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(&PostParams::default(), &cm("churn", &[]))
        .await
        .unwrap();
    for i in 0..20 {
        cms.patch(
            "churn",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": i.to_string()}})),
        )
        .await
        .unwrap();
    }
    let mut stream = cms
        .watch(&WatchParams::default(), "1")
        .await
        .unwrap()
        .boxed();
    match within(30, "watch answer", stream.try_next()).await.unwrap() {
        Some(WatchEvent::Error(e)) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(
                e.message.starts_with("too old resource version: 1 ("),
                "{}",
                e.message
            );
        }
        other => panic!("expected an ERROR event, got {other:?}"),
    }
    // A list at the old revision is 410 too.
    let old = api_err(
        cms.list(&ListParams::default().limit(1).at("1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(old.code, 410);
    // kube-runtime's watcher recovers by relisting.
    let events = watcher(cms.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    let first = within(30, "watcher after 410", events.take(1).collect::<Vec<_>>()).await;
    assert!(first[0].is_ok());
    c.server.shutdown().await;
}

#[tokio::test]
async fn bookmarks_carry_kind_and_resource_version() {
    let c = start_with(Options {
        bookmark_interval: std::time::Duration::from_millis(50),
        ..Options::default()
    })
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let created = cms
        .create(&PostParams::default(), &cm("b", &[]))
        .await
        .unwrap();
    let rv = created.metadata.resource_version.unwrap();
    let mut stream = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    let patched = cms
        .patch(
            "b",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "2"}})),
        )
        .await
        .unwrap();
    let patched_rv: i64 = patched.metadata.resource_version.unwrap().parse().unwrap();
    let mut saw_modified = false;
    loop {
        match within(30, "bookmark", stream.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            WatchEvent::Modified(_) => saw_modified = true,
            WatchEvent::Bookmark(b) => {
                assert_eq!(
                    (b.types.kind.as_str(), b.types.api_version.as_str()),
                    ("ConfigMap", "v1")
                );
                let brv: i64 = b.metadata.resource_version.parse().unwrap();
                assert!(brv >= rv.parse::<i64>().unwrap());
                // A bookmark at or past the patch must come after the patch's event.
                if brv >= patched_rv {
                    assert!(
                        saw_modified,
                        "the bookmark must not pass an undelivered event"
                    );
                    break;
                }
            }
            other => panic!("{other:?}"),
        }
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
