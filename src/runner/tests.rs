//! Runner tests with a scripted executor: the seam is `PhaseExec`, the state file is real.

use super::*;
use std::cell::RefCell;
use std::collections::HashMap;

/// Runs phases from a script: each phase returns the queued result, and calls are recorded.
struct Scripted {
    results: RefCell<HashMap<Phase, Vec<Result<serde_json::Value, String>>>>,
    calls: RefCell<Vec<Phase>>,
    /// What the live check of a phase finds (default: the world matches).
    world: RefCell<HashMap<Phase, Verification>>,
    verified: RefCell<Vec<Phase>>,
}

impl Scripted {
    fn new() -> Scripted {
        Scripted {
            results: RefCell::new(HashMap::new()),
            calls: RefCell::new(Vec::new()),
            world: RefCell::new(HashMap::new()),
            verified: RefCell::new(Vec::new()),
        }
    }
    fn queue(&self, p: Phase, r: Result<serde_json::Value, &str>) {
        self.results
            .borrow_mut()
            .entry(p)
            .or_default()
            .push(r.map_err(str::to_owned));
    }
}

impl PhaseExec for Scripted {
    async fn run(
        &self,
        phase: Phase,
        _: &Config,
        _: &State,
        _: &Progress,
    ) -> Result<serde_json::Value, Error> {
        self.calls.borrow_mut().push(phase);
        let mut r = self.results.borrow_mut();
        let q = r.get_mut(&phase).filter(|q| !q.is_empty());
        match q.map(|q| q.remove(0)) {
            Some(Ok(v)) => Ok(v),
            Some(Err(m)) => Err(Error::Failed(m)),
            None => Ok(serde_json::json!({"phase": phase.name()})),
        }
    }

    async fn verify(&self, phase: Phase, _: &Config, _: &PhaseRecord) -> Verification {
        self.verified.borrow_mut().push(phase);
        self.world
            .borrow()
            .get(&phase)
            .cloned()
            .unwrap_or(Verification::Matches)
    }
}

fn config(dir: &Path, agents: u32) -> Config {
    let text = format!(
        "cluster: demo\ncloud: {{kind: local}}\nnetwork: {{admin_cidrs: [192.0.2.0/24]}}\ngitops: {{controller: none}}\nnodes: {{agents: {{count: {agents}}}}}\n"
    );
    Config::from_str(&text, dir, None).unwrap()
}

async fn up(
    exec: &Scripted,
    c: &Config,
    state: &mut State,
    sel: Selection,
    forced: &[Phase],
) -> Result<Vec<PhaseOutcome>, (Vec<PhaseOutcome>, Error)> {
    let lock = StateLock::acquire(&c.state_dir, "test").unwrap();
    let progress = Progress::discard();
    run(exec, c, state, &lock, &sel, forced, &progress).await
}

fn results(o: &[PhaseOutcome]) -> Vec<(&'static str, &'static str)> {
    o.iter()
        .map(|o| (o.phase.name(), o.result.as_str()))
        .collect()
}

#[tokio::test]
async fn second_run_skips_unchanged_phases_and_config_changes_rerun_downstream() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), 2);
    let mut state = State::new("demo");
    let exec = Scripted::new();
    let o = up(&exec, &c, &mut state, Selection::default(), &[])
        .await
        .unwrap();
    assert_eq!(o.len(), 4);
    assert!(o.iter().all(|o| o.result == PhaseResult::Succeeded));

    let o = up(&exec, &c, &mut state, Selection::default(), &[])
        .await
        .unwrap();
    assert!(o.iter().all(|o| o.result == PhaseResult::Skipped), "{o:?}");

    // More agents: infra and nodes read the nodes section, inventory and gitops read
    // infra's changed outputs, so all four run.
    exec.queue(Phase::Infra, Ok(serde_json::json!({"vms": 4})));
    let c4 = config(dir.path(), 4);
    let o = up(&exec, &c4, &mut state, Selection::default(), &[])
        .await
        .unwrap();
    assert!(
        o.iter().all(|o| o.result == PhaseResult::Succeeded),
        "{o:?}"
    );

    // A k3s change is read by nodes only; its outputs stay the same, so gitops is skipped.
    let mut c5 = c4.clone();
    c5.k3s.channel = "latest".into();
    let o = up(&exec, &c5, &mut state, Selection::default(), &[])
        .await
        .unwrap();
    assert_eq!(
        results(&o),
        [
            ("infra", "skipped"),
            ("inventory", "skipped"),
            ("nodes", "succeeded"),
            ("gitops", "skipped"),
        ]
    );
    // The state on disk matches memory.
    let on_disk = State::load(&c.state_dir).unwrap().unwrap();
    assert_eq!(on_disk.phases, state.phases);
}

