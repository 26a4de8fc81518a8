//! A task that prints 200 MB: `platform play --connection local` keeps only a bounded tail
//! of each stream, says how much it dropped, and its peak memory stays small. The peak is
//! the one `platform -v` logs at exit (`VmHWM`, counted from its own exec): rusage's
//! `ru_maxrss` of a child also holds the high-water mark of the test process it was spawned
//! from, which a panic's backtrace in an earlier test of this binary can raise past the bound.

use std::path::Path;

/// Runs `platform ARGS -v` in `dir`: what it printed, and the peak memory it logged (KiB).
fn run_measured(dir: &Path, args: &[&str]) -> (support::Run, u64) {
    let mut all = args.to_vec();
    all.push("-v");
    let run = support::run(dir, &all);
    let peak = run
        .stderr
        .lines()
        .filter(|l| l.contains("peak memory"))
        .find_map(|l| l.split("peak_rss_kib=").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no peak memory logged: {}", run.stderr));
    (run, peak)
}

/// The bound: output is kept as a 64 KiB tail per stream, so the whole process stays far
/// under this (it used 800 MB for this task before the tail was bounded).
const PEAK_BOUND_KIB: u64 = 64 * 1024;

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
    let (run, peak) = run_measured(dir.path(), &["play", path(&book), "--connection", "local"]);
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
