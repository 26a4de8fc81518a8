//! What a test host left behind on this machine: network namespaces, links and processes.

/// Names in `dir` (a directory of the kernel's) that start with `prefix`.
fn names_with(dir: &str, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Network namespaces (`ip netns list`) whose name starts with `prefix`.
pub fn netns_with(prefix: &str) -> Vec<String> {
    names_with("/run/netns", prefix)
}

/// Network interfaces whose name starts with `prefix`.
pub fn links_with(prefix: &str) -> Vec<String> {
    names_with("/sys/class/net", prefix)
}

/// Processes whose command line mentions `needle`.
pub fn procs_with(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmd)
                .contains(needle)
                .then_some(pid)
        })
        .collect()
}

/// Whether `pid` is a live process (a zombie is not: nobody may reap orphans here).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(") ").next().map(|r| !r.starts_with('Z')))
        .unwrap_or(false)
}
