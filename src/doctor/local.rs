//! What the cluster's own local cloud needs on this machine when its VMs are real hosts (the
//! nodes phase needs them): root, OpenSSH's server, sudo, iproute2 and the tools a host is
//! made with, etcd for embedded-etcd servers; an address space that no route of this
//! machine uses; a usable data directory.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::{Check, tools};
use crate::cloud::addresses::{free_address_space, machine_routes_by_iface};
use crate::config::{Config, Datastore};

/// Debian's OpenSSH server, the one the local cloud runs in every host.
const SSHD: &str = "/usr/sbin/sshd";

/// Every check of a `cloud.kind: local` config.
pub(super) fn checks(config: &Config) -> Vec<Check> {
    let cloud = &config.cloud;
    if let Some(endpoint) = &cloud.arm_endpoint {
        // A local cloud served elsewhere realizes its own hosts; here only its CA matters.
        let ca = cloud
            .local_ca
            .clone()
            .unwrap_or_else(|| crate::cloud::local_data_dir(config).join(local_cloud::CA_FILE));
        let item = "local cloud CA";
        return vec![if ca.is_file() {
            Check::ok(item, true, format!("{} for {endpoint}", ca.display()))
        } else {
            Check::missing(
                item,
                true,
                format!("{} is not a file", ca.display()),
                "set cloud.local_ca to the ca.pem that `platform local-cloud serve` wrote".into(),
            )
        }];
    }
    // With `local_hosts: false` the VMs stay records: their needs become optional, and the
    // report says what that costs.
    let hosts = cloud.local_hosts != Some(false);
    let mut out = Vec::new();
    if !hosts {
        out.push(Check::missing(
            "cloud.local_hosts",
            false,
            "false: the local cloud's VMs are records only, so the nodes phase cannot run".into(),
            "set cloud.local_hosts: true (or auto) and run as root".into(),
        ));
    }
    out.push(root(hosts));
    out.push(if Path::new(SSHD).is_file() {
        Check::ok("openssh-server", hosts, SSHD.into())
    } else {
        Check::package(
            "openssh-server",
            hosts,
            format!("{SSHD} not found"),
            "openssh-server",
        )
    });
    out.push(tools::on_path("sudo", "sudo", hosts, "sudo"));
    out.push(tools::on_path("iproute2 (ip)", "ip", hosts, "iproute2"));
    for (item, program, package) in [
        ("util-linux (unshare)", "unshare", "util-linux"),
        ("coreutils (chroot)", "chroot", "coreutils"),
        ("coreutils (mknod)", "mknod", "coreutils"),
        ("mount", "mount", "mount"),
        ("hostname", "hostname", "hostname"),
    ] {
        out.push(tools::on_path(item, program, hosts, package));
    }
    out.push(etcd(config, hosts));
    out.push(address_space(config, hosts));
    out.push(data_dir(&crate::cloud::local_data_dir(config)));
    out
}

/// Debian's etcd, which the k3s stand-in's servers run as their embedded etcd member
/// (looked for where the stand-in looks: `PATH`, then `/usr/bin/etcd`).
fn etcd(config: &Config, hosts: bool) -> Check {
    let item = "etcd-server (etcd)";
    let required = hosts && config.k3s.datastore == Datastore::Etcd;
    match local_cloud::k3s::etcd::process::binary() {
        Some(p) => Check::ok(item, required, p.display().to_string()),
        None => Check::package(
            item,
            required,
            "no etcd on PATH or at /usr/bin/etcd".into(),
            "etcd-server",
        ),
    }
}

/// Hosts are network namespaces, mounts and sshd processes: root only.
fn root(required: bool) -> Check {
    let euid = rustix::process::geteuid();
    if euid.is_root() {
        Check::ok("root", required, "running as root".into())
    } else {
        Check::missing(
            "root",
            required,
            format!(
                "running as uid {}; hosts need network namespaces, mounts and sshd",
                euid.as_raw()
            ),
            "run platform as root (for example `sudo platform up`)".into(),
        )
    }
}

