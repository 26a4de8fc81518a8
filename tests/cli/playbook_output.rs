//! A task that prints 200 MB: `platform play --connection local` keeps only a bounded tail
//! of each stream, says how much it dropped, and its peak memory stays small. The peak is
//! the kernel's own record of that one process (the rusage `wait4` returns when it is
//! reaped, its own children included), not a timing, and not shared with the other tests
//! of the binary.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

/// Runs `cmd` to its end with stdout and stderr in files of `dir`: what it printed, and its
/// peak resident memory in KiB.
#[allow(unsafe_code)] // wait4 has no safe wrapper in our dependencies
#[allow(clippy::zombie_processes, reason = "wait4 reaps the child")]
fn run_measured(mut cmd: Command, dir: &Path) -> (support::Run, i64) {
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let child = cmd
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: `usage` is a plain C struct that wait4 fills; both are read only on success.
    // The child is reaped here, so `child` is never waited for.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::wait4(pid, &mut status, 0, &mut usage), pid);
        usage
    };
    let output = std::process::Output {
        status: ExitStatus::from_raw(status),
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    };
    (support::finish(output), usage.ru_maxrss)
}

/// The bound: output is kept as a 64 KiB tail per stream, so the whole process stays far
/// under this (it used 800 MB for this task before the tail was bounded).
const PEAK_BOUND_KIB: i64 = 64 * 1024;

#[test]
fn a_task_printing_200_mb_keeps_a_tail_and_platform_stays_under_64_mb() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("loud.yml");
    std::fs::write(
        &book,
        r#"- hosts: all
  gather_facts: false
  tasks:
    - name: Print 200 MB
      ansible.builtin.shell: "head -c 200000000 /dev/zero | tr '\\0' x; echo; echo the-end; exit 3"
"#,
    )
    .unwrap();
    let mut play = support::platform(dir.path());
    play.args(["play", path(&book), "--connection", "local"]);
    let (run, peak) = run_measured(play, dir.path());
    assert_eq!(run.code, 1, "{}", run.stderr);
    // 200,000,000 x's, a newline and "the-end\n"; the last 65,536 bytes are kept.
    let notice =
        "[output truncated: the first 199934473 bytes were dropped, the last 65536 are kept]";
    assert!(
        run.stdout.contains(notice),
        "{}",
        &run.stdout[..run.stdout.len().min(2000)]
    );
    assert!(
        run.stdout.contains("xxxx\n    the-end"),
        "the tail is not shown"
    );
    assert!(
        run.stdout.len() < 100_000,
        "{} bytes printed",
        run.stdout.len()
    );
    assert!(
        peak > 0 && peak <= PEAK_BOUND_KIB,
        "platform's peak RSS was {peak} KiB, over the {PEAK_BOUND_KIB} KiB bound"
    );
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
