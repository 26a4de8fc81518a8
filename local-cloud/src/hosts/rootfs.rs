//! A host's disk: its per-host directory (host key, overlay upper/work dirs) and the
//! provisioning Azure's agent would do on first boot, written into the overlay's upper dir
//! so the machine's own files are never touched: the admin user with a fresh home holding
//! only `authorized_keys`, passwordless sudo, hostname, the image files (`image`), and the
//! sshd configuration (listening on every address of the host, as on an Azure VM).

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{HostError, HostSpec};

/// File names inside a host's directory.
pub const HOST_KEY: &str = "ssh_host_ed25519_key";
const PROVISIONED: &str = "provisioned";
/// Where the host key lives inside the host.
const KEY_IN_HOST: &str = "/etc/ssh/platform_host_ed25519_key";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HostError + '_ {
    move |source| HostError::Io {
        path: path.display().to_string(),
        source,
    }
}

pub(super) fn write(path: &Path, content: &str, mode: u32) -> Result<(), HostError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::write(path, content).map_err(io(path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io(path))
}

/// The host's ed25519 key: generated on first use and kept, so a restarted cloud's host
/// answers with the same key. Returns (public key line, `SHA256:` fingerprint).
pub fn host_key(dir: &Path) -> Result<(String, String), HostError> {
    let path = dir.join(HOST_KEY);
    let key = match std::fs::read_to_string(&path) {
        Ok(pem) => ssh_key::PrivateKey::from_openssh(pem.as_bytes())
            .map_err(|e| HostError::Key(format!("{}: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = ssh_key::PrivateKey::random(
                &mut ssh_key::rand_core::OsRng,
                ssh_key::Algorithm::Ed25519,
            )
            .map_err(|e| HostError::Key(e.to_string()))?;
            let pem = key
                .to_openssh(ssh_key::LineEnding::LF)
                .map_err(|e| HostError::Key(e.to_string()))?;
            write(&path, &pem, 0o600)?;
            key
        }
        Err(e) => return Err(io(&path)(e)),
    };
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| HostError::Key(e.to_string()))?;
    let fp = key.public_key().fingerprint(ssh_key::HashAlg::Sha256);
    Ok((public, fp.to_string()))
}

/// Writes the per-boot files (host key, sshd config) and, on first boot only, the
/// provisioning (user, home, sudo, hostname): later boots keep what the VM changed itself.
pub fn prepare(
    dir: &Path,
    spec: &HostSpec,
    config_name: &str,
    time_factor: f64,
) -> Result<PathBuf, HostError> {
    let upper = dir.join("upper");
    for d in ["upper", "work", "merged"] {
        std::fs::create_dir_all(dir.join(d)).map_err(io(&dir.join(d)))?;
    }
    let key = std::fs::read_to_string(dir.join(HOST_KEY)).map_err(io(&dir.join(HOST_KEY)))?;
    write(
        &upper.join(KEY_IN_HOST.trim_start_matches('/')),
        &key,
        0o600,
    )?;
    let config = format!(
        "# Written by the platform local cloud for VM {vm}.\n\
         HostKey {KEY_IN_HOST}\nPidFile none\nUsePAM no\n\
         PermitRootLogin no\nPubkeyAuthentication yes\nPasswordAuthentication no\n\
         KbdInteractiveAuthentication no\nAuthorizedKeysFile .ssh/authorized_keys\n\
         UseDNS no\nPrintMotd no\nMaxStartups 200:30:400\nMaxSessions 100\n\
         ClientAliveInterval 30\nAcceptEnv LANG LC_*\nSubsystem sftp internal-sftp\n",
        vm = spec.name,
    );
    write(&upper.join("etc/ssh").join(config_name), &config, 0o644)?;
    // The mount point of the init executable's read-only bind mount.
    let init = upper.join(crate::guest::INIT_PATH.trim_start_matches('/'));
    if !init.is_file() {
        write(&init, "", 0o755)?;
    }
    super::image::per_boot(&upper, spec, time_factor)?;
    if !dir.join(PROVISIONED).exists() {
        provision(&upper, spec)?;
        write(&dir.join(PROVISIONED), "", 0o644)?;
    }
    Ok(upper)
}

/// A `name:...` line of a colon-separated database with the given name, if any.
fn entry<'a>(db: &'a str, name: &str) -> Option<&'a str> {
    db.lines().find(|l| l.split(':').next() == Some(name))
}

fn ids_in(db: &str, field: usize) -> Vec<u32> {
    db.lines()
        .filter_map(|l| l.split(':').nth(field)?.parse().ok())
        .collect()
}

fn without(db: &str, name: &str) -> String {
    db.lines()
        .filter(|l| l.split(':').next() != Some(name))
        .fold(String::new(), |mut s, l| {
            let _ = writeln!(s, "{l}");
            s
        })
}

