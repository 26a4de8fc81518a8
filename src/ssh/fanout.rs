//! Fan-out: one task per host under a concurrency limit; every host runs, failures are
//! collected, and the run ends with a per-host summary.
//!
//! Workers never print: each host is a step of the [`Progress`] monitor (a spinner per host
//! on a TTY, plain lines in CI).

use serde_json::json;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

use super::host::HostError;
use crate::output::{Progress, format_duration, table};

/// How a host ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Changed,
    Failed,
    Unreachable,
}

impl Status {
    /// Lower-case name, as in the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::Failed => "failed",
            Status::Unreachable => "unreachable",
        }
    }
}

/// What a host task returns when it ran to the end (it may still have failed).
#[derive(Debug, Clone)]
pub struct Done<R> {
    pub status: Status,
    /// One line for the summary (e.g. `rc=0`, `3 changed`).
    pub message: String,
    /// Output worth showing when the host failed (the last lines are kept).
    pub output: String,
    /// The task's own result.
    pub value: Option<R>,
}

/// One host's result.
#[derive(Debug, Clone)]
pub struct HostReport<R> {
    pub host: String,
    pub status: Status,
    pub duration: Duration,
    pub message: String,
    /// The last lines of output (failed and unreachable hosts).
    pub tail: Vec<String>,
    pub value: Option<R>,
}

/// How many output lines a failed host shows.
pub const TAIL_LINES: usize = 10;

/// How many bytes of each of those lines are kept (their ends): a host's output is already
/// a bounded tail, but a summary of hundreds of hosts should stay readable.
pub const TAIL_LINE_BYTES: usize = 1024;

fn tail(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let from = lines.len().saturating_sub(TAIL_LINES);
    lines[from..].iter().map(|l| line_end(l)).collect()
}

/// The last [`TAIL_LINE_BYTES`] of a line (at a character boundary), saying how much is cut.
fn line_end(line: &str) -> String {
    if line.len() <= TAIL_LINE_BYTES {
        return line.to_owned();
    }
    let mut start = line.len() - TAIL_LINE_BYTES;
    while !line.is_char_boundary(start) {
        start += 1;
    }
    format!("[...{start} bytes cut] {}", &line[start..])
}

/// Runs `task` for every `(name, item)` with at most `limit` at once and returns one report
/// per host in input order. A [`HostError::Unreachable`] makes the host `unreachable`, any
/// other error (or a panic) `failed`; other hosts are not affected.
pub async fn fan_out<T, R, F, Fut>(
    items: Vec<(String, T)>,
    limit: usize,
    progress: Option<&Progress>,
    task: F,
) -> Vec<HostReport<R>>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Done<R>, HostError>> + Send + 'static,
{
    let sem = Arc::new(Semaphore::new(limit.max(1)));
    let task = Arc::new(task);
    let mut set = tokio::task::JoinSet::new();
    let names: Vec<String> = items.iter().map(|(n, _)| n.clone()).collect();
    for (index, (name, item)) in items.into_iter().enumerate() {
        let (sem, task, progress) = (sem.clone(), task.clone(), progress.cloned());
        set.spawn(async move {
            // The semaphore is never closed, so acquiring cannot fail.
            let _permit = sem.acquire_owned().await.ok();
            let step = progress.as_ref().map(|p| p.step(&name, "running"));
            let started = Instant::now();
            let result = task(item).await;
            let duration = started.elapsed();
            let report = match result {
                Ok(d) => HostReport {
                    host: name,
                    status: d.status,
                    duration,
                    tail: if matches!(d.status, Status::Failed | Status::Unreachable) {
                        tail(&d.output)
                    } else {
                        Vec::new()
                    },
                    message: d.message,
                    value: d.value,
                },
                Err(e) => HostReport {
                    host: name,
                    status: match e {
                        HostError::Unreachable { .. } => Status::Unreachable,
                        _ => Status::Failed,
                    },
                    duration,
                    message: e.to_string(),
                    tail: Vec::new(),
                    value: None,
                },
            };
            if let Some(step) = step {
                let text = format!("{}: {}", report.status.as_str(), report.message);
                match report.status {
                    // The step adds its own elapsed time.
                    Status::Ok | Status::Changed => step.done(&text),
                    Status::Failed | Status::Unreachable => {
                        step.failed(&format!("{text} ({})", format_duration(duration)))
                    }
                }
            }
            (index, report)
        });
    }
    let mut slots: Vec<Option<HostReport<R>>> = (0..names.len()).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        if let Ok((i, r)) = joined {
            slots[i] = Some(r);
        }
    }
    // A panicked task left its slot empty: report it as failed rather than lose the host.
    slots
        .into_iter()
        .zip(names)
        .map(|(r, host)| {
            r.unwrap_or(HostReport {
                host,
                status: Status::Failed,
                duration: Duration::ZERO,
                message: "the host task panicked".into(),
                tail: Vec::new(),
                value: None,
            })
        })
        .collect()
}

