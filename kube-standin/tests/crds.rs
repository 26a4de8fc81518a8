//! CustomResourceDefinitions through the `kube` crate: established at once, their resources
//! served with the declared scope, schema pruning and list-map keys, the status subresource,
//! discovery, and deletion taking the custom resources along.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod support;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::json;
use support::{api_err, start, within};

fn widget_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "size": {"type": "integer"},
                        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                            "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}}}},
                    "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}}]}
    }))
    .unwrap()
}

#[tokio::test]
async fn custom_resources_are_served_as_declared() {
    let c = start().await;
    let client = c.client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let created = crds
        .create(&PostParams::default(), &widget_crd())
        .await
        .unwrap();
    let status = created.status.unwrap();
    assert_eq!(
        status.accepted_names.clone().unwrap().list_kind.as_deref(),
        Some("WidgetList")
    );
    let conds: Vec<_> = status
        .conditions
        .unwrap()
        .into_iter()
        .map(|c| (c.type_, c.status))
        .collect();
    assert!(
        conds.contains(&("Established".into(), "True".into()))
            && conds.contains(&("NamesAccepted".into(), "True".into()))
    );
    within(
        30,
        "established",
        await_condition(
            crds.clone(),
            "widgets.example.com",
            conditions::is_crd_established(),
        ),
    )
    .await
    .unwrap();

    let discovery = kube::discovery::Discovery::new(client.clone())
        .run()
        .await
        .unwrap();
    let (ar, caps) = discovery
        .get("example.com")
        .expect("example.com in discovery")
        .recommended_kind("Widget")
        .unwrap();
    assert_eq!(
        (ar.plural.as_str(), caps.scope.clone()),
        ("widgets", kube::discovery::Scope::Namespaced)
    );

    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    let widgets: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &ApiResource::from_gvk(&gvk));
    let w = |name: &str, spec: serde_json::Value| json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec});
    // Unknown fields are pruned (and reported as warnings); the object keeps its kind.
    let obj: DynamicObject =
        serde_json::from_value(w("one", json!({"size": 1, "bogus": true}))).unwrap();
    let one = widgets.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(one.data["spec"], json!({"size": 1}));
    assert_eq!(one.metadata.generation, Some(1));

    // Ports are a list-map keyed by name: two managers each own their element.
    widgets
        .patch(
            "two",
            &PatchParams::apply("a"),
            &Patch::Apply(w("two", json!({"ports": [{"name": "http", "port": 80}]}))),
        )
        .await
        .unwrap();
    let both = widgets
        .patch(
            "two",
            &PatchParams::apply("b"),
            &Patch::Apply(w("two", json!({"ports": [{"name": "https", "port": 443}]}))),
        )
        .await
        .unwrap();
    assert_eq!(
        both.data["spec"]["ports"],
        json!([{"name": "http", "port": 80}, {"name": "https", "port": 443}])
    );
    let e = api_err(
        widgets
            .patch(
                "two",
                &PatchParams::apply("b"),
                &Patch::Apply(w("two", json!({"ports": [{"name": "http", "port": 8080}]}))),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"a\": .spec.ports[name=\"http\"].port"
    );

    // Status only through /status; spec changes bump the generation, status ones do not.
    let main = widgets
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}})),
        )
        .await
        .unwrap();
    assert!(main.data.get("status").is_none());
    let st = widgets
        .patch_status(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}})),
        )
        .await
        .unwrap();
    assert_eq!(
        (st.data["status"]["ready"].clone(), st.metadata.generation),
        (json!(true), Some(1))
    );
    let spec = widgets
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(spec.metadata.generation, Some(2));
    let smp = api_err(
        widgets
            .patch(
                "one",
                &PatchParams::default(),
                &Patch::Strategic(json!({"spec": {"size": 3}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(smp.code, 415);

    // Deleting the CRD deletes its resources, then the CRD, then the API.
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    within(
        30,
        "crd deleted",
        await_condition(
            crds.clone(),
            "widgets.example.com",
            conditions::is_deleted(created.metadata.uid.as_deref().unwrap()),
        ),
    )
    .await
    .unwrap();
    let gone = api_err(widgets.get("one").await.unwrap_err());
    assert_eq!(gone.code, 404);
    let discovery = kube::discovery::Discovery::new(client.clone())
        .run()
        .await
        .unwrap();
    assert!(!discovery.has_group("example.com"));
    c.server.shutdown().await;
}

#[tokio::test]
async fn a_crd_with_a_wrong_name_is_invalid() {
    let c = start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(c.client().await);
    let mut bad = widget_crd();
    bad.metadata.name = Some("gadgets.example.com".into());
    let e = api_err(crds.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!(e.code, 422);
    assert_eq!(
        e.message,
        "CustomResourceDefinition.apiextensions.k8s.io \"gadgets.example.com\" is invalid: metadata.name: Invalid value: \"gadgets.example.com\": must be spec.names.plural+\".\"+spec.group"
    );
    c.server.shutdown().await;
}
