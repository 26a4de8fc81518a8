//! Issue 12's benchmark (not run by `cargo test`; run `scripts/bench-gitops.sh`): platform's
//! Flux bootstrap of the Flux-shaped fixture against the machine's `kubectl apply
//! --server-side` of the same objects, on ONE k3s stand-in API server (kube-standin, in
//! memory, on loopback), each peer's first run on an empty cluster and its no-op re-run.
//!
//! - platform: what `up`'s gitops phase does before its Ready wait (the kubeconfig parsed, the
//!   counting client, discovery, `phases::gitops::bootstrap`: CRDs and the Namespace, each CRD
//!   Established, discovery until it serves the new kinds, the rest, every Deployment
//!   Available, then the GitRepository and Kustomization), in this process.
//! - kubectl: the same work as four commands: `apply --server-side -f flux-install.yaml`,
//!   `wait --for=condition=Established` on the two CRDs, `wait --for=condition=Available
//!   deploy --all -n flux-system`, and `apply --server-side -f` a file with platform's own
//!   GitRepository and Kustomization (written from `phases::gitops::source::objects`).
//!
//! Requests are counted by the server itself (a `Front` that sees every request before the
//! API does, whoever sends it), the same way for both; kubectl's own `-v=6` log lines and
//! platform's client-side count are shown beside them as a cross-check. Between peers every
//! object is deleted and the namespace and CRDs waited for until gone, so each first run
//! starts from the same empty cluster; the order alternates per round. Env: `BENCH_ROUNDS`
//! (3), `BENCH_READY_DELAY_MS` (50: how long the stand-in's workload controller takes to mark
//! a Deployment Available, as the local cloud's k3s at time factor 0.01), `KUBECTL`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark fails by panicking"
)]
#![allow(clippy::print_stdout)] // a benchmark's report is its output

mod gitops_bench;

use std::time::{Duration, Instant};

use gitops_bench::{Counts, Server, Step, env_or, median};
use platform::kube::apply::{Applier, ObjectRef, object_ref};
use platform::phases::gitops::{self, GitopsOutputs, source};

/// One measured run of one peer.
#[derive(Clone, Debug)]
struct Run {
    objects: usize,
    counts: Counts,
    wall: f64,
    /// platform: its client's own (requests, writes); kubectl: requests in its -v=6 log.
    own: (u64, u64),
    /// kubectl's commands.
    steps: Vec<Step>,
}

fn main() {
    if !support::bench_requested("scripts/bench-gitops.sh") {
        return;
    }
    let rounds: usize = env_or("BENCH_ROUNDS", 3);
    let delay = Duration::from_millis(env_or("BENCH_READY_DELAY_MS", 50));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench(rounds.max(1), delay));
}

