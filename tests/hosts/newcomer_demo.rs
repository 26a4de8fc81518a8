//! A newcomer's first ten minutes (issues 9 and 12), the demo: `scripts/demo.sh`, with the
//! binary under test, runs every phase on real local-cloud hosts through k3s and `kubectl get
//! nodes`, then bootstraps Flux from a repository served by one of the cluster's hosts until
//! the repository's ConfigMap is in the cluster, and leaves no process, network namespace or
//! mount of its local cloud behind: after a clean run, after Ctrl-C in the middle and after a
//! failure in the middle. Root only (`support::require`); the tests run
//! one at a time, since each demo picks the machine's first free address space.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use support::procs::{links_with, netns_with, procs_with};
use support::{Cluster, Need, finish, require};

/// Serializes the demos: each picks the first address space no route of this machine uses.
fn machine() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `scripts/demo.sh --dir DIR` with `bin` as its `platform`, in its own process group (as a
/// terminal's foreground job, so a group signal reaches it the way Ctrl-C does).
fn demo(dir: &Path, bin: &Path) -> Command {
    let mut c = Command::new(repo().join("scripts/demo.sh"));
    c.arg("--dir")
        .arg(dir)
        .env("PLATFORM_BIN", bin)
        .env_remove("PLATFORM_CONFIG")
        .env_remove("PLATFORM_STATE_DIR")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    c
}

/// Mount points, in any process's mount namespace, whose line mentions `needle`.
fn mounts_with(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("mountinfo")).ok())
        .flat_map(|t| {
            t.lines()
                .filter(|l| l.contains(needle))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Asserts that the local cloud of the demo in `dir` left nothing behind: no network
/// namespace or link of its instance, no sshd of its hosts, no process or mount that names
/// its directory.
fn assert_nothing_left(dir: &Path) {
    let instance = std::fs::read_to_string(dir.join(".platform/local-cloud/hosts/.instance"))
        .expect("the demo's local cloud realized hosts");
    let instance = instance.trim();
    assert_eq!(instance.len(), 8, "{instance:?}");
    assert_eq!(
        netns_with(instance),
        Vec::<String>::new(),
        "network namespaces"
    );
    assert_eq!(
        links_with(instance),
        Vec::<String>::new(),
        "bridges and veths"
    );
    assert_eq!(
        procs_with(&format!("sshd_config.{instance}")),
        Vec::<u32>::new(),
        "sshd of the hosts"
    );
    let dir = dir.to_str().unwrap();
    assert_eq!(procs_with(dir), Vec::<u32>::new(), "processes naming {dir}");
    assert_eq!(mounts_with(dir), Vec::<String>::new(), "mounts under {dir}");
}

/// One demo run's directory (a bare cluster directory the demo inits: dropping it stops
/// whatever local cloud the demo left before the directory goes), a scratch directory, and
/// the machine lock. `None` (skipped, or a failure under CI) when the hosts cannot be made.
struct DemoDir {
    // Field order is drop order.
    cluster: Cluster,
    tmp: tempfile::TempDir,
    _machine: MutexGuard<'static, ()>,
}

fn demo_dir() -> Option<DemoDir> {
    if !require(&[Need::Hosts]) {
        return None;
    }
    let machine = machine();
    Some(DemoDir {
        cluster: Cluster::bare(),
        tmp: tempfile::tempdir().unwrap(),
        _machine: machine,
    })
}

#[test]
fn demo_runs_every_built_phase_on_real_hosts_and_leaves_nothing_running() {
    let Some(d) = demo_dir() else {
        return;
    };
    let dir = d.cluster.path();
    let out = demo(dir, &support::platform_bin()).output().unwrap();
    let r = finish(out);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let said: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("demo: "))
        .collect();
    let phases: Vec<&str> = said
        .iter()
        .copied()
        .filter(|l| l.starts_with("demo: phase "))
        .collect();
    assert_eq!(phases.len(), 4, "{said:#?}");
    assert_eq!(phases[0], "demo: phase infra: succeeded");
    assert_eq!(phases[1], "demo: phase inventory: succeeded");
    // The init default: 3 servers and 2 agents, prepared and running k3s; no GitOps
    // controller in the local config, so that phase has nothing to do.
    assert_eq!(phases[2], "demo: phase nodes: succeeded");
    assert_eq!(phases[3], "demo: phase gitops: succeeded");
    // kubectl, through the cluster's kubeconfig, lists five Ready nodes.
    if support::require::command("kubectl").is_some() {
        let ready = r
            .stdout
            .lines()
            // `kubectl get nodes -o wide` rows (status's own node table has 4 columns).
            .filter(|l| l.split_whitespace().count() >= 9)
            .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
            .count();
        assert_eq!(ready, 5, "{}", r.stdout);
    }
    // The command on every node reached all five real hosts.
    assert!(r.stdout.contains("5 hosts: 5 ok"), "{}", r.stdout);
    assert_flux_synced(&r.stdout, &said);
    assert_eq!(said.last(), Some(&"demo: done: nothing left running"));
    assert_nothing_left(dir);
}

/// The demo's Flux part: `up` synced the commit it pushed, `platform status` shows the
/// GitRepository and Kustomization Ready at that revision, and kubectl (when installed) found
/// the repository's ConfigMap in the cluster, labelled by Flux's Kustomization.
fn assert_flux_synced(stdout: &str, said: &[&str]) {
    let revision = said
        .iter()
        .find_map(|l| l.strip_prefix("demo: gitops: Flux synced "))
        .unwrap_or_else(|| panic!("no sync reported: {said:#?}"));
    assert!(revision.starts_with("main@sha1:"), "{revision}");
    assert_eq!(revision.len(), "main@sha1:".len() + 40, "{revision}");
    for kind in ["GitRepository", "Kustomization"] {
        let line = format!("{kind} flux-system/flux-system: Ready=True {revision}");
        assert!(stdout.contains(&line), "{line} not in:\n{stdout}");
    }
    if support::require::command("kubectl").is_some() {
        // `kubectl get configmap hello -n hello -L kustomize.toolkit.fluxcd.io/name`'s row:
        // NAME DATA AGE NAME-label.
        let row = stdout.lines().find(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() == 4 && f[0] == "hello" && f[1] == "1" && f[3] == "flux-system"
        });
        assert!(
            row.is_some(),
            "no ConfigMap hello applied by Flux in:\n{stdout}"
        );
        assert!(
            said.contains(
                &"demo: from the repository, in the cluster: ConfigMap hello/hello greeting=hello from Git"
            ),
            "{said:#?}"
        );
    }
}