#[tokio::test]
async fn a_failure_is_recorded_and_the_next_run_resumes_there() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), 2);
    let mut state = State::new("demo");
    let exec = Scripted::new();
    exec.queue(Phase::Nodes, Err("host vm-3 unreachable"));
    let (o, e) = up(&exec, &c, &mut state, Selection::default(), &[])
        .await
        .unwrap_err();
    assert_eq!(
        results(&o),
        [
            ("infra", "succeeded"),
            ("inventory", "succeeded"),
            ("nodes", "failed")
        ]
    );
    assert!(
        matches!(
            e,
            Error::PhaseFailed {
                phase: Phase::Nodes,
                ..
            }
        ),
        "{e}"
    );
    let saved = State::load(&c.state_dir).unwrap().unwrap();
    let rec = saved.phase(Phase::Nodes).unwrap();
    assert_eq!(rec.status, PhaseStatus::Failed);
    assert_eq!(rec.error.as_deref(), Some("host vm-3 unreachable"));
    assert!(saved.phase(Phase::Gitops).is_none());

    exec.calls.borrow_mut().clear();
    let o = up(&exec, &c, &mut state, Selection::default(), &[])
        .await
        .unwrap();
    assert_eq!(*exec.calls.borrow(), [Phase::Nodes, Phase::Gitops]);
    assert_eq!(o[2].decision, Decision::Run("last run failed".into()));
    assert_eq!(state.phase(Phase::Nodes).unwrap().attempts, 2);
}

#[tokio::test]
async fn only_from_and_force() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), 2);
    let mut state = State::new("demo");
    let exec = Scripted::new();
    let only_nodes = Selection {
        only: vec![Phase::Nodes],
        from: None,
    };
    let (_, e) = up(&exec, &c, &mut state, only_nodes.clone(), &[])
        .await
        .unwrap_err();
    // nodes reads infra's outputs (load balancer addresses) and inventory's hosts.
    assert!(e.to_string().contains("needs the outputs of infra"), "{e}");
    assert!(exec.calls.borrow().is_empty());

    let only_infra = Selection {
        only: vec![Phase::Infra],
        from: None,
    };
    up(&exec, &c, &mut state, only_infra.clone(), &[])
        .await
        .unwrap();
    let from_inv = Selection {
        only: vec![],
        from: Some(Phase::Inventory),
    };
    up(&exec, &c, &mut state, from_inv, &[]).await.unwrap();
    assert_eq!(exec.calls.borrow().len(), 4);

    let o = up(&exec, &c, &mut state, only_infra, &[Phase::Infra])
        .await
        .unwrap();
    assert_eq!(
        o[0].decision,
        Decision::Run("forced with --force-phase".into())
    );
}

#[test]
fn an_interrupted_phase_runs_again() {
    let rec = PhaseRecord {
        status: PhaseStatus::Running,
        started_at: now(),
        finished_at: None,
        fingerprint: "sha256:a".into(),
        outputs: serde_json::Value::Null,
        error: None,
        attempts: 1,
    };
    assert_eq!(
        decide_recorded(Some(&rec), "sha256:a", false),
        Decision::Run("last run was interrupted".into())
    );
}

#[test]
fn fingerprints_ignore_sections_a_phase_does_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let a = config(dir.path(), 2);
    let mut b = a.clone();
    b.k3s.channel = "latest".into();
    b.cloud.local_time_factor = 0.5;
    b.nodes.jump_host = Some("bastion.example.com".into());
    let s = State::new("demo");
    assert_eq!(
        fingerprint(Phase::Infra, &a, &s),
        fingerprint(Phase::Infra, &b, &s)
    );
    assert_ne!(
        fingerprint(Phase::Nodes, &a, &s),
        fingerprint(Phase::Nodes, &b, &s)
    );
}

#[tokio::test]
async fn a_phase_is_skipped_only_when_its_live_check_matches() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), 2);
    let mut state = State::new("demo");
    let exec = Scripted::new();
    up(&exec, &c, &mut state, Selection::default(), &[])
        .await
        .unwrap();
    assert!(
        exec.verified.borrow().is_empty(),
        "nothing to verify before a success"
    );
    // A database deleted by hand: inputs unchanged, but the world differs.
    exec.world.borrow_mut().insert(
        Phase::Infra,
        Verification::Differs("postgres-database:app create".into()),
    );
    exec.calls.borrow_mut().clear();
    // plan and up decide the same way.
    let planned = plan(&exec, &c, &state, &Selection::default()).await;
    assert_eq!(planned[0].action, PlanAction::Run);
    assert_eq!(
        planned[0].reason,
        "live check: postgres-database:app create"
    );
    assert_eq!(planned[1].action, PlanAction::Depends, "{planned:?}");
    let o = up(&exec, &c, &mut state, Selection::default(), &[])
        .await
        .unwrap();
    assert_eq!(o[0].result, PhaseResult::Succeeded);
    assert_eq!(
        o[0].decision,
        Decision::Run("live check: postgres-database:app create".into())
    );
    assert_eq!(exec.calls.borrow()[0], Phase::Infra);
    // A check that cannot be made is not a match either.
    exec.world.borrow_mut().insert(
        Phase::Infra,
        Verification::Failed("cloud unreachable".into()),
    );
    let o = up(&exec, &c, &mut state, Selection::default(), &[])
        .await
        .unwrap();
    assert_eq!(
        o[0].decision,
        Decision::Run("live check failed: cloud unreachable".into())
    );
    exec.world.borrow_mut().clear();
    let o = up(&exec, &c, &mut state, Selection::default(), &[])
        .await
        .unwrap();
    assert!(o.iter().all(|o| o.result == PhaseResult::Skipped), "{o:?}");
    assert_eq!(
        o[0].decision,
        Decision::Skip("unchanged since last success, verified live".into())
    );
}
