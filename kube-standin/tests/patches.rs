//! Server-side apply and the other patches through the `kube` crate: ownership per field,
//! conflicts in apimachinery's words, force, release of fields a manager stops applying,
//! list-map keys, no write for an unchanged apply, strategic merge, JSON patch, dry runs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::{api_err, start};

fn deployment(replicas: i64, containers: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}}})
}

fn fields_of(d: &Deployment, manager: &str) -> Value {
    d.metadata
        .managed_fields
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.manager.as_deref() == Some(manager))
        .and_then(|m| m.fields_v1.as_ref())
        .map(|f| f.0.clone())
        .unwrap_or(Value::Null)
}

fn container_names(d: &Deployment) -> Vec<String> {
    let spec = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    spec.containers.iter().map(|c| c.name.clone()).collect()
}

fn apply(manager: &str) -> PatchParams {
    PatchParams::apply(manager)
}

#[tokio::test]
async fn apply_owns_fields_conflicts_and_forces() {
    let c = start().await;
    let deploys: Api<Deployment> = Api::namespaced(c.client().await, "default");
    let web = json!([{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]);
    let first = deploys
        .patch(
            "web",
            &apply("alice"),
            &Patch::Apply(deployment(2, web.clone())),
        )
        .await
        .unwrap();
    assert_eq!(first.metadata.generation, Some(1));
    assert_eq!(
        fields_of(&first, "alice"),
        json!({"f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {"f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {},
                "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}}}}}})
    );
    let mf = first.metadata.managed_fields.as_ref().unwrap();
    assert_eq!(
        (mf[0].operation.as_deref(), mf[0].api_version.as_deref()),
        (Some("Apply"), Some("apps/v1"))
    );

    // Another manager with a different value conflicts, named the way apimachinery does.
    let sidecar = json!([{"name": "sidecar", "image": "busybox"}]);
    let e = api_err(
        deploys
            .patch(
                "web",
                &apply("bob"),
                &Patch::Apply(deployment(5, sidecar.clone())),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas"
    );
    let causes = &e.details.as_ref().unwrap().causes;
    assert_eq!(
        (causes[0].reason.as_str(), causes[0].field.as_str()),
        ("FieldManagerConflict", ".spec.replicas")
    );

    // The same value is shared ownership, and list-map elements are owned per key.
    let shared = deploys
        .patch(
            "web",
            &apply("bob"),
            &Patch::Apply(deployment(2, sidecar.clone())),
        )
        .await
        .unwrap();
    let names = container_names(&shared);
    assert_eq!(names, vec!["web", "sidecar"]);
    assert!(
        fields_of(&shared, "bob")["f:spec"]["f:template"]["f:spec"]["f:containers"]
            .get("k:{\"name\":\"sidecar\"}")
            .is_some()
    );
    assert_eq!(fields_of(&shared, "bob")["f:spec"]["f:replicas"], json!({}));
    assert_eq!(
        fields_of(&shared, "alice")["f:spec"]["f:replicas"],
        json!({})
    );

    // Force takes the field away from the other manager.
    let forced = deploys
        .patch(
            "web",
            &apply("bob").force(),
            &Patch::Apply(deployment(5, sidecar.clone())),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.as_ref().unwrap().replicas, Some(5));
    assert!(
        fields_of(&forced, "alice")["f:spec"]
            .get("f:replicas")
            .is_none()
    );
    assert_eq!(
        forced.metadata.generation,
        Some(3),
        "bob's sidecar, then the replicas"
    );

    // Alice stops applying her container: it goes; bob's stays.
    let mut without = deployment(2, json!([]));
    without["spec"]["template"]["spec"]
        .as_object_mut()
        .unwrap()
        .remove("containers");
    without["spec"].as_object_mut().unwrap().remove("replicas");
    let released = deploys
        .patch("web", &apply("alice"), &Patch::Apply(without))
        .await
        .unwrap();
    let names = container_names(&released);
    assert_eq!(names, vec!["sidecar"]);
    assert_eq!(
        released.spec.as_ref().unwrap().replicas,
        Some(5),
        "bob still owns replicas"
    );
    c.server.shutdown().await;
}

#[tokio::test]
async fn conflicts_name_update_managers_with_their_version() {
    let c = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let pp = PostParams {
        field_manager: Some("creator".into()),
        ..Default::default()
    };
    cms.create(&pp, &serde_json::from_value(json!({"metadata": {"name": "cfg", "labels": {"team": "a"}}, "data": {"k": "1", "j": "2"}})).unwrap()).await.unwrap();
    let cfg = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": data});
    // Applying unchanged content writes nothing (no controller touches ConfigMaps).
    let once = cms.patch("same", &apply("applier"), &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "same"}, "data": {"a": "1"}}))).await.unwrap();
    let twice = cms.patch("same", &apply("applier"), &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "same"}, "data": {"a": "1"}}))).await.unwrap();
    assert_eq!(
        once.metadata.resource_version,
        twice.metadata.resource_version
    );
    assert_eq!(once.metadata.managed_fields, twice.metadata.managed_fields);
    let e = api_err(
        cms.patch(
            "cfg",
            &apply("applier"),
            &Patch::Apply(cfg(json!({"k": "x", "j": "y"}))),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        e.message,
        "Apply failed with 2 conflicts: conflicts with \"creator\" using v1:\n- .data.j\n- .data.k"
    );
    // A field dropped by the only manager applying it is removed; one another manager still
    // owns (the label, set by "creator") stays.
    cms.patch(
        "cfg",
        &apply("applier").force(),
        &Patch::Apply(cfg(json!({"k": "x", "extra": "e"}))),
    )
    .await
    .unwrap();
    let after = cms
        .patch(
            "cfg",
            &apply("applier"),
            &Patch::Apply(cfg(json!({"k": "x"}))),
        )
        .await
        .unwrap();
    let data = after.data.unwrap();
    assert!(
        !data.contains_key("extra"),
        "released and owned by nobody: removed"
    );
    assert_eq!(data["j"], "2", "still owned by creator");
    assert_eq!(after.metadata.labels.unwrap()["team"], "a");
    // Apply without a field manager is refused.
    let raw = kube::core::Request::new("/api/v1/namespaces/default/configmaps")
        .patch(
            "cfg",
            &PatchParams::default(),
            &Patch::Apply(cfg(json!({}))),
        )
        .unwrap();
    let err = c
        .client()
        .await
        .request::<ConfigMap>(raw)
        .await
        .unwrap_err();
    let e = api_err(err);
    assert_eq!(e.code, 422);
    assert_eq!(
        e.message,
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
    c.server.shutdown().await;
}

#[tokio::test]
async fn apply_creates_dry_runs_and_checks_the_schema() {
    let c = start().await;
    let deploys: Api<Deployment> = Api::namespaced(c.client().await, "default");
    let web = json!([{"name": "web", "image": "nginx:1.27"}]);
    let dry = deploys
        .patch(
            "web",
            &apply("ci").dry_run(),
            &Patch::Apply(deployment(1, web.clone())),
        )
        .await
        .unwrap();
    assert!(dry.metadata.uid.is_some());
    assert!(
        deploys.get_opt("web").await.unwrap().is_none(),
        "a dry run stores nothing"
    );
    let mut bad = deployment(1, web.clone());
    bad["spec"]["replicaz"] = json!(1);
    let e = api_err(
        deploys
            .patch("web", &apply("ci"), &Patch::Apply(bad))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 500);
    assert_eq!(
        e.message,
        "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.replicaz: field not declared in schema"
    );
    let no_key = deployment(1, json!([{"image": "nginx"}]));
    let e = api_err(
        deploys
            .patch("web", &apply("ci"), &Patch::Apply(no_key))
            .await
            .unwrap_err(),
    );
    assert!(
        e.message
            .contains("associative list with keys has an element that omits key field \"name\""),
        "{}",
        e.message
    );
    let mut wrong_version = deployment(1, web.clone());
    wrong_version["apiVersion"] = json!("apps/v1beta1");
    let e = api_err(
        deploys
            .patch("web", &apply("ci"), &Patch::Apply(wrong_version))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        e.message,
        "Incorrect version specified in apply patch. Specified patch version: apps/v1beta1, expected: apps/v1"
    );
    c.server.shutdown().await;
}

#[tokio::test]
async fn strategic_merge_and_json_patches() {
    let c = start().await;
    let deploys: Api<Deployment> = Api::namespaced(c.client().await, "default");
    let d = deployment(
        1,
        json!([{"name": "web", "image": "nginx:1", "env": [{"name": "A", "value": "1"}]}, {"name": "side", "image": "busybox"}]),
    );
    deploys
        .create(&PostParams::default(), &serde_json::from_value(d).unwrap())
        .await
        .unwrap();
    let smp = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:2", "env": [{"name": "B", "value": "2"}]}]}}}});
    let out = deploys
        .patch("web", &PatchParams::default(), &Patch::Strategic(smp))
        .await
        .unwrap();
    let cs = out.spec.unwrap().template.spec.unwrap().containers;
    assert_eq!(cs.len(), 2, "containers merge by name");
    assert_eq!(cs[0].image.as_deref(), Some("nginx:2"));
    let env: Vec<_> = cs[0]
        .env
        .clone()
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(env, vec!["A", "B"]);
    let jp: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 3}
    ]))
    .unwrap();
    let out = deploys
        .patch("web", &PatchParams::default(), &Patch::<()>::Json(jp))
        .await
        .unwrap();
    assert_eq!(out.spec.unwrap().replicas, Some(3));
    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/spec/replicas", "value": 9}]))
            .unwrap();
    let e = api_err(
        deploys
            .patch("web", &PatchParams::default(), &Patch::<()>::Json(failing))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    // A stale resourceVersion inside a merge patch is a precondition failure.
    let stale = json!({"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 4}});
    let e = api_err(
        deploys
            .patch("web", &PatchParams::default(), &Patch::Merge(stale))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    // Strict field validation rejects unknown fields of built-in kinds.
    let strict = PatchParams::default().validation_strict();
    let e = api_err(
        deploys
            .patch(
                "web",
                &strict,
                &Patch::Merge(json!({"spec": {"replicaz": 2}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert!(
        e.message.contains("unknown field \\\"spec.replicaz\\\"")
            || e.message.contains("unknown field \"spec.replicaz\""),
        "{}",
        e.message
    );
    c.server.shutdown().await;
}
