//! kube-standin API servers on a real 3-member etcd cluster (Debian's etcd on loopback):
//! two servers share the objects, each member can stop (the leader too) while the others
//! keep serving, a restarted member catches up, and with 2 of 3 stopped writes fail with
//! etcd's answer (or the 504 of a missed deadline) until a member comes back. Every wait is
//! on an observable condition (a leader present, a member without one) with a generous
//! bound that only guards against hangs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, GetParams, ListParams, PostParams, WatchEvent, WatchParams};
use kube_standin::store::Store;
use kube_standin::store::etcd::{EtcdConfig, EtcdStore};
use support::etcd::{EtcdCluster, etcd_or_skip, processes_mentioning};
use support::{Cluster, Options, api_err, configmap, start_on, within};

/// An API server on `store`.
async fn server(store: EtcdStore) -> Cluster {
    start_on(Options::default(), Arc::new(store)).await
}

/// The (code, reason, message) of a create that must fail.
async fn failed_create(api: &Api<ConfigMap>) -> (u16, String, String) {
    let (pp, cm) = (PostParams::default(), configmap("lost", &[]));
    let e = api_err(
        within(60, "a create", api.create(&pp, &cm))
            .await
            .unwrap_err(),
    );
    (e.code, e.reason, e.message)
}

fn names(list: &[ConfigMap]) -> Vec<String> {
    list.iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect()
}

#[tokio::test]
async fn two_servers_on_one_etcd_cluster_share_objects_and_watches() {
    let Some(bin) = etcd_or_skip("two_servers_on_one_etcd_cluster_share_objects_and_watches")
    else {
        return;
    };
    let root = {
        let etcd = EtcdCluster::start(bin, 3).await;
        let a = server(etcd.store()).await;
        let b = server(etcd.store()).await;
        let (ca, cb) = (a.client().await, b.client().await);
        let on_a: Api<ConfigMap> = Api::namespaced(ca, "default");
        let on_b: Api<ConfigMap> = Api::namespaced(cb, "default");
        let rv = on_b
            .list(&ListParams::default())
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        let mut watch = on_b
            .watch(&WatchParams::default(), &rv)
            .await
            .unwrap()
            .boxed();
        let created = on_a
            .create(&PostParams::default(), &configmap("shared", &[]))
            .await
            .unwrap();
        let read = on_b.get("shared").await.unwrap();
        assert_eq!(read.metadata.uid, created.metadata.uid);
        assert_eq!(
            read.metadata.resource_version,
            created.metadata.resource_version
        );
        let ev = within(30, "the watch on the other server", watch.try_next())
            .await
            .unwrap()
            .unwrap();
        match ev {
            WatchEvent::Added(cm) => assert_eq!(cm.metadata.uid, created.metadata.uid),
            other => panic!("expected ADDED, got {other:?}"),
        }
        // A conflict is seen across servers: the store is one.
        let mut changed = read.clone();
        changed.data = Some([("k".to_string(), "changed".to_string())].into());
        on_a.replace("shared", &PostParams::default(), &changed)
            .await
            .unwrap();
        let mut stale = read.clone();
        stale.data = Some([("k".to_string(), "other".to_string())].into());
        let e = api_err(
            on_b.replace("shared", &PostParams::default(), &stale)
                .await
                .unwrap_err(),
        );
        assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
        a.server.shutdown().await;
        b.server.shutdown().await;
        etcd.root()
    };
    assert_eq!(processes_mentioning(&root), Vec::<String>::new());
}

#[tokio::test]
async fn each_member_can_stop_and_a_restarted_member_catches_up() {
    let Some(bin) = etcd_or_skip("each_member_can_stop_and_a_restarted_member_catches_up") else {
        return;
    };
    let root = {
        let mut etcd = EtcdCluster::start(bin, 3).await;
        let a = server(etcd.store()).await;
        let cms: Api<ConfigMap> = Api::namespaced(a.client().await, "default");
        // The leader first, then the others.
        let leader = etcd.wait_for_leader(&[0, 1, 2]).await;
        let order: Vec<usize> = std::iter::once(leader)
            .chain((0..3).filter(|i| *i != leader))
            .collect();
        let mut written = Vec::new();
        for victim in order {
            etcd.stop_member(victim);
            let rest: Vec<usize> = (0..3).filter(|i| *i != victim).collect();
            let new_leader = etcd.wait_for_leader(&rest).await;
            assert_ne!(new_leader, victim);
            for n in 0..3 {
                let name = format!("while-m{victim}-down-{n}");
                cms.create(&PostParams::default(), &configmap(&name, &[]))
                    .await
                    .unwrap_or_else(|e| panic!("write with m{victim} down: {e}"));
                written.push(name);
            }
            let listed = names(&cms.list(&ListParams::default()).await.unwrap().items);
            assert!(
                written.iter().all(|w| listed.contains(w)),
                "reads with m{victim} down"
            );
            etcd.start_member(victim);
            etcd.wait_for_leader(&[0, 1, 2]).await;
            // A server that talks only to the restarted member sees everything written.
            let pinned = server(etcd.pinned_store(victim)).await;
            let only: Api<ConfigMap> = Api::namespaced(pinned.client().await, "default");
            let seen = names(&only.list(&ListParams::default()).await.unwrap().items);
            let missing: Vec<&String> = written.iter().filter(|w| !seen.contains(w)).collect();
            assert!(missing.is_empty(), "m{victim} misses {missing:?}");
            pinned.server.shutdown().await;
        }
        a.server.shutdown().await;
        etcd.root()
    };
    assert_eq!(processes_mentioning(&root), Vec::<String>::new());
}

