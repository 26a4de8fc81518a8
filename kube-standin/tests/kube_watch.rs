//! Watches through the `kube` crate: kube-runtime's watcher (list+watch and streaming
//! lists), bookmarks, and the in-stream 410 for a compacted revision.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod support;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use support::{Options, api_err, configmap as cm, start, start_with, within};

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
