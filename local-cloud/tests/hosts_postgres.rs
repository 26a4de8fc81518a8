//! A VNet-integrated PostgreSQL Flexible Server as the local cloud realizes it with hosts
//! on: a real PostgreSQL in a namespace of its own on the delegated subnet, reached from a
//! VM of the VNet by its FQDN (the private DNS zone's record in the VM's `/etc/hosts`)
//! with TLS verified against the cloud's CA and the administrator's password; databases
//! made and dropped by their PUT and DELETE; the password changed by a PUT; not reachable
//! from this machine; its data kept by a restart and removed with the server; the password
//! in no file of the cloud's data dir; a kill -9 of the cloud during a create converging
//! after a restart. Real hosts over SSH (root needed).
#![cfg(feature = "hosts")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    reason = "a test fails by panicking; it reports what it measured"
)]

mod support;

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};
use support::{Cloud, Host, root_or_skip, until};

const NET: u8 = 181;
const PG: &str = "Microsoft.DBforPostgreSQL/flexibleServers";
const DB: &str = "Microsoft.DBforPostgreSQL/flexibleServers/databases";
const VNET: &str = "Microsoft.Network/virtualNetworks";
const ZONE: &str = "Microsoft.Network/privateDnsZones";
const LINK: &str = "Microsoft.Network/privateDnsZones/virtualNetworkLinks";
const NAME: &str = "pgreal-181";
const FQDN: &str = "pgreal-181.postgres.database.azure.com";
const ADMIN: &str = "pgadmin";
const FIRST: &str = "Fir5t-Secret-181x";
const SECOND: &str = "Sec0nd-Secret-181y";

fn server_id(cloud: &Cloud) -> String {
    format!("{}/providers/{PG}/{NAME}", cloud.group())
}

fn server_body(cloud: &Cloud, password: &str) -> Value {
    let g = cloud.group();
    json!({"location": "eastus", "sku": {"name": "Standard_B1ms", "tier": "Burstable"},
        "properties": {"version": "16", "administratorLogin": ADMIN,
            "administratorLoginPassword": password,
            "network": {
                "delegatedSubnetResourceId": format!("{g}/providers/{VNET}/vnet/subnets/pg"),
                "privateDnsZoneArmResourceId":
                    format!("{g}/providers/{ZONE}/pgreal.private.postgres.database.azure.com")}}})
}

/// The delegated subnet, the private DNS zone and its link to the VNet.
async fn network(cloud: &Cloud) {
    let g = cloud.group();
    cloud
        .put(
            &format!("{g}/providers/{VNET}/vnet"),
            VNET,
            json!({"location": "eastus", "properties": {
                "addressSpace": {"addressPrefixes": [format!("10.{NET}.0.0/16")]},
                "subnets": [
                    {"name": "nodes", "properties": {"addressPrefix": format!("10.{NET}.1.0/24")}},
                    {"name": "pg", "properties": {"addressPrefix": format!("10.{NET}.2.0/24"),
                        "delegations": [{"name": "pg", "properties":
                            {"serviceName": "Microsoft.DBforPostgreSQL/flexibleServers"}}]}}]}}),
        )
        .await;
    let zone = format!("{g}/providers/{ZONE}/pgreal.private.postgres.database.azure.com");
    cloud.put(&zone, ZONE, json!({"location": "global"})).await;
    cloud
        .put(
            &format!("{zone}/virtualNetworkLinks/vnet"),
            LINK,
            json!({"location": "global", "properties": {"registrationEnabled": false,
                "virtualNetwork": {"id": format!("{g}/providers/{VNET}/vnet")}}}),
        )
        .await;
}

/// `psql` on `host` as the administrator with `password` (in `PGPASSWORD`), TLS verified
/// against the cloud's CA as the FQDN; runs `sql`.
fn psql(host: &Host, db: &str, password: &str, sql: &str) -> support::Out {
    host.run(&format!(
        "PGPASSWORD='{password}' psql -X -A -t -c \"{sql}\" \
         'host={FQDN} port=5432 dbname={db} user={ADMIN} sslmode=verify-full \
          sslrootcert=/etc/local-cloud/ca.pem connect_timeout=10'"
    ))
}

