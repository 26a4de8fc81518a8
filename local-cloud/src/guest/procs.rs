//! Running a unit's commands and finding its processes. A command starts with systemd's
//! clean environment (plus the unit's), stdin on `/dev/null`, stdout and stderr into the
//! unit's journal, in a process group of its own; without cgroups a unit's processes are
//! the members of the process groups it started and their descendants (a process that
//! leaves its group and its parent escapes, which `README.md` says).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

use super::cmdline::{EXEC_PATH, ExecCmd};
use super::journal::Journal;
use super::reaper::{Reaper, Spawned};
use super::unit::Unit;

/// What a command of a unit runs with.
#[derive(Debug)]
pub struct Launch<'a> {
    pub unit: &'a Unit,
    pub cmd: &'a ExecCmd,
    pub env: &'a HashMap<String, String>,
}

/// The account a unit runs as: (uid, gid, home, shell).
fn account(user: &str) -> Option<(u32, u32, String, String)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && (f[0] == user || f[2] == user)).then(|| {
            Some((
                f[2].parse().ok()?,
                f[3].parse().ok()?,
                f[5].to_string(),
                f[6].to_string(),
            ))
        })?
    })
}

fn group_id(group: &str) -> Option<u32> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3 && (f[0] == group || f[2] == group)).then(|| f[2].parse().ok())?
    })
}

/// Resolves a command given by name on systemd's fixed search path.
fn executable(path: &str) -> String {
    if path.starts_with('/') {
        return path.to_string();
    }
    EXEC_PATH
        .split(':')
        .map(|d| format!("{d}/{path}"))
        .find(|p| Path::new(p).is_file())
        .unwrap_or_else(|| path.to_string())
}

/// Starts the command; its output goes to the unit's journal as `ident[pid]`. The error
/// is what systemd would log (`Failed to execute ...`), the caller records status 203.
pub fn launch(l: &Launch<'_>, reaper: &Reaper, journal: &Journal) -> Result<Spawned, String> {
    let argv = l.cmd.expand(l.env);
    let path = executable(&l.cmd.path);
    let mut cmd = Command::new(&path);
    cmd.arg0(argv.first().map_or(path.as_str(), String::as_str))
        .args(argv.iter().skip(1))
        .env_clear()
        .envs(l.env)
        .stdin(Stdio::null())
        .process_group(0)
        .current_dir(l.unit.working_directory.as_deref().unwrap_or("/"));
    if let Some(user) = &l.unit.user {
        let (uid, gid, home, shell) = account(user).ok_or_else(|| {
            format!("Failed to determine user credentials: No such process ({user})")
        })?;
        cmd.uid(uid).gid(gid);
        cmd.env("USER", user)
            .env("LOGNAME", user)
            .env("HOME", home)
            .env("SHELL", shell);
    }
    if let Some(group) = &l.unit.group {
        cmd.gid(
            group_id(group)
                .ok_or_else(|| format!("Failed to determine group credentials ({group})"))?,
        );
    }
    let (reader, writer) = std::io::pipe().map_err(|e| e.to_string())?;
    let writer2 = writer.try_clone().map_err(|e| e.to_string())?;
    cmd.stdout(writer).stderr(writer2);
    let spawned = reaper
        .spawn(&mut cmd)
        .map_err(|e| format!("Failed to execute {path}: {}", errno_text(&e)))?;
    drop(cmd); // closes our ends of the pipe's writer
    if let Some(limit) = l.unit.limit_nofile {
        set_nofile(spawned.pid, limit);
    }
    let ident = l.unit.syslog_identifier.clone().unwrap_or_else(|| {
        Path::new(&path)
            .file_name()
            .map_or(path.clone(), |n| n.to_string_lossy().into_owned())
    });
    let (journal, unit, pid) = (journal.clone(), l.unit.name.clone(), spawned.pid);
    // A thread per running command: blocking reads need no runtime support, and a line
    // written to the journal file at once keeps the order `journalctl` shows.
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            match line {
                Ok(line) => journal.write(&unit, &ident, pid, &line),
                Err(_) => break,
            }
        }
    });
    Ok(spawned)
}

/// The OS error's message without Rust's "(os error N)".
fn errno_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    s.split(" (os error").next().unwrap_or(&s).to_string()
}

/// `LimitNOFILE=`, set on the started process (right after it starts: there is no safe hook
/// between fork and exec here).
fn set_nofile(pid: u32, limit: u64) {
    use rustix::process::{Pid, Resource, Rlimit, prlimit};
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return;
    };
    let value = (limit != u64::MAX).then_some(limit);
    let _ = prlimit(
        Some(pid),
        Resource::Nofile,
        Rlimit {
            current: value,
            maximum: value,
        },
    );
}

/// (pid, parent pid, process group) of every process.
fn table() -> Vec<(u32, u32, u32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // Fields after the command name, which may hold spaces and parentheses.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.first() == Some(&"Z") {
            continue;
        }
        if let (Some(ppid), Some(pgrp)) = (f.get(1), f.get(2)) {
            out.push((pid, ppid.parse().unwrap_or(0), pgrp.parse().unwrap_or(0)));
        }
    }
    out
}

/// The live processes of a unit: members of `groups` and their descendants.
pub fn members(groups: &HashSet<u32>) -> Vec<u32> {
    if groups.is_empty() {
        return Vec::new();
    }
    let t = table();
    let mut found: HashSet<u32> = t
        .iter()
        .filter(|(_, _, g)| groups.contains(g))
        .map(|(p, _, _)| *p)
        .collect();
    loop {
        let more: Vec<u32> = t
            .iter()
            .filter(|(p, pp, _)| found.contains(pp) && !found.contains(p))
            .map(|(p, _, _)| *p)
            .collect();
        if more.is_empty() {
            break;
        }
        found.extend(more);
    }
    found.remove(&1);
    let mut v: Vec<u32> = found.into_iter().collect();
    v.sort_unstable();
    v
}

/// Sends signal `sig` to each pid (gone ones are skipped).
pub fn signal(pids: &[u32], sig: i32) {
    use rustix::process::{Pid, Signal, kill_process};
    let Some(sig) = Signal::from_named_raw(sig) else {
        return;
    };
    for pid in pids {
        if let Some(p) = i32::try_from(*pid).ok().and_then(Pid::from_raw) {
            let _ = kill_process(p, sig);
        }
    }
}

/// The command line of `pid`, as `systemctl status` lists processes.
pub fn cmdline(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The process name of `pid` (`comm`).
pub fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