/// A `platform` for the demo that is the real one, except that `platform run` (reached once
/// `up` has realized and prepared the hosts) announces itself in `reached` and then, per
/// `mode`, blocks until a signal (`block`) or fails (`fail`).
fn stopping_platform(tmp: &Path, mode: &str) -> (PathBuf, PathBuf) {
    let reached = tmp.join("reached");
    let bin = tmp.join("platform");
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = run ]; then\n  touch '{}'\n  [ {mode} = fail ] && exit 1\n  exec sleep 600\nfi\nexec '{}' \"$@\"\n",
        reached.display(),
        support::platform_bin().display()
    );
    std::fs::write(&bin, script).unwrap();
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (bin, reached)
}

#[test]
fn demo_cleans_up_after_ctrl_c_in_the_middle() {
    let Some(d) = demo_dir() else {
        return;
    };
    let (dir, tmp) = (d.cluster.path(), d.tmp.path());
    let (bin, reached) = stopping_platform(tmp, "block");
    let stderr = tmp.join("stderr");
    let mut child = demo(dir, &bin)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    // The demo says it runs a command on the nodes right before running it; the wrapper then
    // marks `reached` and blocks, with the cluster's hosts up.
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.starts_with("demo: platform run") {
            break;
        }
    }
    while !reached.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "demo ended early: {seen:#?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let instance =
        std::fs::read_to_string(dir.join(".platform/local-cloud/hosts/.instance")).unwrap();
    assert!(!netns_with(instance.trim()).is_empty(), "hosts are up");
    // Ctrl-C: SIGINT to the whole foreground process group.
    let status = Command::new("kill")
        .args(["-INT", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
    seen.extend(lines.map(Result::unwrap));
    let code = child.wait().unwrap().code();
    let stderr = std::fs::read_to_string(&stderr).unwrap();
    assert_eq!(code, Some(130), "{seen:#?}\n{stderr}");
    assert!(
        seen.iter()
            .any(|l| l == "demo: stopped early (exit 130): removing the cluster"),
        "{seen:#?}"
    );
    assert_nothing_left(dir);
}

#[test]
fn demo_cleans_up_after_a_failure_in_the_middle() {
    let Some(d) = demo_dir() else {
        return;
    };
    let (dir, tmp) = (d.cluster.path(), d.tmp.path());
    let (bin, reached) = stopping_platform(tmp, "fail");
    let r = finish(demo(dir, &bin).output().unwrap());
    assert!(reached.exists(), "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("demo: stopped early (exit 1): removing the cluster"),
        "{}",
        r.stdout
    );
    assert_nothing_left(dir);
}