fn databases(host: &Host, password: &str) -> Vec<String> {
    let out = psql(
        host,
        "postgres",
        password,
        "SELECT datname FROM pg_database ORDER BY 1",
    );
    assert_eq!(out.code, Some(0), "psql: {}", out.stderr);
    out.stdout.lines().map(str::to_string).collect()
}

/// Files under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                let bytes = std::fs::read(e.path()).unwrap_or_default();
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(e.path().display().to_string());
                }
            }
        }
    }
    found
}

/// Sums over every process in network namespace `netns` of a field of
/// `/proc/<pid>/smaps_rollup` (kB): `Rss`, `Pss`.
fn memory_kb(netns: &str, field: &str) -> u64 {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", netns])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(&format!("{field}:")))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flexible_server_is_a_real_postgresql_on_its_vnet() {
    if !root_or_skip("a_flexible_server_is_a_real_postgresql_on_its_vnet") {
        return;
    }
    let cloud = Cloud::start(NET).await;
    network(&cloud).await;
    let host = &cloud.scale_set("cl", 1).await[0];
    let id = server_id(&cloud);

    let started = Instant::now();
    cloud.put(&id, PG, server_body(&cloud, FIRST)).await;
    let ready = started.elapsed();
    let prefix = std::fs::read_to_string(cloud.data.path().join("hosts/.instance")).unwrap();
    let netns = format!("{}-pg-{NAME}", prefix.trim());
    eprintln!(
        "server ready in {ready:?}; its processes: RSS {} kB, PSS {} kB",
        memory_kb(&netns, "Rss"),
        memory_kb(&netns, "Pss")
    );
    cloud
        .put(
            &format!("{id}/databases/appdb"),
            DB,
            json!({"properties": {}}),
        )
        .await;
    cloud
        .put(
            &format!("{id}/databases/scratch"),
            DB,
            json!({"properties": {}}),
        )
        .await;

    // The record says what runs, and keeps no password.
    let record = cloud.get(&id, PG).await;
    let running = record["properties"]["localCloud"]["runningVersion"]
        .as_str()
        .unwrap_or_else(|| panic!("no running version: {record}"))
        .to_string();
    let major = running.split('.').next().unwrap();
    let version = std::process::Command::new(format!("/usr/lib/postgresql/{major}/bin/postgres"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&version.stdout).contains(&format!(" {running} ")),
        "{running} is not what this machine has"
    );
    assert_eq!(
        record["properties"]["version"], "16",
        "the version asked for stays"
    );
    assert!(!record.to_string().contains(FIRST), "{record}");
    let ip = record["properties"]["localCloud"]["address"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(ip.starts_with(&format!("10.{NET}.2.")), "{ip}");

    // From a VM of the VNet: by name, TLS verified, the administrator's password.
    until(30, "the VM resolves the server's name", || {
        host.run(&format!("getent hosts {FQDN} | cut -d' ' -f1"))
            .stdout
            == ip
    })
    .await;
    let dbs = databases(host, FIRST);
    assert!(
        dbs.contains(&"appdb".to_string()) && dbs.contains(&"postgres".to_string()),
        "{dbs:?}"
    );
    let settings = psql(host, "appdb", FIRST, "SHOW password_encryption");
    assert_eq!(settings.stdout, "scram-sha-256", "{settings:?}");
    let wrong = psql(host, "appdb", "not-the-password", "SELECT 1");
    assert_ne!(wrong.code, Some(0));
    assert!(
        wrong.stderr.contains("password authentication failed"),
        "{wrong:?}"
    );
    let plain = host.run(&format!(
        "PGPASSWORD='{FIRST}' psql -X -A -t -c 'SELECT 1' \
         'host={FQDN} dbname=postgres user={ADMIN} sslmode=disable connect_timeout=10'"
    ));
    assert_ne!(plain.code, Some(0), "a login without TLS: {plain:?}");

    // Not from this machine: no address of the delegated subnet here, no route to it.
    let route = std::process::Command::new("ip")
        .args(["-o", "route", "get", &ip])
        .output()
        .unwrap();
    let route = String::from_utf8_lossy(&route.stdout).into_owned();
    assert!(!route.contains(&format!("{}br", prefix.trim())), "{route}");
    // Through the server's own namespace, the server answers.
    login_in_netns(&cloud, &netns, FQDN, &ip);

    // A database DELETE drops it.
    cloud.delete(&format!("{id}/databases/scratch"), DB).await;
    until(60, "scratch dropped", || {
        !databases(host, FIRST).contains(&"scratch".into())
    })
    .await;

    // A PUT with another password changes the login.
    cloud.put(&id, PG, server_body(&cloud, SECOND)).await;
    assert_ne!(psql(host, "appdb", FIRST, "SELECT 1").code, Some(0));
    psql_ok(
        host,
        "appdb",
        SECOND,
        "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')",
    );

    // A restart keeps the data.
    let cloud = cloud.restart().await;
    until(60, "the server back after a restart", || {
        psql(host, "appdb", SECOND, "SELECT v FROM kept").stdout == "still here"
    })
    .await;

    // The password is in no file of the cloud's data dir, logs included.
    for pw in [FIRST, SECOND] {
        let found = files_containing(cloud.data.path(), pw);
        assert!(found.is_empty(), "the password is in {found:?}");
    }

    // A server DELETE stops it and removes its data.
    let dir = cloud.data.path().join("postgres").join(NAME);
    assert!(dir.join("data/PG_VERSION").is_file());
    cloud.delete(&id, PG).await;
    until(60, "the server's data removed", || !dir.exists()).await;
    assert!(
        !Path::new("/run/netns").join(&netns).exists(),
        "{netns} left"
    );
    cloud.handle.shutdown().await;
}

/// A login with `FIRST` to the server at `fqdn` (`ip`) from inside its namespace `netns`,
/// TLS verified against the cloud's CA; it must work.
fn login_in_netns(cloud: &Cloud, netns: &str, fqdn: &str, ip: &str) {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", netns, "psql", "-X", "-A", "-t", "-c", "SELECT 1"])
        .arg(format!(
            "host={fqdn} hostaddr={ip} dbname=postgres user={ADMIN} sslmode=verify-full sslrootcert={}",
            cloud.handle.ca_path.display()
        ))
        .env("PGPASSWORD", FIRST)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1", "{out:?}");
}

fn psql_ok(host: &Host, db: &str, password: &str, sql: &str) {
    let out = psql(host, db, password, sql);
    assert_eq!(out.code, Some(0), "psql {sql}: {}", out.stderr);
}

/// The data dir of the killed cloud of `a_crash_during_a_create_converges` (where it also
/// writes its endpoint, `test-endpoint`).
const CRASH_ENV: &str = "LOCAL_CLOUD_PG_CRASH_DIR";

/// Not a test of its own: the process `a_crash_during_a_create_converges` starts, and
/// kills, as a local cloud with hosts on `$LOCAL_CLOUD_PG_CRASH_DIR`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "started by a_crash_during_a_create_converges"]
async fn serve_until_killed() {
    let Some(dir) = std::env::var_os(CRASH_ENV) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let handle = Cloud::serve(&dir).await;
    std::fs::write(dir.join("test-endpoint"), handle.endpoint.as_str()).unwrap();
    std::future::pending::<()>().await;
}

/// A PUT to the cloud at `endpoint` (its CA and token from `data`); its status. With
/// `wait`, an accepted PUT's operation is followed until it is over (it must succeed).
async fn raw_put(
    endpoint: &str,
    data: &Path,
    path: &str,
    rtype: &str,
    body: &Value,
    wait: bool,
) -> u16 {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(data.join("ca.pem")).unwrap()).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    let token = std::fs::read_to_string(data.join("api-token")).unwrap();
    let version = local_cloud::api_versions::versions(rtype).unwrap()[0];
    let url = format!("{endpoint}{}?api-version={version}", &path[1..]);
    let r = http
        .put(url)
        .bearer_auth(token.trim())
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let op = r
        .headers()
        .get("azure-asyncoperation")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let (true, Some(op)) = (wait, op) {
        support::follow(&http, token.trim(), &op, path).await;
    }
    status
}

