//! Issue 10's benchmark of the k3s stand-in (not run by `cargo test`; run
//! `scripts/bench-k3s-api.sh`): API latency p50/p99 of a get, a list of 1,000 objects and a
//! server-side apply against a `k3s server` of the release build, next to the same kinds of
//! operations through the local cloud's ARM server (`platform local-cloud serve`) in the same
//! run; the RSS of a server holding 5,000 objects; 100 agents joining at time factor 0.01 (time
//! to all Ready) and the RSS of an idle agent. Everything runs on loopback as plain processes
//! (no hosts, no root). Env: `BENCH_STORES` (`memory,etcd`: the server without and with
//! `--cluster-init`), `BENCH_OPS` (requests per measured operation, default 500; lists a
//! tenth), `BENCH_AGENTS` (default 100), `BENCH_IDLE` (seconds idle before memory is read,
//! default 10).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark fails by panicking"
)]
#![allow(clippy::print_stdout)] // a benchmark's report is its output

mod k3s_bench;

use std::time::{Duration, Instant};

use k3s_bench::{Http, Server, env_or, mem_kib, percentiles};
use serde_json::{Value, json};
use support::cloud::{LocalCloud, Serve};

/// Objects listed by the list measurement.
const LISTED: usize = 1000;
/// Objects the server holds when its memory is read.
const HELD: usize = 5000;

fn main() {
    if !support::bench_requested("scripts/bench-k3s-api.sh") {
        return;
    }
    let ops: usize = env_or("BENCH_OPS", 500);
    let stores = std::env::var("BENCH_STORES").unwrap_or_else(|_| "memory,etcd".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "k3s stand-in API against the local cloud's ARM (release build, one client, sequential requests)"
    );
    // No request delay (time factor 0: any non-zero delay is a timer sleep of at least a
    // millisecond) and no token buckets: the server's own cost only. Started outside the
    // runtime: its set-up blocks on its own.
    let cloud = LocalCloud::serve(Serve {
        time_factor: 0.0,
        page_size: LISTED,
        faults: json!({"rate_limits": null}),
    });
    let arm = rt.block_on(arm_reference(&cloud, ops));
    drop(cloud);
    for store in stores.split(',').filter(|s| !s.is_empty()) {
        rt.block_on(k3s_api(store, ops, &arm));
    }
    rt.block_on(agents_join(
        env_or("BENCH_AGENTS", 100),
        env_or("BENCH_IDLE", 10),
    ));
    println!(
        "load average: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}

/// Latencies (ms) of one operation, named.
type Measured = Vec<(&'static str, Vec<f64>)>;

/// Runs `n` requests made by `one(i)` one after the other; their latencies in ms.
async fn time_each<F, Fut>(n: usize, mut one: F) -> Vec<f64>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        one(i).await;
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out
}

/// The reference: resource groups of the local cloud's ARM server (a GET, the subscription's
/// group list at one page of 1,000, and a PUT changing a tag: ARM's create-or-update).
async fn arm_reference(cloud: &LocalCloud, ops: usize) -> Measured {
    let http = Http::bearer(&cloud.endpoint, &cloud.ca);
    let sub = "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups";
    let q = "api-version=2024-11-01";
    let rg = |i: usize| format!("{sub}/bench-{i:04}?{q}");
    let body =
        |i: usize| json!({"location": "westeurope", "tags": {"bench": "x", "n": i.to_string()}});
    for i in 0..LISTED {
        http.send("PUT", rg(i), Some(body(i)), None).await;
    }
    let get = time_each(ops, |i| http.send("GET", rg(i * 7 % LISTED), None, None)).await;
    let list = time_each(ops / 10, |_| async {
        let v = http.json("GET", &format!("{sub}?{q}"), None, None).await;
        assert_eq!(
            v["value"].as_array().map(Vec::len),
            Some(LISTED),
            "one page of all"
        );
    })
    .await;
    let put = time_each(ops, |i| {
        http.send("PUT", rg(i % LISTED), Some(body(i + LISTED)), None)
    })
    .await;
    let size = http.bytes(format!("{sub}?{q}")).await.len();
    println!(
        "ARM: a list of {LISTED} resource groups is {} KiB of JSON",
        size / 1024
    );
    vec![("get", get), ("list 1000", list), ("apply", put)]
}

/// The k3s stand-in's API with `store` (`memory`: a plain `k3s server`; `etcd`: with
/// `--cluster-init`): ConfigMaps in one namespace, then memory at 5,000 objects.
async fn k3s_api(store: &str, ops: usize, arm: &Measured) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), store == "etcd");
    let http = server.client();
    let ns = "/api/v1/namespaces/bench/configmaps";
    http.send(
        "POST",
        "/api/v1/namespaces",
        Some(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}})),
        None,
    )
    .await;
    let cm = |i: usize, v: usize| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": format!("bench-{i:04}"), "namespace": "bench",
                            "labels": {"app": "bench", "n": i.to_string()}},
               "data": {"value": format!("{v:064}")}})
    };
    create(&http, ns, (0..LISTED).map(|i| cm(i, i)).collect()).await;
    let one = |i: usize| format!("{ns}/bench-{i:04}");
    let get = time_each(ops, |i| http.send("GET", one(i * 7 % LISTED), None, None)).await;
    let list = time_each(ops / 10, |_| async {
        let v = http.json("GET", ns, None, None).await;
        assert_eq!(v["items"].as_array().map(Vec::len), Some(LISTED));
    })
    .await;
    let apply = time_each(ops, |i| {
        let path = format!("{}?fieldManager=bench&force=true", one(i % LISTED));
        http.send(
            "PATCH",
            path,
            Some(cm(i % LISTED, i + LISTED)),
            Some("application/apply-patch+yaml"),
        )
    })
    .await;
    let k3s = [("get", get), ("list 1000", list), ("apply", apply)];
    let size = http.bytes(ns).await.len();
    println!(
        "\nstore {store}: latency in ms (k3s/ARM: ratio of the p50s); a list of {LISTED} ConfigMaps is {} KiB of JSON",
        size / 1024
    );
    println!(
        "{:<10} {:>6} | {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} | {:>7}",
        "operation", "n", "k3s p50", "p99", "mean", "ARM p50", "p99", "mean", "k3s/ARM"
    );
    for ((name, k), (_, a)) in k3s.iter().zip(arm) {
        let (kp, ap) = (percentiles(k), percentiles(a));
        println!(
            "{name:<10} {:>6} | {:>8.2} {:>8.2} {:>8.2} | {:>8.2} {:>8.2} {:>8.2} | {:>7.2}",
            k.len(),
            kp.0,
            kp.1,
            kp.2,
            ap.0,
            ap.1,
            ap.2,
            kp.0 / ap.0
        );
    }
    // Memory: 5,000 ConfigMaps (each ~0.9 KB as JSON with its managedFields).
    create(&http, ns, (LISTED..HELD).map(|i| cm(i, i)).collect()).await;
    let v = http.json("GET", ns, None, None).await;
    let held = v["items"].as_array().map_or(0, Vec::len);
    assert!(held >= HELD, "{held} ConfigMaps listed");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss, pss) = (mem_kib(server.pid(), "Rss"), mem_kib(server.pid(), "Pss"));
    let anon = mem_kib(server.pid(), "Anonymous");
    let etcd = server
        .etcd_pid()
        .map(|p| {
            format!(
                ", its etcd member {:.1} MiB RSS / {:.1} MiB PSS",
                mib(mem_kib(p, "Rss")),
                mib(mem_kib(p, "Pss"))
            )
        })
        .unwrap_or_default();
    println!(
        "server holding {HELD} ConfigMaps (+ its defaults): {:.1} MiB RSS ({:.1} anonymous) / {:.1} MiB PSS{etcd} (target: RSS under 100 MB = 95.4 MiB)",
        mib(rss),
        mib(anon),
        mib(pss)
    );
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Creates `objects` with 8 requests in flight.
async fn create(http: &Http, path: &str, objects: Vec<Value>) {
    use futures::StreamExt;
    futures::stream::iter(objects)
        .for_each_concurrent(8, |o| http.send("POST", path, Some(o), None))
        .await;
}

