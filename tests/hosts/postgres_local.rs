//! The platform's Flexible Server on the local cloud's hosts (root needed): `up --only
//! infra` with Postgres makes a real PostgreSQL on the delegated subnet, and a node logs in
//! by the server's FQDN, TLS verified against the cloud's CA, with the password the
//! platform keeps in `<state_dir>/secrets/postgres-admin-password`, and lists the
//! databases `postgres.databases` asked for.

use support::{Cluster, Need, require};

#[test]
fn a_node_logs_in_to_the_platforms_postgres_by_its_fqdn() {
    if !require(&[Need::Hosts]) {
        return;
    }
    let c = Cluster::with_hosts("pgreal", 183, 1, 1)
        .with_postgres()
        .yaml("postgres:\n  databases: [app, kong]\n")
        .build();
    let up = c.run(&["up", "--only", "infra", "--only", "inventory"]);
    assert_eq!(up.code, 0, "{up:?}");
    let pg = &c.outputs("infra")["postgres"];
    let fqdn = pg["fqdn"]
        .as_str()
        .unwrap_or_else(|| panic!("no fqdn: {pg}"));
    let user = pg["admin_user"].as_str().unwrap();
    let password =
        std::fs::read_to_string(c.state_dir().join("secrets/postgres-admin-password")).unwrap();
    // The password is in no output of the run and in no file but its own secret: not the
    // state, not the inventories, not the local cloud's records and logs.
    let secret = password.trim();
    assert!(!up.stdout.contains(secret) && !up.stderr.contains(secret));
    let own = c.state_dir().join("secrets/postgres-admin-password");
    let mut stack = vec![c.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let (p, t) = (e.path(), e.file_type().unwrap());
            if t.is_dir() {
                stack.push(p);
            } else if t.is_file() && p != own {
                let bytes = std::fs::read(&p).unwrap_or_default();
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "the password is in {}",
                    p.display()
                );
            }
        }
    }
    let node = &c.hosts()[0];
    // Without the nodes phase nothing pinned the node's key yet: pin it from its disk.
    let key = std::process::Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(c.vm_dir(&node.name).join("ssh_host_ed25519_key"))
        .output()
        .unwrap();
    assert!(key.status.success(), "{key:?}");
    let key = String::from_utf8(key.stdout).unwrap();
    c.ssh_client().pin(&node.ip, key.trim());
    // The password reaches the node in a 0600 .pgpass, not on a command line there.
    c.write_pgpass(node, &password);
    let list = c.ssh_ok(
        node,
        &format!(
            "psql -X -A -t -c 'SELECT datname FROM pg_database ORDER BY 1' \
             'host={fqdn} port=5432 dbname=postgres user={user} sslmode=verify-full \
              sslrootcert=/etc/local-cloud/ca.pem connect_timeout=10'"
        ),
    );
    let dbs: Vec<&str> = list.lines().collect();
    for db in ["app", "kong", "postgres"] {
        assert!(dbs.contains(&db), "{db} not in {dbs:?}");
    }
    c.teardown();
}
