//! A task that prints 200 MB: `platform play --connection local` keeps only a bounded tail
//! of each stream, says how much it dropped, and its peak memory stays small. The peak is
//! the kernel's own record (getrusage RUSAGE_CHILDREN after the child exits), not a timing.
//! This file holds one test so that `platform` is the only child measured.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod support;

use std::path::Path;

/// Peak resident memory, in KiB, of the largest child of this process that has exited.
#[allow(unsafe_code)] // getrusage has no safe wrapper in our dependencies
fn children_peak_rss_kib() -> i64 {
    // SAFETY: `usage` is a plain C struct that getrusage fills; it is read only on success.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0);
        usage.ru_maxrss
    }
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
    let before = children_peak_rss_kib();
    let run = support::finish(
        support::platform(dir.path())
            .args(["play", path(&book), "--connection", "local"])
            .output()
            .unwrap(),
    );
    let peak = children_peak_rss_kib();
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
        before <= PEAK_BOUND_KIB && peak <= PEAK_BOUND_KIB,
        "platform's peak RSS was {peak} KiB, over the {PEAK_BOUND_KIB} KiB bound"
    );
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
