//! What makes a host's root look like a fresh Azure VM rather than a copy of the machine:
//! its own `/etc/hosts`, `/etc/resolv.conf` and `/etc/machine-id`, written once at
//! provisioning into the overlay's upper dir (the VM may change them later, as on Azure);
//! and at every boot, the host's `systemctl`/`journalctl` (symlinks to its init), no
//! service enabled but sshd (the machine's own enabled units, a PostgreSQL, a timer, are
//! not the host's), and `/etc/local-cloud/host.json` (`super::HOST_INFO`).

use std::path::Path;

use super::rootfs::{hide_lower_entries, write};
use super::{HOST_INFO, HostError, HostSpec};
use crate::guest::{INIT_PATH, TOOLS};

/// Where the machine's units are enabled (`*.wants`, `*.requires` directories).
const ETC_UNITS: &str = "/etc/systemd/system";

/// `/etc/hosts` as an Ubuntu cloud image has it, plus the line that makes the host's own
/// name resolve to its address (on Azure, Azure's DNS answers for the VM's name).
fn hosts_file(spec: &HostSpec) -> String {
    format!(
        "127.0.0.1 localhost\n\
         {ip} {name}\n\
         \n\
         # The following lines are desirable for IPv6 capable hosts\n\
         ::1 ip6-localhost ip6-loopback\n\
         fe00::0 ip6-localnet\n\
         ff00::0 ip6-mcastprefix\n\
         ff02::1 ip6-allnodes\n\
         ff02::2 ip6-allrouters\n\
         ff02::3 ip6-allhosts\n",
        ip = spec.ip,
        name = spec.hostname,
    )
}

/// No name server: the machine's would be unreachable from the host's network (and slow to
/// time out), so lookups go to the host's own loopback, where nothing answers, and fail
/// at once. Names resolve from `/etc/hosts` only.
const RESOLV_CONF: &str = "\
# Written by the platform local cloud: its hosts have no DNS server, so names resolve
# from /etc/hosts only (an Azure VM asks Azure's DNS through systemd-resolved).
options timeout:1 attempts:1
";

/// A machine id as systemd makes one: 128 random bits, 32 lower-case hex digits.
fn machine_id() -> String {
    format!("{}\n", uuid::Uuid::new_v4().simple())
}

/// Writes the image files into `upper` (first boot only: later boots keep the VM's edits).
pub fn provision(upper: &Path, spec: &HostSpec) -> Result<(), HostError> {
    let etc = upper.join("etc");
    write(&etc.join("hosts"), &hosts_file(spec), 0o644)?;
    write(&etc.join("resolv.conf"), RESOLV_CONF, 0o644)?;
    write(&etc.join("machine-id"), &machine_id(), 0o444)?;
    Ok(())
}

/// Per boot, into `upper`: the host's `systemctl` and `journalctl`, and whiteouts for the
/// machine's enabled units the host has not enabled itself (an entry the host made or
/// removed is in the upper dir already and stays as it is). `ssh.service` is enabled, as
/// on an Azure image.
pub fn per_boot(upper: &Path, spec: &HostSpec, time_factor: f64) -> Result<(), HostError> {
    write(
        &upper.join(HOST_INFO.trim_start_matches('/')),
        &host_info(spec, time_factor),
        0o644,
    )?;
    for tool in TOOLS {
        let link = upper.join(tool.trim_start_matches('/'));
        if std::fs::read_link(&link).is_ok_and(|t| t == Path::new(INIT_PATH)) {
            continue;
        }
        replace_with_link(&link, Path::new(INIT_PATH))?;
    }
    let ssh = upper.join("etc/systemd/system/multi-user.target.wants/ssh.service");
    if std::fs::symlink_metadata(&ssh).is_err() {
        replace_with_link(&ssh, Path::new("/lib/systemd/system/ssh.service"))?;
    }
    for e in std::fs::read_dir(ETC_UNITS).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".wants") || name.ends_with(".requires") {
            let dir = upper.join("etc/systemd/system").join(&name);
            std::fs::create_dir_all(&dir).map_err(|source| HostError::Io {
                path: dir.display().to_string(),
                source,
            })?;
            hide_lower_entries(&dir, &e.path())?;
        }
    }
    Ok(())
}

