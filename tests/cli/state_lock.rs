//! The state lock across real processes: a second command exits 3 naming the holder; a lock
//! left by a dead process is taken over with a warning.

use platform::state::StateLock;
use support::Cluster;

#[test]
fn a_second_process_is_refused_while_the_lock_is_held() {
    let c = Cluster::local("demo").build();
    // This test process holds the lock (a real flock on the file) like a running `up` would.
    let held = StateLock::acquire(&c.state_dir(), "platform up").unwrap();
    for cmd in [&["up"][..], &["down", "--yes"][..]] {
        let r = c.run(cmd);
        assert_eq!(r.code, 3, "{cmd:?}: {r:?}");
        let me = std::process::id().to_string();
        assert!(
            r.stderr
                .contains(&format!("locked by pid {me} (`platform up`) since ")),
            "{r:?}"
        );
    }
    // Read-only commands do not need the lock.
    assert_eq!(c.run(&["status"]).code, 0);
    drop(held);
    assert_eq!(c.run(&["up", "--only", "infra"]).code, 0);
}

/// Eight `platform up` processes started together while another process (`flock(1)`, not
/// this test) holds the lock: every one is refused with exit 3 and the state is untouched.
/// Once it is released, eight more started together: each one either ran or was refused,
/// and the state counts exactly the runs that got in. No assertion depends on how the
/// runs happen to overlap.
#[test]
fn platform_processes_contend_for_real() {
    let c = Cluster::local("demo")
        .yaml("postgres: {enabled: false}\n")
        .build();
    let sd = c.state_dir();
    std::fs::create_dir_all(&sd).unwrap();
    std::fs::set_permissions(&sd, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    // flock(1) holds the lock until its stdin closes; it says so on stdout first.
    let mut holder = std::process::Command::new("flock")
        .arg(sd.join("state.lock"))
        .args(["sh", "-c", "echo held; read _"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("flock(1) from util-linux");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "held");
    let ups = |n: usize| -> Vec<i32> {
        let children: Vec<_> = (0..n)
            .map(|_| {
                c.command()
                    .args(["up", "--only", "infra", "--force-phase", "infra"])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap().status.code().unwrap())
            .collect()
    };
    assert_eq!(
        ups(8),
        [3; 8],
        "every run is refused while the lock is held"
    );
    assert!(!sd.join("state.json").exists(), "a refused run wrote state");
    drop(holder.stdin.take());
    holder.wait().unwrap();

    let codes = ups(8);
    assert!(codes.iter().all(|c| *c == 0 || *c == 3), "{codes:?}");
    let ran = codes.iter().filter(|c| **c == 0).count() as u64;
    assert!(ran >= 1, "{codes:?}");
    let state = platform::state::State::load(&sd).unwrap().unwrap();
    let infra = state.phase(platform::phase::Phase::Infra).unwrap();
    assert_eq!(u64::from(infra.attempts), ran, "{codes:?}");
}

#[test]
fn a_stale_lock_of_a_dead_process_is_taken_over_with_a_warning() {
    let c = Cluster::local("demo").build();
    let sd = c.state_dir();
    std::fs::create_dir_all(&sd).unwrap();
    // A process that has exited: its pid is free (until reused, which a test cannot rule
    // out; the pid of a just-reaped child is not reused within the test's time).
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    std::fs::write(
        sd.join("state.lock"),
        format!(r#"{{"pid":{dead},"command":"platform up","started_at":"2026-01-01T00:00:00Z"}}"#),
    )
    .unwrap();
    let r = c.run(&["up", "--only", "infra"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains(&format!("taking over a stale state lock: pid {dead}")),
        "{r:?}"
    );
}