#[tokio::test]
async fn without_quorum_writes_fail_with_etcds_answer_until_a_member_returns() {
    let Some(bin) =
        etcd_or_skip("without_quorum_writes_fail_with_etcds_answer_until_a_member_returns")
    else {
        return;
    };
    let root = {
        let mut etcd = EtcdCluster::start(bin, 3).await;
        let a = server(etcd.store()).await;
        // A server whose store deadline (2 s) comes before etcd's own (7 s).
        let mut short = EtcdConfig::new(etcd.client_urls());
        short.request_timeout = Duration::from_secs(2);
        let b = server(EtcdStore::new(short).unwrap()).await;
        // kube-rs retries 503 and 504 answers (15 times, backing off): see each answer once.
        let on_a: Api<ConfigMap> = Api::namespaced(a.client_without_retry().await, "default");
        let on_b: Api<ConfigMap> = Api::namespaced(b.client_without_retry().await, "default");
        on_a.create(&PostParams::default(), &configmap("before", &[]))
            .await
            .unwrap();
        let rv = on_a.get("before").await.unwrap().metadata.resource_version;
        let mut watch = on_a
            .watch(&WatchParams::default(), &rv.unwrap())
            .await
            .unwrap()
            .boxed();

        etcd.stop_member(1);
        etcd.stop_member(2);
        let status = etcd.wait_leaderless(0).await;
        assert_eq!(status.errors, ["etcdserver: no leader"]);

        // The store, as etcd answers it.
        let store = etcd.store();
        let put = within(60, "a store write", store.create("/q/x", "v".into()))
            .await
            .unwrap_err();
        assert_eq!(
            put.to_string(),
            "rpc error: code = Unknown desc = context deadline exceeded"
        );
        // The API: etcd's error passed through (500, no reason), as kube-apiserver does.
        assert_eq!(
            failed_create(&on_a).await,
            (
                500,
                String::new(),
                "rpc error: code = Unknown desc = context deadline exceeded".into()
            )
        );
        // The deadline first: 504 Timeout, worded as kube-apiserver's.
        assert_eq!(
            failed_create(&on_b).await,
            (
                504,
                "Timeout".into(),
                "Timeout: request did not complete within requested timeout - context deadline exceeded".into()
            )
        );
        // Linearizable reads (resourceVersion unset) fail too: etcd says "request timed out"
        // and the store tries again until its deadline.
        let e = api_err(within(60, "a get", on_a.get("before")).await.unwrap_err());
        assert_eq!((e.code, e.reason.as_str()), (504, "Timeout"));
        // resourceVersion=0 is served from the member's own copy.
        let any = on_a.get_with("before", &GetParams::any()).await.unwrap();
        assert_eq!(any.metadata.name.as_deref(), Some("before"));
        let listed = on_a.list(&ListParams::default().match_any()).await.unwrap();
        assert!(names(&listed.items).contains(&"before".to_string()));
        // The open watch ends (etcd cancels leaderless watches; no member can take it over).
        let end = within(120, "the watch to end", async {
            loop {
                match watch.next().await {
                    None => return,
                    Some(Ok(WatchEvent::Bookmark(_))) => continue,
                    Some(other) => panic!("unexpected watch event {other:?}"),
                }
            }
        });
        end.await;

        etcd.start_member(1);
        etcd.wait_for_leader(&[0, 1]).await;
        let back = within(60, "a create after recovery", async {
            on_a.create(&PostParams::default(), &configmap("after", &[]))
                .await
        })
        .await
        .unwrap();
        assert_eq!(back.metadata.name.as_deref(), Some("after"));
        on_b.get("after").await.unwrap();
        a.server.shutdown().await;
        b.server.shutdown().await;
        etcd.root()
    };
    assert_eq!(processes_mentioning(&root), Vec::<String>::new());
}