/// The first cloud's process, killed when the test ends however it ends (it holds the
/// test's inherited descriptors, the machine-wide host lock among them).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Postmasters in `netns`: its `postgres` processes whose parent is no `postgres`.
fn postmasters(netns: &str) -> usize {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", netns])
        .output()
        .unwrap();
    let field = |pid: &str, f: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!("{f}:"))
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|pid| field(pid, "Name") == "postgres")
        .filter(|pid| field(&field(pid, "PPid"), "Name") != "postgres")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_a_create_converges() {
    if !root_or_skip("a_crash_during_a_create_converges") {
        return;
    }
    let data_dir = tempfile::tempdir().unwrap();
    let data = data_dir.path().to_path_buf();
    let mut child = Killed(
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "serve_until_killed", "--ignored", "--nocapture"])
            .env(CRASH_ENV, &data)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let endpoint_file = data.join("test-endpoint");
    until(60, "the first cloud serves", || endpoint_file.exists()).await;
    let endpoint = std::fs::read_to_string(&endpoint_file).unwrap();

    // The group, the network and the server's create, cut short by a kill -9.
    let sub = "/subscriptions/00000000-0000-0000-0000-0000000b0575";
    let g = format!("{sub}/resourceGroups/rg");
    let put = |path: String, rtype: &'static str, body: Value| {
        let (endpoint, data) = (endpoint.clone(), data.clone());
        async move { raw_put(&endpoint, &data, &path, rtype, &body, rtype != PG).await }
    };
    assert_eq!(
        put(
            g.clone(),
            "Microsoft.Resources/resourceGroups",
            json!({"location": "eastus"})
        )
        .await,
        201
    );
    let crash_net = NET + 1;
    let vnet = json!({"location": "eastus", "properties": {
        "addressSpace": {"addressPrefixes": [format!("10.{crash_net}.0.0/16")]},
        "subnets": [{"name": "pg", "properties": {"addressPrefix": format!("10.{crash_net}.2.0/24"),
            "delegations": [{"name": "pg", "properties":
                {"serviceName": "Microsoft.DBforPostgreSQL/flexibleServers"}}]}}]}});
    let created = |s: u16| s == 201 || s == 202;
    assert!(created(
        put(format!("{g}/providers/{VNET}/vnet"), VNET, vnet).await
    ));
    let zone = format!("{g}/providers/{ZONE}/crash.private.postgres.database.azure.com");
    assert!(created(
        put(zone.clone(), ZONE, json!({"location": "global"})).await
    ));
    let name = "pgcrash-182";
    let id = format!("{g}/providers/{PG}/{name}");
    let body = json!({"location": "eastus", "sku": {"name": "Standard_B1ms", "tier": "Burstable"},
        "properties": {"version": "15", "administratorLogin": ADMIN, "administratorLoginPassword": FIRST,
            "network": {"delegatedSubnetResourceId": format!("{g}/providers/{VNET}/vnet/subnets/pg"),
                "privateDnsZoneArmResourceId": zone}}});
    assert_eq!(put(id.clone(), PG, body.clone()).await, 202);
    let server_dir = data.join("postgres").join(name);
    until(60, "the server's create under way", || {
        server_dir.join("data.new").exists() || server_dir.join("data").exists()
    })
    .await;
    child.0.kill().unwrap();
    child.0.wait().unwrap();

    // The restarted cloud finishes the create; a PUT again converges to one server.
    let cloud = Cloud::open(data_dir, crash_net).await;
    let mut status = 0;
    for _ in 0..600 {
        // 409 while the first create is still in flight (no operation to follow).
        status = raw_put(
            cloud.handle.endpoint.as_str(),
            cloud.data.path(),
            &id,
            PG,
            &body,
            true,
        )
        .await;
        if status != 409 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 202, "PUT again (followed to Succeeded)");
    let prefix = std::fs::read_to_string(cloud.data.path().join("hosts/.instance")).unwrap();
    let netns = format!("{}-pg-{name}", prefix.trim());
    assert_eq!(postmasters(&netns), 1, "one running server in {netns}");
    let record = cloud.get(&id, PG).await;
    let ip = record["properties"]["localCloud"]["address"]
        .as_str()
        .unwrap();
    login_in_netns(
        &cloud,
        &netns,
        &format!("{name}.postgres.database.azure.com"),
        ip,
    );
    cloud.handle.shutdown().await;
    assert!(
        !Path::new("/run/netns").join(&netns).exists(),
        "{netns} outlived the cloud"
    );
}
