//! State writes are atomic: a process killed with SIGKILL at any moment while rewriting the
//! state never leaves a file that fails to parse.
//!
//! The writer is this test binary itself, re-executed with `PLATFORM_TEST_CHURN_DIR` set to
//! run the ignored `churn_child`, which rewrites a large state file in a loop until it is
//! killed. Ignored, it is not counted as a test of its own.

use platform::clock::now;
use platform::phase::Phase;
use platform::state::{PhaseRecord, PhaseStatus, State, StateLock};
use std::process::Stdio;
use std::time::Duration;

const CHURN_ENV: &str = "PLATFORM_TEST_CHURN_DIR";

#[test]
#[ignore = "the writer process of kill_9_during_state_writes_never_leaves_a_torn_file"]
fn churn_child() {
    let Some(dir) = std::env::var_os(CHURN_ENV) else {
        panic!("churn_child is the writer the kill test re-executes; run that test instead");
    };
    let dir = std::path::PathBuf::from(dir);
    let lock = StateLock::acquire(&dir, "churn").unwrap();
    let mut state = State::load(&dir)
        .unwrap()
        .unwrap_or_else(|| State::new("demo"));
    // ~1 MB of outputs so each write takes long enough to be interrupted mid-way.
    let hosts: Vec<serde_json::Value> = (0..5000)
        .map(|i| serde_json::json!({"name": format!("demo-agents_{i:08x}"), "ip": format!("10.0.{}.{}", i / 250, i % 250), "role": "agent"}))
        .collect();
    for n in 0u64.. {
        state.phases.insert(
            Phase::Inventory,
            PhaseRecord {
                status: PhaseStatus::Succeeded,
                started_at: now(),
                finished_at: Some(now()),
                fingerprint: format!("sha256:{n:064x}"),
                outputs: serde_json::json!({"generation": n, "hosts": hosts}),
                error: None,
                attempts: n as u32,
            },
        );
        state.save(&dir, &lock).unwrap();
    }
}

#[test]
fn kill_9_during_state_writes_never_leaves_a_torn_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut generations = Vec::new();
    for round in 0..25u64 {
        let mut child = support::rerun_ignored(module_path!(), "churn_child")
            .env(CHURN_ENV, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a different point in the write cycle every round.
        std::thread::sleep(Duration::from_millis(40 + (round * 37) % 160));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let state = State::load(dir.path())
            .unwrap_or_else(|e| panic!("round {round}: state does not parse after kill -9: {e}"));
        if let Some(s) = state
            && let Some(r) = s.phase(Phase::Inventory)
        {
            generations.push(r.outputs["generation"].as_u64().unwrap());
        }
    }
    // The writer did get to write (so the kills landed during real write loops).
    assert!(generations.len() >= 20, "{generations:?}");
    assert!(generations.iter().any(|g| *g > 0), "{generations:?}");
}
