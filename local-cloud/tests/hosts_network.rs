//! The hosts' network as the local cloud realizes it: the k3s release mirror on each
//! subnet's gateway, fetched from inside a host the way the install's `download` path does
//! (channel redirect, checksum file, binary, checksum checked), gone with the bridge; and
//! `/etc/local-cloud/host.json`, how a host's k3s stand-in learns the cloud's time factor.
//! Real hosts over SSH (root needed).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod support;

use support::{Cloud, root_or_skip, until};

/// Whether a socket of this machine listens on `ip`:`port` (asked of the kernel: a connect
/// would not tell, since an address that is not local goes out by the default route).
fn listening(ip: &str, port: u16) -> bool {
    let out = std::process::Command::new("ss")
        .args(["-Hltn", "src", ip, "sport", "=", &format!(":{port}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "ss: {out:?}");
    !out.stdout.is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_download_k3s_from_the_mirror_on_their_gateway() {
    if !root_or_skip("hosts_download_k3s_from_the_mirror_on_their_gateway") {
        return;
    }
    let cloud = Cloud::start(175).await;
    let host = &cloud.scale_set("mir", 1).await[0];
    // What the product's `release::urls` gives `cloud.kind: local` for node subnet
    // 10.175.1.0/24: the gateway, port 80.
    let base = format!("http://10.175.1.1:{}", local_cloud::mirror::PORT);

    // The channel server answers a redirect to the release page of the channel's tag (on
    // the site the request named: curl sends no `:80` in `Host`).
    let redirect = host.ok(&format!(
        "curl -sS -o /dev/null -w '%{{http_code}} %{{redirect_url}}' {base}/v1-release/channels/stable"
    ));
    let tag = redirect
        .strip_prefix("302 http://10.175.1.1/k3s-io/k3s/releases/tag/")
        .unwrap_or_else(|| panic!("channel answer: {redirect}"))
        .to_string();
    assert!(
        local_cloud::mirror::VERSIONS.contains(&tag.as_str()),
        "{tag}"
    );

    // The binary and the release's checksum file, checked as the install checks them.
    let dl = format!("{base}/k3s-io/k3s/releases/download/{tag}");
    let checked = host.ok(&format!(
        "mkdir -p /tmp/k3s && cd /tmp/k3s && \
         wget -q {dl}/k3s && curl -fsSLO {dl}/sha256sum-amd64.txt && \
         sha256sum --check --ignore-missing sha256sum-amd64.txt"
    ));
    assert_eq!(checked, "k3s: OK");
    // A tampered binary fails the same check.
    let tampered = host.run(
        "cd /tmp/k3s && cp k3s k3s.orig && echo '# x' >> k3s && \
         sha256sum --check --ignore-missing sha256sum-amd64.txt",
    );
    assert_ne!(tampered.code, Some(0), "{tampered:?}");
    // What was downloaded is the stand-in of that version.
    let version = host.ok("cd /tmp/k3s && chmod +x k3s.orig && ./k3s.orig --version");
    assert!(
        version.starts_with(&format!("k3s version {tag} ")),
        "{version}"
    );
    let unknown = host.ok(&format!(
        "curl -s -o /dev/null -w '%{{http_code}}' {dl}/no-such-asset"
    ));
    assert_eq!(unknown, "404");

    // The host knows the cloud's time factor without a k3s flag.
    let info: serde_json::Value =
        serde_json::from_str(&host.ok("cat /etc/local-cloud/host.json")).unwrap();
    assert_eq!(info["time_factor"], 0.001, "{info}");
    assert_eq!(info["vm"], host.name.as_str());

    // The mirror listens on the gateway only, and goes with the bridge.
    assert!(
        listening("10.175.1.1", 80),
        "the mirror listens on the gateway"
    );
    assert!(
        !listening("0.0.0.0", 80),
        "the mirror listens beyond the gateway"
    );
    cloud.handle.shutdown().await;
    assert!(
        !listening("10.175.1.1", 80),
        "the mirror outlived its bridge"
    );
    let addr = std::process::Command::new("ip")
        .args(["-o", "addr", "show", "to", "10.175.1.1"])
        .output()
        .unwrap();
    assert!(
        addr.stdout.is_empty(),
        "the gateway address outlived its bridge"
    );
}

const LB: &str = "Microsoft.Network/loadBalancers";
const PIP: &str = "Microsoft.Network/publicIPAddresses";

/// A Standard load balancer `name` with one frontend (`frontend`: its `properties`), pool
/// `pool`, a TCP probe on 8080 and a rule `port` -> 8080.
fn lb_body(cloud: &Cloud, name: &str, frontend: serde_json::Value, port: u16) -> serde_json::Value {
    let id = format!("{}/providers/{LB}/{name}", cloud.group());
    serde_json::json!({"location": "eastus", "sku": {"name": "Standard"}, "properties": {
        "frontendIPConfigurations": [{"name": "fe", "properties": frontend}],
        "backendAddressPools": [{"name": "pool"}],
        "probes": [{"name": "p", "properties": {"protocol": "Tcp", "port": 8080,
            "intervalInSeconds": 5, "probeThreshold": 2}}],
        "loadBalancingRules": [{"name": "r", "properties": {
            "frontendIPConfiguration": {"id": format!("{id}/frontendIPConfigurations/fe")},
            "backendAddressPool": {"id": format!("{id}/backendAddressPools/pool")},
            "probe": {"id": format!("{id}/probes/p")},
            "protocol": "Tcp", "frontendPort": port, "backendPort": 8080}}]}})
}

/// What one connection to `addr` reads until the peer closes ("" when refused or closed at once).
fn fetch(addr: &str) -> String {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.trim().to_string()
}

/// Starts, on `host`, a server on 8080 that answers each connection with the host's name.
fn serve_name(host: &support::Host) {
    host.ok(
        "printf '%s\\n' 'import socket' 'n=socket.gethostname().encode()' \
         's=socket.socket()' 's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)' \
         's.bind((\"0.0.0.0\", 8080))' 's.listen()' 'while True:' \
         '    c, _ = s.accept(); c.sendall(n); c.close()' > /tmp/name.py && \
         setsid -f python3 /tmp/name.py >/dev/null 2>&1 </dev/null",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_balancers_forward_to_healthy_members() {
    if !root_or_skip("load_balancers_forward_to_healthy_members") {
        return;
    }
    let cloud = Cloud::start(176).await;
    let g = cloud.group();
    let pip_id = format!("{g}/providers/{PIP}/lb-pip");
    cloud
        .put(
            &pip_id,
            PIP,
            serde_json::json!({"location": "eastus", "sku": {"name": "Standard"},
                "properties": {"publicIPAllocationMethod": "Static"}}),
        )
        .await;
    let public_ip = cloud.get(&pip_id, PIP).await["properties"]["ipAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let (public_lb, internal_lb) = (
        format!("{g}/providers/{LB}/pub"),
        format!("{g}/providers/{LB}/int"),
    );
    cloud
        .put(
            &public_lb,
            LB,
            lb_body(
                &cloud,
                "pub",
                serde_json::json!({"publicIPAddress": {"id": pip_id}}),
                8443,
            ),
        )
        .await;
    let private = serde_json::json!({"subnet": {"id": cloud.subnet()},
        "privateIPAllocationMethod": "Static", "privateIPAddress": "10.176.1.250"});
    cloud
        .put(&internal_lb, LB, lb_body(&cloud, "int", private, 6443))
        .await;
    let fe = &cloud.get(&internal_lb, LB).await["properties"]["frontendIPConfigurations"][0];
    assert_eq!(fe["properties"]["privateIPAddress"], "10.176.1.250", "{fe}");
    let pools = [
        format!("{public_lb}/backendAddressPools/pool"),
        format!("{internal_lb}/backendAddressPools/pool"),
    ];
    let hosts = cloud.scale_set_in_pools("be", 2, &pools).await;
    let (a, b) = (&hosts[0], &hosts[1]);
    let (name_a, name_b) = (a.ok("hostname"), b.ok("hostname"));

    // Only A serves: once its probe passed, every connection goes to A, none to B (down).
    serve_name(a);
    let public = format!("{public_ip}:8443");
    until(30, "the public frontend reaches A", || {
        fetch(&public) == name_a
    })
    .await;
    for _ in 0..20 {
        assert_eq!(
            fetch(&public),
            name_a,
            "a connection went to a member whose probe fails"
        );
    }
    // The internal frontend, from a host: B reaches A through it; A, the only healthy
    // member, cannot reach itself through its own internal load balancer (as on Azure).
    let via_ilb = "timeout 5 bash -c 'exec 3<>/dev/tcp/10.176.1.250/6443 && cat <&3'";
    assert_eq!(b.ok(via_ilb), name_a);
    assert_eq!(
        a.run(via_ilb).stdout,
        "",
        "A reached itself through its internal LB"
    );

    // B serves too, then A stops: B gets connections, and once A's probes fail, all of them.
    serve_name(b);
    until(30, "B gets connections", || fetch(&public) == name_b).await;
    a.ok("pkill -f /tmp/name.py");
    until(30, "A's probe fails", || {
        (0..10).all(|_| fetch(&public) == name_b)
    })
    .await;

    // Deleting the load balancer (after the scale set using its pool, as ARM insists)
    // stops its forwarder and takes its address off the bridge.
    cloud
        .delete(
            &format!("{g}/providers/Microsoft.Compute/virtualMachineScaleSets/be"),
            "Microsoft.Compute/virtualMachineScaleSets",
        )
        .await;
    assert!(listening(&public_ip, 8443));
    cloud.delete(&public_lb, LB).await;
    until(30, "the deleted LB's forwarder stops", || {
        !listening(&public_ip, 8443)
    })
    .await;
    until(30, "its frontend address goes", || {
        !local_address(&public_ip)
    })
    .await;
    // The internal one stops with the cloud.
    assert!(listening("10.176.1.250", 6443));
    cloud.handle.shutdown().await;
    assert!(
        !listening("10.176.1.250", 6443),
        "a forwarder outlived its cloud"
    );
}

/// Whether `ip` is an address of this machine.
fn local_address(ip: &str) -> bool {
    let out = std::process::Command::new("ip")
        .args(["-o", "addr", "show", "to", ip])
        .output()
        .unwrap();
    !out.stdout.is_empty()
}
