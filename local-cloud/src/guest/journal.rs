//! The host's journal: one file of JSON lines per unit under [`JOURNAL_DIR`] (kept across
//! host restarts, like a persistent journal), written by the init (services' stdout and
//! stderr, and the manager's own `systemd[1]` messages) and read by `journalctl` and
//! `systemctl status`. A file over [`ROTATE_AT`] bytes becomes `<unit>.1`.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// Where the journal files are, inside the host.
pub const JOURNAL_DIR: &str = "/var/log/local-cloud/journal";
/// The size at which a unit's journal file is rotated.
const ROTATE_AT: u64 = 4 << 20;

/// One journal entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// Wall-clock time, microseconds since the epoch.
    pub t: i64,
    /// The host boot it was written in.
    pub b: String,
    /// Syslog identifier (`systemd` for the manager, else the program's name).
    pub i: String,
    pub p: u32,
    pub m: String,
}

/// Appends entries to the journal files.
#[derive(Debug, Clone)]
pub struct Journal {
    inner: Arc<Mutex<HashMap<String, std::fs::File>>>,
    boot: String,
    dir: PathBuf,
}

impl Journal {
    /// A journal for this boot (`boot` identifies it to `journalctl -b`).
    pub fn new(boot: String) -> Journal {
        let dir = PathBuf::from(JOURNAL_DIR);
        let _ = std::fs::create_dir_all(&dir);
        Journal {
            inner: Arc::default(),
            boot,
            dir,
        }
    }

    /// Writes `msg` to unit `unit`'s journal as program `ident` with pid `pid`.
    pub fn write(&self, unit: &str, ident: &str, pid: u32, msg: &str) {
        let rec = Record {
            t: now_us(),
            b: self.boot.clone(),
            i: ident.to_string(),
            p: pid,
            m: msg.to_string(),
        };
        let Ok(mut line) = serde_json::to_string(&rec) else {
            return;
        };
        line.push('\n');
        let mut files = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.dir.join(format!("{unit}.log"));
        if files
            .get(unit)
            .and_then(|f| f.metadata().ok())
            .map(|m| m.len())
            > Some(ROTATE_AT)
        {
            files.remove(unit);
            let _ = std::fs::rename(&path, self.dir.join(format!("{unit}.log.1")));
        }
        if !files.contains_key(unit) {
            match open(&path) {
                Some(f) => files.insert(unit.to_string(), f),
                None => return,
            };
        }
        if let Some(f) = files.get_mut(unit) {
            let _ = f.write_all(line.as_bytes());
        }
    }

    /// A message of the service manager itself about `unit` (`systemd[1]: ...`), also shown
    /// on the host's console as systemd prints job results there.
    pub fn manager(&self, unit: &str, msg: &str) {
        self.write(unit, "systemd", 1, msg);
        super::log(msg);
    }
}

fn open(path: &Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .ok()
}

/// Microseconds since the epoch.
pub fn now_us() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1000) as i64
}

/// The records of `unit`, oldest first (rotated file first); unreadable files give none.
pub fn read(unit: &str) -> std::io::Result<Vec<Record>> {
    let dir = Path::new(JOURNAL_DIR);
    let mut out = Vec::new();
    for name in [format!("{unit}.log.1"), format!("{unit}.log")] {
        let text = match std::fs::read_to_string(dir.join(&name)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        out.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
    }
    Ok(out)
}

/// The units that have a journal.
pub fn units() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(JOURNAL_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_suffix(".log").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// A record as `journalctl`'s default `short` output shows it.
pub fn short(r: &Record, hostname: &str) -> String {
    format!("{} {hostname} {}[{}]: {}", stamp(r.t), r.i, r.p, r.m)
}

/// `Nov 29 04:40:12` (UTC: the hosts have no time zone of their own).
pub fn stamp(us: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{} {:02} {:02}:{:02}:{:02}",
        MONTHS[t.month() as usize - 1],
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_print_as_journalctl_short() {
        let r = Record {
            t: 1_764_391_212_000_000,
            b: "b".into(),
            i: "k3s".into(),
            p: 42,
            m: "hello".into(),
        };
        assert_eq!(short(&r, "node1"), "Nov 29 04:40:12 node1 k3s[42]: hello");
    }
}