async fn bench(rounds: usize, delay: Duration) {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(delay, work.path()).await;
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gitops/flux-install.yaml");
    let text = format!(
        "cluster: demo\ncloud: {{kind: local}}\nnetwork: {{admin_cidrs: [192.0.2.0/24]}}\ngitops:\n  controller: flux\n  repository: https://git.example.com/fleet.git\n  manifests: '{}'\n",
        fixture.display()
    );
    let config = platform::config::Config::from_str(&text, work.path(), None).unwrap();
    // Flux's source objects exactly as platform applies them, for kubectl's second file.
    let (creds, _, _) = source::credentials(&config).await.unwrap();
    let (sync, _) = source::objects(&config, &creds).unwrap();
    let sync_file = work.path().join("flux-sync.yaml");
    let docs: Vec<String> = sync
        .iter()
        .map(|o| serde_json::to_string(o).unwrap())
        .collect();
    std::fs::write(&sync_file, docs.join("\n---\n")).unwrap();
    let files = (fixture.as_path(), sync_file.as_path());
    let start = gitops_bench::kubectl_start().await;

    let (client, server_version) = gitops_bench::kubectl_versions(&server).await;
    println!(
        "GitOps bootstrap of the Flux-shaped fixture, platform against `{} apply --server-side` (client {client}), on one k3s stand-in API server ({server_version}, in memory; Deployments Available {} ms after they change), {rounds} round(s)",
        gitops_bench::kubectl_bin(),
        delay.as_millis()
    );
    let mut results: Vec<(&str, &str, Run)> = Vec::new();
    let mut everything: Vec<ObjectRef> = Vec::new();
    for round in 1..=rounds {
        let peers = if round % 2 == 1 {
            ["platform", "kubectl"]
        } else {
            ["kubectl", "platform"]
        };
        for peer in peers {
            let (first, again) = if peer == "platform" {
                let (first, outputs) = platform(&server, &config, &GitopsOutputs::default()).await;
                everything.clone_from(&outputs.inventory);
                everything.extend(sync.iter().map(object_ref));
                (first, platform(&server, &config, &outputs).await.0)
            } else {
                let cache = work.path().join(format!("kubectl-cache-{round}"));
                let first = kubectl(&server, &cache, files).await;
                (first, kubectl(&server, &cache, files).await)
            };
            for (run, r) in [("first", first), ("re-run", again)] {
                print_row(round, peer, run, &r);
                results.push((peer, run, r));
            }
            server.remove(&everything).await;
        }
    }
    summary(&results, start);
    server.stop().await;
}

/// platform's bootstrap over `previous`, as the gitops phase runs it, with a fresh client.
async fn platform(
    s: &Server,
    config: &platform::config::Config,
    previous: &GitopsOutputs,
) -> (Run, GitopsOutputs) {
    let before = s.snapshot().await;
    let cache = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let doc = platform::kube::kubeconfig::parse(&s.kubeconfig_text, "kubeconfig").unwrap();
    let (client, count) = platform::kube::client::counted_client(&doc).await.unwrap();
    let mut applier = Applier::new(client).await.unwrap();
    let infra = serde_json::json!({});
    let progress = platform::output::Progress::discard();
    let done = gitops::bootstrap(
        config,
        &mut applier,
        previous,
        &infra,
        cache.path(),
        &progress,
    )
    .await
    .unwrap();
    let wall = t.elapsed().as_secs_f64();
    let counts = s.snapshot().await - before;
    let run = Run {
        objects: done.installed.inventory.len() + 2,
        counts,
        wall,
        own: (count.requests(), count.writes()),
        steps: Vec::new(),
    };
    (run, done.outputs)
}

