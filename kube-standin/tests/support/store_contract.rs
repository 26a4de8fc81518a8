//! The Store contract every backend passes (memory, etcd): each check takes a store and a
//! key prefix of its own, and states revisions relative to the store's own, so backends that
//! share a cluster-wide revision with other users (etcd) pass the same checks.

use std::time::Duration;

use bytes::Bytes;
use kube_standin::store::{EventKind, Revision, Store, StoreError};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// A guard against hangs while waiting for a watch event (never what a check measures).
async fn next_event(w: &mut kube_standin::store::Watch) -> kube_standin::store::Event {
    tokio::time::timeout(Duration::from_secs(30), w.events.recv())
        .await
        .expect("a watch event within 30 s")
        .expect("the watch is still open")
}

/// Every check, in an order that leaves compaction (cluster-wide in etcd) for last.
pub async fn all(s: &dyn Store, p: &str) {
    revisions_are_cluster_wide_and_cas_guards_writes(s, &format!("{p}cas/")).await;
    lists_page_at_an_old_revision(s, &format!("{p}list/")).await;
    watch_replays_from_a_revision_then_goes_live(s, &format!("{p}watch/")).await;
    compaction_makes_old_revisions_gone(s, &format!("{p}compact/")).await;
}

pub async fn revisions_are_cluster_wide_and_cas_guards_writes(s: &dyn Store, p: &str) {
    let (ka, kc) = (format!("{p}a"), format!("{p}c"));
    let base = s.current_revision().await.unwrap();
    let a = s.create(&ka, b("1")).await.unwrap();
    let c = s.create(&kc, b("1")).await.unwrap();
    assert!(a.mod_revision > base, "a write takes a new revision");
    assert_eq!(a.create_revision, a.mod_revision);
    assert!(
        c.mod_revision > a.mod_revision,
        "revisions are cluster-wide"
    );
    assert!(matches!(
        s.create(&ka, b("2")).await,
        Err(StoreError::AlreadyExists(_))
    ));
    match s.update(&ka, b("2"), c.mod_revision).await {
        Err(StoreError::Conflict { current, .. }) => {
            assert_eq!(
                current.unwrap().mod_revision,
                a.mod_revision,
                "the live value"
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(matches!(
        s.update(&format!("{p}missing"), b("2"), a.mod_revision)
            .await,
        Err(StoreError::NotFound(_))
    ));
    let a2 = s.update(&ka, b("2"), a.mod_revision).await.unwrap();
    assert!(a2.mod_revision > c.mod_revision);
    assert_eq!(a2.create_revision, a.create_revision);
    assert_eq!(s.current_revision().await.unwrap(), a2.mod_revision);
    let got = s.get(&ka).await.unwrap().unwrap();
    assert_eq!(
        (&got.value[..], got.mod_revision),
        (&b"2"[..], a2.mod_revision)
    );
    assert!(matches!(
        s.delete(&ka, a.mod_revision).await,
        Err(StoreError::Conflict { .. })
    ));
    let gone = s.delete(&ka, a2.mod_revision).await.unwrap();
    assert!(gone.mod_revision > a2.mod_revision);
    assert_eq!(
        (&gone.value[..], gone.create_revision),
        (&b"2"[..], a.create_revision),
        "a delete returns the last value"
    );
    assert!(s.get(&ka).await.unwrap().is_none());
    assert!(matches!(
        s.delete(&ka, gone.mod_revision).await,
        Err(StoreError::NotFound(_))
    ));
    let again = s.create(&ka, b("3")).await.unwrap();
    assert!(again.create_revision > gone.mod_revision, "a new life");
    let stale = s.get_serializable(&ka).await.unwrap();
    assert!(stale.is_none_or(|kv| kv.mod_revision <= again.mod_revision));
}

pub async fn lists_page_at_an_old_revision(s: &dyn Store, p: &str) {
    let mut revs = Vec::new();
    for k in ["a", "b", "c"] {
        revs.push(
            s.create(&format!("{p}{k}"), b(k))
                .await
                .unwrap()
                .mod_revision,
        );
    }
    // A key that shares the prefix's characters but not the prefix.
    s.create(&format!("{}x/z", p.trim_end_matches('/')), b("z"))
        .await
        .unwrap();
    let page = s.list(p, "", 2, 0).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(page.more);
    assert!(page.revision >= revs[2]);
    // Writes after the first page must not show in the second page at the same revision.
    s.update(&format!("{p}c"), b("c2"), revs[2]).await.unwrap();
    s.create(&format!("{p}d"), b("d")).await.unwrap();
    let next = s
        .list(p, &format!("{p}b\0"), 2, page.revision)
        .await
        .unwrap();
    assert_eq!(next.items.len(), 1);
    assert_eq!(&next.items[0].value[..], b"c");
    assert_eq!(next.revision, page.revision);
    assert!(!next.more);
    let now = s.list(p, "", 0, 0).await.unwrap();
    let keys: Vec<&str> = now.items.iter().map(|kv| &*kv.key).collect();
    let want: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|k| format!("{p}{k}"))
        .collect();
    assert_eq!(keys, want, "key order, prefix only");
    let local = s.list_serializable(p, "", 0, page.revision).await.unwrap();
    assert_eq!(local.items.len(), 3, "a serializable list at a revision");
    let current = s.current_revision().await.unwrap();
    match s.list(p, "", 0, current + 1000).await {
        Err(StoreError::FutureRevision {
            requested,
            current: c,
        }) => {
            assert_eq!(requested, current + 1000);
            assert!(c >= current);
        }
        other => panic!("expected a future revision error, got {other:?}"),
    }
}

pub async fn watch_replays_from_a_revision_then_goes_live(s: &dyn Store, p: &str) {
    let (ka, other) = (
        format!("{p}a"),
        format!("{}-other/x", p.trim_end_matches('/')),
    );
    let c1 = s.create(&ka, b("1")).await.unwrap();
    s.create(&other, b("1")).await.unwrap();
    let u = s.update(&ka, b("2"), c1.mod_revision).await.unwrap();
    let mut w = s.watch(p, c1.mod_revision).await.unwrap();
    let e = next_event(&mut w).await;
    assert_eq!(
        (e.kind, e.kv.mod_revision),
        (EventKind::Put, u.mod_revision)
    );
    assert_eq!(&e.prev.unwrap().value[..], b"1");
    let d = s.delete(&ka, u.mod_revision).await.unwrap();
    let ev = next_event(&mut w).await;
    assert_eq!(
        (
            ev.kind,
            ev.kv.mod_revision,
            &ev.kv.value[..],
            ev.kv.create_revision
        ),
        (
            EventKind::Delete,
            d.mod_revision,
            &b"2"[..],
            c1.create_revision
        )
    );
    // A write outside the prefix is not delivered: the next event is the next matching write.
    s.create(&format!("{}-other/y", p.trim_end_matches('/')), b("1"))
        .await
        .unwrap();
    let again = s.create(&ka, b("3")).await.unwrap();
    let ev = next_event(&mut w).await;
    assert_eq!(
        (ev.kind, ev.kv.mod_revision),
        (EventKind::Put, again.mod_revision)
    );
    assert!(ev.prev.is_none(), "a create has no previous value");
    let progress = w.progress.load(std::sync::atomic::Ordering::Acquire);
    assert!(
        progress >= again.mod_revision,
        "progress covers what was delivered"
    );
}

pub async fn compaction_makes_old_revisions_gone(s: &dyn Store, p: &str) {
    let ka = format!("{p}a");
    let first = s.create(&ka, b("0")).await.unwrap();
    let mut last: Revision = first.mod_revision;
    for i in 1..5 {
        last = s
            .update(&ka, b(&i.to_string()), last)
            .await
            .unwrap()
            .mod_revision;
    }
    let target = last - 1;
    s.compact(target).await.unwrap();
    let compacted = s.compacted_revision().await.unwrap();
    assert!(compacted >= target, "compacted {compacted} >= {target}");
    match s.watch(p, target - 1).await {
        Err(StoreError::Compacted { requested, .. }) => assert_eq!(requested, target - 1),
        other => panic!("expected Compacted, got {:?}", other.map(|_| ())),
    }
    assert!(matches!(
        s.list(p, "", 0, target - 1).await,
        Err(StoreError::Compacted { .. })
    ));
    let at = s.list(p, "", 0, target).await.unwrap();
    assert_eq!(
        &at.items[0].value[..],
        b"3",
        "the value as of the compaction point"
    );
    let mut w = s.watch(p, target).await.unwrap();
    let ev = next_event(&mut w).await;
    assert_eq!(
        ev.kv.mod_revision, last,
        "events after the compaction point remain"
    );
    // Compacting to an older revision again is a no-op.
    s.compact(first.mod_revision).await.unwrap();
    assert_eq!(s.compacted_revision().await.unwrap(), compacted);
}
