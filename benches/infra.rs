//! Benchmark of `platform up --only infra` from empty against a `platform local-cloud serve`
//! with the default (Azure-shaped) latency model scaled down. Not run by `cargo test`; run
//! `scripts/bench-infra.sh` (env `BENCH_TIME_FACTOR`, default 0.01, and `BENCH_RUNS`,
//! default 5).
//!
//! The median wall time is compared with
//! (a) the sum of the operation latencies, what a tool creating one resource at a time takes,
//! (b) the longest dependency chain, the lower bound for any tool,
//! each computed twice: from the latency model (`LatencyModel::duration`) over the real
//! desired resources and their `depends_on` graph, and from the per-resource times the run
//! itself measured (the `ok <resource> create (<time>)` lines at `-v`: PUT to operation end).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]
#![allow(clippy::print_stdout)] // a benchmark's report is its output

use std::collections::HashMap;
use std::time::{Duration, Instant};

use local_cloud::LatencyModel;
use platform::azure::resources::{DesiredResource, ResourceKey};
use support::Cluster;
use support::cloud::LocalCloud;

const ADMIN: &str = "[192.0.2.0/24]";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Parses `ok <key> <action> (<duration>)` step lines into seconds per resource key.
fn measured_steps(stderr: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in stderr.lines() {
        let Some(rest) = line.trim().strip_prefix("ok ") else {
            continue;
        };
        let Some((head, dur)) = rest.rsplit_once(" (") else {
            continue;
        };
        let Some(key) = head.split_whitespace().next() else {
            continue;
        };
        let dur = dur.trim_end_matches(')');
        let secs = if let Some(ms) = dur.strip_suffix("ms") {
            ms.parse::<f64>().ok().map(|v| v / 1000.0)
        } else {
            dur.strip_suffix('s').and_then(|s| s.parse().ok())
        };
        if let Some(s) = secs {
            out.insert(key.to_owned(), s);
        }
    }
    out
}

/// Sum and longest dependency chain of per-resource times, and the chain itself.
fn sum_and_critical(
    desired: &[DesiredResource],
    time: &dyn Fn(&DesiredResource) -> f64,
) -> (f64, f64, Vec<String>) {
    let sum = desired.iter().map(time).sum();
    // `desired` is in dependency order (every resource after what it depends on).
    let mut finish: HashMap<ResourceKey, (f64, Vec<String>)> = HashMap::new();
    for d in desired {
        let (start, mut chain) = d
            .depends_on
            .iter()
            .filter_map(|k| finish.get(k))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .cloned()
            .unwrap_or((0.0, Vec::new()));
        chain.push(d.key.to_string());
        finish.insert(d.key.clone(), (start + time(d), chain));
    }
    let (crit, chain) = finish
        .into_values()
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap_or_default();
    (sum, crit, chain)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    if !support::bench_requested("scripts/bench-infra.sh (cargo bench --bench infra)") {
        return;
    }
    let tf: f64 = env_or("BENCH_TIME_FACTOR", 0.01);
    let runs: usize = env_or("BENCH_RUNS", 5).max(1);
    let cloud = LocalCloud::start_scaled(tf, serde_json::json!({}));
    let model = LatencyModel::scaled(tf);

    let probe = Cluster::on(&cloud, "bench-probe")
        .admin_cidrs(ADMIN)
        .build();
    let text = std::fs::read_to_string(probe.path().join("platform.yaml")).unwrap();
    let config = platform::config::Config::from_str(&text, probe.path(), None)
        .unwrap_or_else(|e| panic!("bench config: {e:?}"));
    let desired = platform::phases::infra::desired(&config, false).expect("desired resources");
    let op = |d: &DesiredResource| {
        // One operation plus the PUT's own request delay, as the local cloud answers it.
        (model.duration(&d.resource_type.to_ascii_lowercase(), false) + model.request_delay())
            .as_secs_f64()
    };
    let (model_sum, model_crit, model_chain) = sum_and_critical(&desired, &op);

    let (mut walls, mut downs, mut m_sums, mut m_crits) = (vec![], vec![], vec![], vec![]);
    let mut m_chain = Vec::new();
    for i in 0..runs {
        let c = Cluster::on(&cloud, &format!("bench-{i}"))
            .admin_cidrs(ADMIN)
            .build();
        let t0 = Instant::now();
        let up = c.run(&["-v", "up", "--only", "infra"]);
        let wall = t0.elapsed().as_secs_f64();
        assert_eq!(up.code, 0, "run {i}: {up:?}");
        let steps = measured_steps(&up.stderr);
        assert_eq!(steps.len(), desired.len(), "run {i}: {steps:?}");
        let measured = |d: &DesiredResource| steps[&d.key.to_string()];
        let (s, cp, chain) = sum_and_critical(&desired, &measured);
        let t1 = Instant::now();
        let down = c.run(&["down", "--yes"]);
        assert_eq!(down.code, 0, "run {i}: {down:?}");
        downs.push(t1.elapsed().as_secs_f64());
        println!(
            "run {i}: up {wall:.2} s (measured ops: sum {s:.2} s, longest chain {cp:.2} s), down {:.2} s",
            downs[i]
        );
        walls.push(wall);
        m_sums.push(s);
        m_crits.push(cp);
        m_chain = chain;
    }
    let (min, max) = walls
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), &w| (a.min(w), b.max(w)));
    let wall = median(walls);
    let (m_sum, m_crit) = (median(m_sums), median(m_crits));
    println!();
    println!(
        "platform up --only infra from empty: {} resources, time factor {tf}, {runs} runs",
        desired.len()
    );
    println!("  wall time            median {wall:.2} s (min {min:.2}, max {max:.2})");
    println!("  down --yes           median {:.2} s", median(downs));
    println!("                          model      measured   wall/model  wall/measured");
    println!(
        "  (a) sequential sum    {model_sum:7.2} s  {m_sum:7.2} s   {:8.3}    {:8.3}",
        wall / model_sum,
        wall / m_sum
    );
    println!(
        "  (b) longest chain     {model_crit:7.2} s  {m_crit:7.2} s   {:8.3}    {:8.3}",
        wall / model_crit,
        wall / m_crit
    );
    println!("  model chain:    {}", model_chain.join(" -> "));
    println!("  measured chain: {}", m_chain.join(" -> "));
    println!(
        "  at Azure scale (x{:.0}): sequential {}, lower bound {}, this tool ~{}",
        1.0 / tf,
        fmt(model_sum / tf),
        fmt(model_crit / tf),
        fmt(wall / tf)
    );
}

fn fmt(secs: f64) -> String {
    platform::output::format_duration(Duration::from_secs_f64(secs))
}