/// `n` agents started at once against a server with embedded etcd (as the nodes phase's init
/// server is): time until every Node is Ready, then each agent's memory after `idle` seconds.
async fn agents_join(n: usize, idle: u64) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), true);
    let http = server.client();
    let token = server.token();
    let t0 = Instant::now();
    let mut agents: Vec<_> = (0..n)
        .map(|i| server.agent(dir.path(), i, &token))
        .collect();
    let spawned = t0.elapsed();
    let mut ready_at: Vec<Option<f64>> = vec![None; n];
    while ready_at.iter().any(Option::is_none) {
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "agents not Ready in 10 minutes"
        );
        let v = http.json("GET", "/api/v1/nodes", None, None).await;
        for node in v["items"].as_array().into_iter().flatten() {
            let name = node["metadata"]["name"].as_str().unwrap_or_default();
            let Some(i) = name
                .strip_prefix("agent-")
                .and_then(|s| s.parse::<usize>().ok())
            else {
                continue;
            };
            let ready = node["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            if ready && i < n && ready_at[i].is_none() {
                ready_at[i] = Some(t0.elapsed().as_secs_f64());
            }
        }
        for a in &mut agents {
            a.assert_running();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut times: Vec<f64> = ready_at.into_iter().map(Option::unwrap).collect();
    times.sort_by(f64::total_cmp);
    println!(
        "\n{n} agents started at once at time factor 0.01 (spawned in {:.2} s): first Ready {:.2} s, median {:.2} s, all Ready {:.2} s",
        spawned.as_secs_f64(),
        times[0],
        times[n / 2],
        times[n - 1]
    );
    tokio::time::sleep(Duration::from_secs(idle)).await;
    let mut rss: Vec<u64> = agents.iter().map(|a| mem_kib(a.pid(), "Rss")).collect();
    let mut pss: Vec<u64> = agents.iter().map(|a| mem_kib(a.pid(), "Pss")).collect();
    let mut anon: Vec<u64> = agents
        .iter()
        .map(|a| mem_kib(a.pid(), "Anonymous"))
        .collect();
    rss.sort_unstable();
    pss.sort_unstable();
    anon.sort_unstable();
    println!(
        "idle agent after {idle} s: RSS median {:.1} MiB (max {:.1}), of it anonymous (heap, stacks) {:.1} MiB; PSS median {:.1} MiB (target: RSS under 15 MB = 14.3 MiB)",
        mib(rss[n / 2]),
        mib(rss[n - 1]),
        mib(anon[n / 2]),
        mib(pss[n / 2])
    );
    println!(
        "the server with {} nodes: {:.1} MiB RSS, its etcd member {:.1} MiB RSS",
        n + 1,
        mib(mem_kib(server.pid(), "Rss")),
        server.etcd_pid().map_or(0.0, |p| mib(mem_kib(p, "Rss")))
    );
    drop(agents);
}
