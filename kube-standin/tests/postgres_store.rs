//! The PostgreSQL store on a real PostgreSQL server (tests/support/postgres.rs; root): the
//! Store contract every backend keeps; the objects outlive the store (a new one on the same
//! database, as a restarted k3s server) and a database restart; two stores on one database
//! (k3s servers sharing the datastore) see each other's writes in their watches; TLS is
//! verified against the CA (verify-full) and a wrong password fails with the database's
//! own message, which never holds the password.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use kube_standin::store::Store;
use kube_standin::store::postgres::{PostgresStore, parse};
use support::postgres::{PASSWORD, Postgres, postgres_or_skip};

async fn store(pg: &Postgres, db: &str) -> PostgresStore {
    let ep = parse(
        &pg.endpoint(PASSWORD, db, "verify-full"),
        Some(pg.ca_pem.clone()),
    )
    .unwrap();
    PostgresStore::connect(ep).await.unwrap()
}

#[tokio::test]
async fn postgres_store_keeps_the_store_contract() {
    let Some(bin) = postgres_or_skip("postgres_store_keeps_the_store_contract") else {
        return;
    };
    let pg = Postgres::start(bin).await;
    // The database does not exist yet: the store creates it, as kine does.
    let s = store(&pg, "k3s").await;
    support::store_contract::all(&s, "/contract/").await;
}

#[tokio::test]
async fn objects_outlive_the_store_and_a_database_restart_and_are_shared() {
    let Some(bin) =
        postgres_or_skip("objects_outlive_the_store_and_a_database_restart_and_are_shared")
    else {
        return;
    };
    let mut pg = Postgres::start(bin).await;
    let a = store(&pg, "k3s").await;
    let kv = a
        .create("/registry/x", Bytes::from_static(b"1"))
        .await
        .unwrap();
    drop(a);
    let b = store(&pg, "k3s").await;
    let got = b.get("/registry/x").await.unwrap().unwrap();
    assert_eq!(
        (got.value.as_ref(), got.mod_revision),
        (&b"1"[..], kv.mod_revision)
    );

    // Another server on the same database sees this one's writes in its watch.
    let c = store(&pg, "k3s").await;
    let mut w = c.watch("/registry/", kv.mod_revision).await.unwrap();
    let up = b
        .update("/registry/x", Bytes::from_static(b"2"), kv.mod_revision)
        .await
        .unwrap();
    let e = tokio::time::timeout(Duration::from_secs(30), w.events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (e.kv.mod_revision, e.kv.value.as_ref()),
        (up.mod_revision, &b"2"[..])
    );
    assert_eq!(e.prev.unwrap().value.as_ref(), b"1");

    // The database restarts: the store reconnects and the object is there.
    pg.stop();
    pg.run().await;
    let mut tries = 0;
    let got = loop {
        match b.get("/registry/x").await {
            Ok(v) => break v.unwrap(),
            Err(e) => {
                tries += 1;
                assert!(tries < 50, "no reconnect: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(got.value.as_ref(), b"2");
}

#[tokio::test]
async fn a_wrong_password_or_an_unknown_ca_fails_with_the_reason() {
    let Some(bin) = postgres_or_skip("a_wrong_password_or_an_unknown_ca_fails_with_the_reason")
    else {
        return;
    };
    let pg = Postgres::start(bin).await;
    let wrong = "not-the-Password9";
    let ep = parse(
        &pg.endpoint(wrong, "k3s", "verify-full"),
        Some(pg.ca_pem.clone()),
    )
    .unwrap();
    let e = PostgresStore::connect(ep).await.unwrap_err().to_string();
    assert!(
        e.contains("password authentication failed for user \"k3s\""),
        "{e}"
    );
    assert!(!e.contains(wrong), "{e}");
    let other = kube_standin::pki::CertificateAuthority::generate("another CA").unwrap();
    let ep = parse(
        &pg.endpoint(PASSWORD, "k3s", "verify-full"),
        Some(other.cert_pem().to_owned()),
    )
    .unwrap();
    let e = PostgresStore::connect(ep).await.unwrap_err().to_string();
    assert!(e.contains("certificate"), "{e}");
    // sslmode=require encrypts without checking the certificate (libpq's meaning).
    let ep = parse(&pg.endpoint(PASSWORD, "k3s", "require"), None).unwrap();
    PostgresStore::connect(ep).await.unwrap();
}