/// The config's VNet must not overlap a route of this machine: the hosts' subnets become
/// bridges here. Routes through this cluster's own local cloud's bridges do not count.
fn address_space(config: &Config, required: bool) -> Check {
    let item = "address space";
    let space = config.network.address_space;
    let own = std::fs::read_to_string(config.paths().local_cloud_instance())
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let routes = machine_routes_by_iface();
    let clashes: Vec<String> = routes
        .iter()
        .filter(|(iface, _)| !own.as_deref().is_some_and(|p| iface.starts_with(p)))
        .filter(|(_, net)| crate::config::overlap(&space, net))
        .map(|(iface, net)| format!("{net} (on {iface})"))
        .collect();
    if clashes.is_empty() {
        return Check::ok(
            item,
            required,
            format!("network.address_space {space}: no route of this machine overlaps it"),
        );
    }
    let nets: Vec<_> = routes.iter().map(|(_, n)| *n).collect();
    let fix = match free_address_space(&nets) {
        Some(free) => format!(
            "set network.address_space to a free range such as {free}, with node_subnet and postgres_subnet inside it"
        ),
        None => "free a 10.N.0.0/16 on this machine (stop another local cloud with hosts)".into(),
    };
    Check::missing(
        item,
        required,
        format!(
            "network.address_space {space} overlaps routes of this machine: {}",
            clashes.join(", ")
        ),
        fix,
    )
}

/// The local cloud keeps its resources, CA and hosts' files here: it must be a directory we
/// can write that other users cannot (the product refuses a shared-writable state directory).
fn data_dir(dir: &Path) -> Check {
    let item = "local cloud data dir";
    let mut existing = dir;
    while !existing.exists() {
        match existing.parent() {
            Some(p) => existing = p,
            None => break,
        }
    }
    if !existing.is_dir() {
        return Check::missing(
            item,
            true,
            format!("{} is not a directory", existing.display()),
            "set state_dir (or --state-dir) to a directory".into(),
        );
    }
    for d in [dir.parent(), Some(dir)].into_iter().flatten() {
        if d.is_dir()
            && let Err(e) = crate::fsutil::check_not_shared(d)
        {
            return Check::missing(
                item,
                true,
                e.to_string(),
                format!("chmod go-w {}", d.display()),
            );
        }
    }
    match probe_write(existing) {
        Ok(()) if existing == dir => Check::ok(item, true, format!("{} (writable)", dir.display())),
        Ok(()) => Check::ok(
            item,
            true,
            format!(
                "{} (created on first use; {} is writable)",
                dir.display(),
                existing.display()
            ),
        ),
        Err(e) => Check::missing(
            item,
            true,
            format!("cannot write in {}: {e}", existing.display()),
            "set state_dir (or --state-dir) to a writable directory".into(),
        ),
    }
}

/// Creates and removes a file of a fresh random name in `dir` (exclusively, never through a
/// link), which is what writing there will need.
fn probe_write(dir: &Path) -> std::io::Result<()> {
    let path = dir.join(format!(".platform-doctor-{:016x}", rand::random::<u64>()));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(&path)?;
    std::fs::remove_file(&path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn data_dir_must_be_writable_and_private() {
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("state");
        // Not there yet: created on first use, in a writable parent.
        let c = data_dir(&state.join("local-cloud"));
        assert!(c.ok, "{c:?}");
        assert!(c.detail.contains("created on first use"), "{c:?}");
        std::fs::create_dir(&state).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
        let c = data_dir(&state.join("local-cloud"));
        assert!(!c.ok, "{c:?}");
        assert!(c.fix.as_deref().unwrap().starts_with("chmod go-w"), "{c:?}");
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
        let file = d.path().join("file");
        std::fs::write(&file, "").unwrap();
        let c = data_dir(&file.join("local-cloud"));
        assert!(!c.ok && c.detail.contains("is not a directory"), "{c:?}");
        // Nothing left behind by the probe.
        assert_eq!(std::fs::read_dir(&state).unwrap().count(), 0);
    }
}