/// kubectl's equivalent of the bootstrap: apply, the two waits, apply Flux's source objects.
async fn kubectl(
    s: &Server,
    cache: &std::path::Path,
    (install, sync): (&std::path::Path, &std::path::Path),
) -> Run {
    let before = s.snapshot().await;
    let (i, y) = (install.to_str().unwrap(), sync.to_str().unwrap());
    let crds = [
        "crd/gitrepositories.source.toolkit.fluxcd.io",
        "crd/kustomizations.kustomize.toolkit.fluxcd.io",
    ];
    let commands: [(&'static str, Vec<&str>); 4] = [
        ("apply install", vec!["apply", "--server-side", "-f", i]),
        (
            "wait Established",
            [
                &["wait", "--for=condition=Established", "--timeout=300s"][..],
                &crds,
            ]
            .concat(),
        ),
        (
            "wait Available",
            vec![
                "wait",
                "--for=condition=Available",
                "deploy",
                "--all",
                "-n",
                "flux-system",
                "--timeout=300s",
            ],
        ),
        ("apply source", vec!["apply", "--server-side", "-f", y]),
    ];
    let mut steps = Vec::new();
    for (name, args) in commands {
        steps.push(s.kubectl(name, cache, &args).await);
    }
    Run {
        objects: steps[0].applied + steps[3].applied,
        counts: s.snapshot().await - before,
        wall: steps.iter().map(|s| s.secs).sum(),
        own: (steps.iter().map(|s| s.logged).sum(), 0),
        steps,
    }
}

fn print_row(round: usize, peer: &str, run: &str, r: &Run) {
    let own = if peer == "platform" {
        format!("client counted {} requests, {} writes", r.own.0, r.own.1)
    } else {
        let parts: Vec<String> = r
            .steps
            .iter()
            .map(|s| format!("{} {:.2} s {}/{}", s.name, s.secs, s.requests, s.logged))
            .collect();
        format!(
            "-v=6 log: {} requests; per command: wall, requests counted/logged: {}",
            r.own.0,
            parts.join(", ")
        )
    };
    println!(
        "  round {round} {peer:<8} {run:<6} {:>2} objects {:>3} requests {:>2} writes {:>2} dry runs {:>2} watches {:>2} store writes {:>6.3} s ({own})",
        r.objects,
        r.counts.requests,
        r.counts.writes,
        r.counts.dry_runs,
        r.counts.watches,
        r.counts.store,
        r.wall
    );
}

/// The table of medians and the ratios platform/kubectl.
fn summary(results: &[(&str, &str, Run)], kubectl_start: f64) {
    let of = |peer: &str, run: &str| -> Vec<&Run> {
        results
            .iter()
            .filter(|(p, r, _)| *p == peer && *r == run)
            .map(|(_, _, x)| x)
            .collect()
    };
    let med = |v: &[&Run], f: &dyn Fn(&Run) -> f64| median(v.iter().map(|r| f(r)).collect());
    println!(
        "\n{:<9} {:<7} {:>7} {:>9} {:>7} {:>8} {:>7} {:>12} {:>9}",
        "peer",
        "run",
        "objects",
        "requests",
        "writes",
        "dry runs",
        "watches",
        "store writes",
        "wall"
    );
    let mut table = Vec::new();
    for peer in ["platform", "kubectl"] {
        for run in ["first", "re-run"] {
            let v = of(peer, run);
            let row = [
                med(&v, &|r| r.objects as f64),
                med(&v, &|r| r.counts.requests as f64),
                med(&v, &|r| r.counts.writes as f64),
                med(&v, &|r| r.counts.dry_runs as f64),
                med(&v, &|r| r.counts.watches as f64),
                med(&v, &|r| r.counts.store as f64),
                med(&v, &|r| r.wall),
            ];
            println!(
                "{peer:<9} {run:<7} {:>7} {:>9} {:>7} {:>8} {:>7} {:>12} {:>7.3} s",
                row[0], row[1], row[2], row[3], row[4], row[5], row[6]
            );
            table.push(((peer, run), row));
        }
    }
    let get = |peer: &str, run: &str| table.iter().find(|(k, _)| *k == (peer, run)).unwrap().1;
    for run in ["first", "re-run"] {
        let (p, k) = (get("platform", run), get("kubectl", run));
        let ratio = |i: usize| {
            if k[i] == 0.0 {
                "-".to_owned()
            } else {
                format!("{:.2}", p[i] / k[i])
            }
        };
        println!(
            "platform/kubectl, {run}: requests {}, writes {}, wall {}",
            ratio(1),
            ratio(2),
            ratio(6)
        );
    }
    let k = of("kubectl", "first");
    let steps: Vec<String> = (0..4)
        .map(|i| {
            format!(
                "{} {:.3} s",
                k[0].steps[i].name,
                median(k.iter().map(|r| r.steps[i].secs).collect())
            )
        })
        .collect();
    println!("kubectl first, by command (medians): {}", steps.join(", "));
    println!(
        "kubectl process start and exit (`version --client`, median of 5): {kubectl_start:.3} s, paid 4 times per run; platform's wall excludes its own process start and config load"
    );
    println!(
        "columns: requests = every request the server received (its own count); writes = create, update, patch or delete not a dry run; store writes = the store's revisions during the run (the stand-in's controllers' status writes included)"
    );
    println!(
        "load average: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}
