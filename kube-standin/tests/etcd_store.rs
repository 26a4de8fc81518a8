//! The Store contract (tests/support/store_contract.rs) on real etcd: a 3-member cluster of
//! Debian's etcd on loopback, with no process left behind.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod support;

use support::etcd::{EtcdCluster, etcd_or_skip, processes_mentioning};

#[tokio::test]
async fn etcd_store_keeps_the_store_contract() {
    let Some(bin) = etcd_or_skip("etcd_store_keeps_the_store_contract") else {
        return;
    };
    let root = {
        let cluster = EtcdCluster::start(bin, 3).await;
        let store = cluster.store();
        support::store_contract::all(&store, "/contract/").await;
        // A member pinned store sees the same data (every member serves every key).
        let pinned = cluster.pinned_store(2);
        let listed = kube_standin::store::Store::list(&pinned, "/contract/cas/", "", 0, 0)
            .await
            .unwrap();
        assert_eq!(listed.items.len(), 2, "{}", cluster.log_tail(2));
        cluster.root()
    };
    assert_eq!(
        processes_mentioning(&root),
        Vec::<String>::new(),
        "no etcd left running"
    );
}
