//! `k3s.datastore: postgres` end to end on real local-cloud hosts (root): `platform up`
//! creates the Flexible Server (a real PostgreSQL on its delegated subnet), and the k3s
//! servers keep the cluster in its database `k3s`, connecting by the server's FQDN with
//! `sslmode=verify-full` against the CA bundle `infra` recorded. The objects are rows of
//! kine's table there; they survive every k3s server being restarted; a second `up` changes
//! nothing.

use std::process::Command;

use support::{Cluster, Need, require};

fn kubectl(c: &Cluster, args: &[&str]) -> (bool, String) {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(c.state_dir().join("kubeconfig"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn k3s_keeps_the_cluster_in_the_flexible_server() {
    if !require(&[Need::Hosts, Need::Command("kubectl")]) {
        return;
    }
    let c = Cluster::with_hosts("k3spg", 227, 2, 1)
        .with_postgres()
        .yaml("k3s:\n  datastore: postgres\n")
        .build();
    let up = c.run(&["up"]);
    assert_eq!(up.code, 0, "{up:?}");
    let ready = c.ready_nodes();
    assert_eq!(ready.len(), 3, "{ready:?}");
    // (kubectl's typed `create configmap` speaks protobuf, which the stand-in does not.)
    let manifest = c.path().join("cm.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: in-postgres, namespace: default}\ndata: {a: b}\n",
    )
    .unwrap();
    let (ok, out) = kubectl(&c, &["apply", "-f", manifest.to_str().unwrap()]);
    assert!(ok, "{out}");

    // The servers run against the datastore, verified with the recorded CA.
    let hosts = c.hosts();
    let servers: Vec<_> = hosts
        .iter()
        .filter(|h| h.name.contains("-servers_"))
        .collect();
    assert_eq!(servers.len(), 2);
    let config = c.ssh_ok(servers[1], "sudo cat /etc/rancher/k3s/config.yaml");
    assert!(
        config.contains("datastore-cafile: /etc/rancher/k3s/datastore-ca.pem"),
        "{config}"
    );
    let env = c.ssh_ok(servers[1], "sudo cat /etc/systemd/system/k3s.service.env");
    assert!(
        env.contains("sslmode=verify-full"),
        "the URL asks for verification"
    );
    let ca = c.ssh_ok(servers[0], "sudo cat /etc/rancher/k3s/datastore-ca.pem");
    let local_ca = std::fs::read_to_string(c.state_dir().join("local-cloud/ca.pem")).unwrap();
    assert_eq!(
        ca.trim(),
        local_ca.trim(),
        "the local cloud's CA signs the server"
    );

    // The object is a row of kine's table in database k3s (read from a node with psql).
    let pg = &c.outputs("infra")["postgres"];
    let (fqdn, user) = (
        pg["fqdn"].as_str().unwrap(),
        pg["admin_user"].as_str().unwrap(),
    );
    let password =
        std::fs::read_to_string(c.state_dir().join("secrets/postgres-admin-password")).unwrap();
    c.write_pgpass(servers[0], &password);
    let rows = c.ssh_ok(
        servers[0],
        &format!(
            "psql -X -A -t -c \"SELECT count(*) FROM kine WHERE name LIKE '/registry/configmaps/default/in-postgres' AND deleted = 0\" \
             'host={fqdn} port=5432 dbname=k3s user={user} sslmode=verify-full sslrootcert=/etc/rancher/k3s/datastore-ca.pem connect_timeout=10'"
        ),
    );
    assert_eq!(rows.trim(), "1", "{rows}");

    // Every k3s server restarted: the cluster is still there.
    for s in &servers {
        c.ssh_ok(s, "sudo systemctl restart k3s");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (ok, out) = kubectl(&c, &["get", "configmap", "in-postgres", "-o", "name"]);
        if ok && out.trim() == "configmap/in-postgres" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the object is gone: {out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let again = c.run(&["up"]);
    assert_eq!(again.code, 0, "{again:?}");
    c.teardown();
}
