//! Leftovers of a previous run that crashed: its hosts' processes, namespaces, links and
//! mounts (all named with this data dir's prefix), and the disks of VMs that no longer
//! exist. Only this instance's prefix is touched, so other clouds running on the machine
//! are left alone.

use std::collections::HashSet;
use std::path::Path;

use super::sys::{self, run, run_quiet};

/// Removes what carries `prefix`; keeps the directories of `live` VMs (their disks).
pub async fn leftovers(prefix: &str, config_name: &str, dir: &Path, live: &HashSet<String>) {
    let dash = format!("{prefix}-");
    if let Ok(list) = run("ip", &["netns", "list"]).await {
        for ns in list.lines().filter_map(|l| l.split_whitespace().next()) {
            if ns.starts_with(&dash) {
                tracing::info!(netns = ns, "removing a leftover host namespace");
                sys::kill_netns(ns).await;
                run_quiet("ip", &["netns", "del", ns]).await;
            }
        }
    }
    // A process whose namespace was already deleted: find sshd listeners by config name.
    let stray = pids_with(config_name);
    if !stray.is_empty() {
        tracing::info!(count = stray.len(), "killing leftover host sshd processes");
        sys::kill(&stray, "KILL").await;
    }
    if let Ok(links) = run("ip", &["-o", "link", "show"]).await {
        for name in links.lines().filter_map(link_name) {
            if name.starts_with(prefix) {
                tracing::info!(link = name, "removing a leftover host link");
                run_quiet("ip", &["link", "del", name]).await;
            }
        }
    }
    for m in sys::mounts_under(dir) {
        run_quiet("umount", &["-l", &m]).await;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || live.contains(&name) {
            continue;
        }
        tracing::info!(vm = %name, "removing the disk of a VM that no longer exists");
        if let Err(err) = sys::remove_dir(&e.path()).await {
            tracing::warn!(error = %err, "leftover host directory not removed");
        }
    }
}

/// Synchronous last resort when a realizer is dropped without `shutdown` (a panic, a
/// runtime ending): kills every process of this instance's namespaces and deletes them and
/// the bridge, so no host outlives the cloud. Disks are kept for the next start.
pub fn blocking_teardown(prefix: &str) {
    let run = |args: &[&str]| {
        std::process::Command::new("ip")
            .args(args)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let dash = format!("{prefix}-");
    let list = run(&["netns", "list"]);
    for ns in list.lines().filter_map(|l| l.split_whitespace().next()) {
        if !ns.starts_with(&dash) {
            continue;
        }
        for pid in run(&["netns", "pids", ns])
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
            .filter_map(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
        run(&["netns", "del", ns]);
    }
    let links = run(&["-o", "link", "show"]);
    for name in links.lines().filter_map(link_name) {
        if name.starts_with(prefix) {
            run(&["link", "del", name]);
        }
    }
}

/// `3: plcab12v0@if2: <...>` -> `plcab12v0`.
fn link_name(line: &str) -> Option<&str> {
    let name = line.split(": ").nth(1)?;
    Some(name.split('@').next().unwrap_or(name))
}

/// Pids whose command line mentions `needle`.
fn pids_with(needle: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmd)
                .contains(needle)
                .then_some(pid)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_names_are_parsed() {
        assert_eq!(
            link_name("7: plcab123v0@if2: <BROADCAST> mtu 1500"),
            Some("plcab123v0")
        );
        assert_eq!(link_name("3: plcab123br: <UP>"), Some("plcab123br"));
    }
}
