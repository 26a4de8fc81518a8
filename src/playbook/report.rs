//! Results of a run: per task and host, and the recap in Ansible's shape.

use serde::Serialize;
use std::time::Duration;

/// How a task ended on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Changed,
    Failed,
    Skipped,
    Unreachable,
}

impl Status {
    /// The word Ansible prints (`fatal` for failures).
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::Failed => "fatal",
            Status::Skipped => "skipping",
            Status::Unreachable => "unreachable",
        }
    }
}

/// One task on one host.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    pub host: String,
    pub task: String,
    /// Line of the task in the playbook.
    pub line: u64,
    pub status: Status,
    /// A failure that `ignore_errors` let pass.
    pub ignored: bool,
    pub rc: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub msg: String,
    pub diff: Option<String>,
    /// The module's own return values (`stat`, `status_code`, `attempts`...); emptied by
    /// `no_log`, like the output.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub data: serde_json::Map<String, serde_json::Value>,
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
}

/// Counts for one host, as in Ansible's `PLAY RECAP` (`ok` includes `changed`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostRecap {
    pub host: String,
    pub ok: usize,
    pub changed: usize,
    pub unreachable: usize,
    pub failed: usize,
    pub skipped: usize,
    pub ignored: usize,
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
    /// The last lines of output of the task that failed, if one did.
    pub last_error: Option<String>,
}

impl HostRecap {
    /// Counts one task result.
    pub fn count(&mut self, r: &TaskResult) {
        match r.status {
            Status::Ok => self.ok += 1,
            Status::Changed => {
                self.ok += 1;
                self.changed += 1;
            }
            Status::Skipped => self.skipped += 1,
            Status::Unreachable => self.unreachable += 1,
            Status::Failed if r.ignored => self.ignored += 1,
            Status::Failed => self.failed += 1,
        }
        if matches!(r.status, Status::Failed | Status::Unreachable) && !r.ignored {
            self.last_error = Some(r.summary(5));
        }
    }
}

impl TaskResult {
    /// `msg` and the last `n` lines of stderr/stdout, for a failure line.
    pub fn summary(&self, n: usize) -> String {
        let mut parts = Vec::new();
        if !self.msg.is_empty() {
            parts.push(self.msg.clone());
        }
        if let Some(rc) = self.rc
            && rc != 0
        {
            parts.push(format!("rc={rc}"));
        }
        for stream in [&self.stderr, &self.stdout] {
            if !stream.is_empty() && !self.msg.contains(stream.trim()) {
                let lines: Vec<&str> = stream.lines().collect();
                let tail = &lines[lines.len().saturating_sub(n)..];
                parts.push(tail.join("\n"));
            }
        }
        parts.join("\n")
    }
}

/// The whole run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// Every task result in completion order.
    pub results: Vec<TaskResult>,
    /// One per host, by host name.
    pub hosts: Vec<HostRecap>,
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
}

impl RunReport {
    /// Whether no host failed or was unreachable.
    pub fn success(&self) -> bool {
        self.hosts
            .iter()
            .all(|h| h.failed == 0 && h.unreachable == 0)
    }

    /// Total `changed` over all hosts.
    pub fn changed(&self) -> usize {
        self.hosts.iter().map(|h| h.changed).sum()
    }

    /// Ansible's `PLAY RECAP` lines.
    pub fn recap(&self) -> String {
        let width = self.hosts.iter().map(|h| h.host.len()).max().unwrap_or(0);
        let mut s = String::new();
        for h in &self.hosts {
            s.push_str(&format!(
                "{:width$} : ok={:<4} changed={:<4} unreachable={:<4} failed={:<4} skipped={:<4} ignored={}\n",
                h.host, h.ok, h.changed, h.unreachable, h.failed, h.skipped, h.ignored
            ));
        }
        s
    }
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}