/// First and last line of the block of `/etc/hosts` the local cloud keeps up to date.
const NAMES_BEGIN: &str = "# Private DNS records of this VNet, kept by the platform local cloud:";
const NAMES_END: &str = "# End of the local cloud's private DNS records.";

/// Rewrites the private DNS block of the host's `/etc/hosts` (`spec.names`; what Azure's
/// DNS answers a VM for the private DNS zones linked to its VNet), in place: the file is
/// the overlay's upper copy, which a running host reads through its root. Lines the VM
/// wrote itself stay; a host that removed its `/etc/hosts` is left without one.
pub fn write_names(upper: &Path, names: &[(std::net::Ipv4Addr, String)]) -> Result<(), HostError> {
    let path = upper.join("etc/hosts");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        match line {
            NAMES_BEGIN => inside = true,
            NAMES_END if inside => inside = false,
            _ if !inside => {
                out.push_str(line);
                out.push('\n');
            }
            _ => {}
        }
    }
    if !names.is_empty() {
        out.push_str(NAMES_BEGIN);
        out.push('\n');
        for (ip, name) in names {
            out.push_str(&format!("{ip} {name}\n"));
        }
        out.push_str(NAMES_END);
        out.push('\n');
    }
    if out != text {
        std::fs::write(&path, out).map_err(|source| HostError::Io {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

/// `host.json`: the VM's name and the cloud's time factor, for the host's programs.
fn host_info(spec: &HostSpec, time_factor: f64) -> String {
    let v = serde_json::json!({"vm": spec.name, "time_factor": time_factor});
    format!("{v:#}\n")
}

fn replace_with_link(link: &Path, target: &Path) -> Result<(), HostError> {
    let io = |source| HostError::Io {
        path: link.display().to_string(),
        source,
    };
    if let Some(parent) = link.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    if std::fs::symlink_metadata(link).is_ok() {
        std::fs::remove_file(link).map_err(io)?;
    }
    std::os::unix::fs::symlink(target, link).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> HostSpec {
        HostSpec {
            key: "k".into(),
            name: "pool_0a".into(),
            hostname: "agent000001".into(),
            admin_user: "azureuser".into(),
            ssh_keys: vec![],
            ip: "10.0.1.4".parse().unwrap(),
            subnet: "10.0.1.0/24".parse().unwrap(),
            routes: vec![],
            names: vec![],
            running: true,
            problem: None,
        }
    }

    #[test]
    fn the_hosts_file_names_localhost_and_the_host_itself() {
        let text = hosts_file(&spec());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "127.0.0.1 localhost");
        assert_eq!(lines[1], "10.0.1.4 agent000001");
        assert!(text.contains("::1 ip6-localhost"));
    }

    #[test]
    fn the_private_dns_block_is_replaced_and_the_vms_own_lines_kept() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("etc/hosts"), &hosts_file(&spec()), 0o644).unwrap();
        let one = vec![(
            "10.0.2.4".parse().unwrap(),
            "pg.postgres.database.azure.com".to_string(),
        )];
        write_names(dir.path(), &one).unwrap();
        let mut text = std::fs::read_to_string(dir.path().join("etc/hosts")).unwrap();
        assert!(
            text.contains("\n10.0.2.4 pg.postgres.database.azure.com\n"),
            "{text}"
        );
        text.push_str("10.9.9.9 mine\n");
        std::fs::write(dir.path().join("etc/hosts"), &text).unwrap();
        write_names(dir.path(), &[]).unwrap();
        let text = std::fs::read_to_string(dir.path().join("etc/hosts")).unwrap();
        assert!(!text.contains("pg.postgres"), "{text}");
        assert!(
            text.contains("10.9.9.9 mine") && text.contains("10.0.1.4 agent000001"),
            "{text}"
        );
    }

    #[test]
    fn host_info_carries_the_time_factor() {
        let v: serde_json::Value = serde_json::from_str(&host_info(&spec(), 0.01)).unwrap();
        assert_eq!(v["time_factor"], 0.01);
        assert_eq!(v["vm"], "pool_0a");
    }

    #[test]
    fn machine_ids_are_fresh_hex() {
        let (a, b) = (machine_id(), machine_id());
        assert_ne!(a, b);
        assert_eq!(a.trim().len(), 32);
        assert!(
            a.trim()
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }
}
