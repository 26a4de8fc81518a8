//! Crash safety of the infra phase: `kill -9` of `platform up --only infra` (and of `down`)
//! at seeded random points spread over a full run; each time a re-run must converge and
//! `down --yes` must leave nothing of the cluster. The cloud is a separate process, as Azure
//! is: operations started before the kill go on without the client.

use std::process::Stdio;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::Value;
use support::Cluster;
use support::cloud::LocalCloud;

/// Kill points of `up` (each followed by a converging re-run and a `down`).
const KILLS: u32 = 24;

/// Starts `platform ARGS` for `c` and SIGKILLs it after `delay`; returns whether it was
/// still running (a real kill) or had already finished.
fn kill_after(c: &Cluster, args: &[&str], delay: Duration) -> bool {
    let mut child = c
        .command()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while t0.elapsed() < delay {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2).min(delay - t0.elapsed().min(delay)));
    }
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    running
}

fn assert_converged(cloud: &LocalCloud, c: &Cluster, what: &str) {
    assert_eq!(
        c.phase_status("infra").as_deref(),
        Some("succeeded"),
        "{what}"
    );
    let plan = c.run(&["plan", "--only", "infra", "-o", "json"]);
    assert_eq!(plan.code, 0, "{what}: {plan:?}");
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    for o in plan["infra"].as_array().unwrap() {
        assert_eq!(o["action"], "unchanged", "{what}: {o}");
        assert_eq!(o["provisioning_state"], "Succeeded", "{what}: {o}");
    }
    let vms = cloud
        .resources_in(&c.rg())
        .iter()
        .filter(|r| r["type"] == "Microsoft.Compute/virtualMachines")
        .count();
    assert_eq!(vms, 5, "{what}: 3 servers + 2 agents, no extra VMs");
}

fn assert_gone(cloud: &LocalCloud, c: &Cluster, what: &str) {
    let left = cloud.resources_in(&c.rg());
    assert!(left.is_empty(), "{what}: down left {left:?}");
}

#[test]
fn kill_9_at_random_points_then_rerun_converges_and_down_cleans_up() {
    // A cloud of its own: on the shared one this test would hold `serial()` for its whole
    // two minutes (the other tests count that cloud's requests), and nothing else could run.
    let cloud = &LocalCloud::start(serde_json::json!({}));
    let c = Cluster::on(cloud, "crashy").build();

    // A full run from empty sets the range of kill points.
    let t0 = Instant::now();
    let full = c.run(&["up", "--only", "infra"]);
    let full_run = t0.elapsed();
    assert_eq!(full.code, 0, "{full:?}");
    assert_converged(cloud, &c, "uninterrupted run");
    assert_eq!(c.run(&["down", "--yes"]).code, 0);
    assert_gone(cloud, &c, "uninterrupted run");

    let mut rng = rand::rngs::StdRng::seed_from_u64(0x1ab5);
    let (mut real_kills, mut down_kills, mut rounds) = (0u32, 0, 0u32);
    // The run length drifts with machine load: when a kill lands after `up` already ended,
    // the time scale shrinks so later kill points stay inside the run.
    let mut scale = full_run.as_secs_f64();
    while real_kills < KILLS && rounds < 2 * KILLS {
        let i = real_kills;
        rounds += 1;
        // Stratified: kill point i lands in the i-th slice of the run, at a random offset,
        // so early (resource group), middle (network) and late (Postgres) points all occur.
        let slice = scale / f64::from(KILLS);
        let delay = Duration::from_secs_f64(slice * (f64::from(i) + rng.random_range(0.0..1.0)));
        let what = format!("kill {i} (round {rounds}) at {delay:?} of {full_run:?}");
        if kill_after(&c, &["up", "--only", "infra"], delay) {
            real_kills += 1;
        } else {
            scale *= 0.8;
        }
        let rerun = c.run(&["up", "--only", "infra"]);
        assert_eq!(rerun.code, 0, "{what}: {rerun:?}");
        assert_converged(cloud, &c, &what);

        // Every third round, `down` is killed too before it is run to the end.
        if rounds % 3 == 0 {
            let d = Duration::from_millis(rng.random_range(0..800));
            if kill_after(&c, &["down", "--yes"], d) {
                down_kills += 1;
            }
        }
        let down = c.run(&["down", "--yes"]);
        assert_eq!(down.code, 0, "{what}: {down:?}");
        assert_gone(cloud, &c, &what);
    }
    assert!(
        real_kills >= 20,
        "only {real_kills} kills in {rounds} rounds hit a running `up` (full run {full_run:?})"
    );
    assert!(down_kills >= 1, "no kill hit a running `down`");
}

/// A re-run that finds the Postgres server still being created by a killed run (invisible to
/// GET, every PUT answered 409 `AnotherOperationInProgress`) waits for that operation instead
/// of failing once the client's retries of the PUT run out. At this time factor the server
/// takes 6 s, longer than the local client's 20 retries last.
#[test]
fn a_rerun_waits_for_the_postgres_create_of_a_killed_run() {
    let cloud = LocalCloud::start_scaled(0.01, serde_json::json!({}));
    let c = Cluster::on(&cloud, "pgbusy").build();
    let mut up = c
        .command()
        .args(["up", "--only", "infra"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let pg_started = loop {
        let creating = cloud.resources_in(&c.rg()).into_iter().any(|r| {
            r["type"] == "Microsoft.DBforPostgreSQL/flexibleServers"
                && r["provisioningState"] != "Succeeded"
        });
        if creating || t0.elapsed() > Duration::from_secs(30) {
            break creating;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    up.kill().unwrap();
    up.wait().unwrap();
    assert!(pg_started, "the Postgres create never started");
    let rerun = c.run(&["-v", "up", "--only", "infra"]);
    assert_eq!(rerun.code, 0, "{rerun:?}");
    assert!(
        rerun.stderr.contains("busy with another operation"),
        "the re-run met the running create: {}",
        rerun.stderr
    );
    assert_converged(&cloud, &c, "after waiting");
    assert_eq!(c.run(&["down", "--yes"]).code, 0);
    assert_gone(&cloud, &c, "after waiting");
}
