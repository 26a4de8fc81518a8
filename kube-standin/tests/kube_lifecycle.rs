//! Object lifecycles through the `kube` crate: workload status for await_condition,
//! generation, namespaces terminating with their content, finalizers, Service IPs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::json;
use support::{api_err, configmap as cm, start, within};

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