fn provision(upper: &Path, spec: &HostSpec) -> Result<(), HostError> {
    let user = spec.admin_user.as_str();
    let read = |p: &str| std::fs::read_to_string(p).map_err(io(Path::new(p)));
    let (passwd, group, shadow) = (
        read("/etc/passwd")?,
        read("/etc/group")?,
        read("/etc/shadow")?,
    );
    // Keep the uid of a same-named user of the machine (files it owns stay consistent);
    // otherwise the first free uid from 1000 like `useradd`.
    let uid = entry(&passwd, user)
        .and_then(|l| l.split(':').nth(2)?.parse().ok())
        .unwrap_or_else(|| {
            let used = ids_in(&passwd, 2);
            (1000..60000).find(|u| !used.contains(u)).unwrap_or(60000)
        });
    let gid = entry(&group, user)
        .and_then(|l| l.split(':').nth(2)?.parse().ok())
        .unwrap_or_else(|| {
            let used = ids_in(&group, 2);
            if used.contains(&uid) {
                (1000..60000).find(|g| !used.contains(g)).unwrap_or(60000)
            } else {
                uid
            }
        });
    let home = format!("/home/{user}");
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86400)
        .unwrap_or(0);
    let etc = upper.join("etc");
    write(
        &etc.join("passwd"),
        &format!(
            "{}{user}:x:{uid}:{gid}::{home}:/bin/bash\n",
            without(&passwd, user)
        ),
        0o644,
    )?;
    write(
        &etc.join("group"),
        &format!("{}{user}:x:{gid}:\n", without(&group, user)),
        0o644,
    )?;
    // `*`: no password, yet not locked (sshd refuses `!` accounts even for keys).
    write(
        &etc.join("shadow"),
        &format!("{}{user}:*:{days}:0:99999:7:::\n", without(&shadow, user)),
        0o640,
    )?;
    write(
        &etc.join("sudoers.d/90-platform"),
        &format!(
            "# Azure-style provisioning: the admin user may sudo without a password.\n{user} ALL=(ALL) NOPASSWD:ALL\n"
        ),
        0o440,
    )?;
    write(
        &etc.join("hostname"),
        &format!("{}\n", spec.hostname),
        0o644,
    )?;
    super::image::provision(upper, spec)?;
    let home_dir = upper.join(home.trim_start_matches('/'));
    std::fs::create_dir_all(&home_dir).map_err(io(&home_dir))?;
    hide_lower_entries(&home_dir, Path::new(&home))?;
    let keys: String = spec
        .ssh_keys
        .iter()
        .map(|k| format!("{}\n", k.trim()))
        .collect();
    write(&home_dir.join(".ssh/authorized_keys"), &keys, 0o600)?;
    std::fs::set_permissions(
        home_dir.join(".ssh"),
        std::fs::Permissions::from_mode(0o700),
    )
    .map_err(io(&home_dir))?;
    for p in [
        &home_dir,
        &home_dir.join(".ssh"),
        &home_dir.join(".ssh/authorized_keys"),
    ] {
        std::os::unix::fs::chown(p, Some(uid), Some(gid)).map_err(io(p))?;
    }
    Ok(())
}

/// A fresh home even if the machine has one at the same path: each entry of the machine's
/// directory gets an overlay whiteout (a 0/0 character device) in the upper dir.
pub(super) fn hide_lower_entries(upper_dir: &Path, lower_dir: &Path) -> Result<(), HostError> {
    let Ok(entries) = std::fs::read_dir(lower_dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let target = upper_dir.join(e.file_name());
        if std::fs::symlink_metadata(&target).is_ok() {
            continue; // the host's own entry (or whiteout) stays
        }
        let out = std::process::Command::new("mknod")
            .arg(&target)
            .args(["c", "0", "0"])
            .output()
            .map_err(io(&target))?;
        if !out.status.success() {
            return Err(HostError::Command {
                cmd: format!("mknod {} c 0 0", target.display()),
                detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databases_are_edited_by_name() {
        let db = "root:x:0:0::/root:/bin/bash\nazureuser:x:1001:1001::/x:/bin/sh\n";
        assert_eq!(without(db, "azureuser"), "root:x:0:0::/root:/bin/bash\n");
        assert!(entry(db, "azure").is_none());
        assert_eq!(ids_in(db, 2), [0, 1001]);
    }

    #[test]
    fn host_keys_are_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let (a, fa) = host_key(dir.path()).unwrap();
        let (b, fb) = host_key(dir.path()).unwrap();
        assert_eq!((a.clone(), fa.clone()), (b, fb));
        assert!(a.starts_with("ssh-ed25519 ") && fa.starts_with("SHA256:"));
    }
}