/// The summary table: host, status, duration, message; failed hosts' last lines follow.
pub fn summary_text<R>(reports: &[HostReport<R>]) -> String {
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            vec![
                r.host.clone(),
                r.status.as_str().to_owned(),
                format_duration(r.duration),
                r.message.clone(),
            ]
        })
        .collect();
    let mut out = table::render(&["HOST", "STATUS", "DURATION", "DETAIL"], &rows);
    for r in reports.iter().filter(|r| !r.tail.is_empty()) {
        out.push_str(&format!(
            "\n{} ({}), last lines:\n",
            r.host,
            r.status.as_str()
        ));
        for l in &r.tail {
            out.push_str(&format!("  {l}\n"));
        }
    }
    let count = |s: Status| reports.iter().filter(|r| r.status == s).count();
    out.push_str(&format!(
        "\n{} hosts: {} ok, {} changed, {} failed, {} unreachable\n",
        reports.len(),
        count(Status::Ok),
        count(Status::Changed),
        count(Status::Failed),
        count(Status::Unreachable)
    ));
    out
}

/// The summary as JSON (`value` adds each host's own result).
pub fn summary_json<R>(
    reports: &[HostReport<R>],
    value: impl Fn(&R) -> serde_json::Value,
) -> serde_json::Value {
    let hosts: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            json!({
                "host": r.host,
                "status": r.status,
                "duration_ms": r.duration.as_millis() as u64,
                "message": r.message,
                "tail": r.tail,
                "result": r.value.as_ref().map(&value),
            })
        })
        .collect();
    json!({ "hosts": hosts })
}

/// Whether any host failed or was unreachable (the command then exits non-zero).
pub fn any_failed<R>(reports: &[HostReport<R>]) -> bool {
    reports
        .iter()
        .any(|r| matches!(r.status, Status::Failed | Status::Unreachable))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn every_host_runs_within_the_limit_and_failures_are_collected() {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let items: Vec<(String, usize)> = (0..20).map(|i| (format!("h{i}"), i)).collect();
        let (r2, p2) = (running.clone(), peak.clone());
        let reports = fan_out(items, 4, None, move |i| {
            let (running, peak) = (r2.clone(), p2.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                match i % 5 {
                    0 => Err(HostError::Unreachable {
                        host: format!("h{i}"),
                        message: "gone".into(),
                    }),
                    1 => Ok(Done {
                        status: Status::Failed,
                        message: "rc=1".into(),
                        output: "a\nb\nboom".into(),
                        value: Some(i),
                    }),
                    2 => panic!("task bug"),
                    _ => Ok(Done {
                        status: Status::Ok,
                        message: "rc=0".into(),
                        output: String::new(),
                        value: Some(i),
                    }),
                }
            }
        })
        .await;
        assert_eq!(reports.len(), 20);
        assert!(peak.load(Ordering::SeqCst) <= 4);
        assert_eq!(reports[0].status, Status::Unreachable);
        assert_eq!(reports[1].tail, ["a", "b", "boom"]);
        assert_eq!(reports[2].status, Status::Failed);
        assert_eq!(reports[3].value, Some(3));
        assert!(any_failed(&reports));
        let text = summary_text(&reports);
        assert!(text.starts_with("HOST  STATUS"), "{text}");
        assert!(
            text.contains("h1 (failed), last lines:\n  a\n  b\n  boom"),
            "{text}"
        );
        assert!(
            text.contains("20 hosts: 8 ok, 0 changed, 8 failed, 4 unreachable"),
            "{text}"
        );
        let long = format!("{}END", "é".repeat(2000));
        let cut = tail(&format!("first\n{long}\n"));
        assert_eq!(cut[0], "first");
        assert!(cut[1].starts_with("[...2980 bytes cut] é") && cut[1].ends_with("éEND"));
        assert!(cut[1].len() < TAIL_LINE_BYTES + 30);
        let j = summary_json(&reports, |v| json!(v));
        assert_eq!(j["hosts"][3]["status"], "ok");
        assert_eq!(j["hosts"][3]["result"], 3);
    }
}
