//! The Store contract (tests/support/store_contract.rs) on the in-memory backend; the etcd
//! backend runs the same checks in tests/etcd_store.rs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod support;

use kube_standin::store::memory::MemoryStore;

#[tokio::test]
async fn memory_store_keeps_the_store_contract() {
    let s = MemoryStore::new(1000);
    support::store_contract::all(&s, "/contract/").await;
}
