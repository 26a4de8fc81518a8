//! `k3s server --datastore-endpoint postgres://...` on a real PostgreSQL (loopback, TLS
//! verified against its CA with `sslmode=verify-full` and `--datastore-cafile`; root, for
//! the database's own user): the objects live in kine's table, a second server on the same
//! database serves them too, they survive every server being killed and started again, and
//! a wrong password fails the start with the database's own error. The machine's kubectl
//! reads the objects.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod k3s_support;

use k3s_support::cluster::{Server, refused};
use k3s_support::kubectl;
use k3s_support::postgres::{PASSWORD, Postgres, postgres_or_skip};

/// The datastore flags for `password`.
fn flags(pg: &Postgres, dir: &std::path::Path, password: &str) -> Vec<String> {
    let ca = dir.join("pg-ca.pem");
    std::fs::write(&ca, &pg.ca_pem).unwrap();
    vec![
        "--datastore-endpoint".into(),
        pg.endpoint(password, "k3s", "verify-full"),
        "--datastore-cafile".into(),
        ca.display().to_string(),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn servers_keep_their_objects_in_postgres() {
    let test = "servers_keep_their_objects_in_postgres";
    let Some(bin) = postgres_or_skip(test) else {
        return;
    };
    let Some(kubectl) = kubectl() else {
        k3s_support::skip(test, "no kubectl");
        return;
    };
    let pg = Postgres::start(bin).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut one = Server::new(d, 1, &flags(&pg, d, PASSWORD));
    one.start(d);
    let (code, out, err) = one.create_configmap(&kubectl, "kept");
    assert_eq!(code, 0, "{out}{err}");
    // A second server on the same database (the CAs taken from the first) serves it too.
    let mut join = flags(&pg, d, PASSWORD);
    join.extend(one.join_flags());
    let mut two = Server::new(d, 2, &join);
    two.start(d);
    let (code, out, err) = two.kubectl(&kubectl, &["get", "configmap", "kept", "-o", "name"]);
    assert_eq!((code, out.trim()), (0, "configmap/kept"), "{err}");
    assert!(
        one.proc
            .as_ref()
            .unwrap()
            .logs()
            .contains("Database tables and indexes are up to date")
    );

    // Every server killed, then started again on its data: the object is still there.
    one.stop(false);
    two.stop(false);
    one.start(d);
    let (code, out, err) = one.kubectl(&kubectl, &["get", "configmap", "kept", "-o", "name"]);
    assert_eq!((code, out.trim()), (0, "configmap/kept"), "{err}");

    // A wrong password: the server does not start, and says what the database said.
    let wrong = "Wrong-pass7";
    let (code, logs) = refused(d, 3, &flags(&pg, d, wrong));
    assert_ne!(code, 0);
    assert!(
        logs.contains("building kine") && logs.contains("password authentication failed for user"),
        "{logs}"
    );
    assert!(!logs.contains(wrong), "the password is never logged");
}
