//! The per-cluster `known_hosts` file: trust on first use, refusal of changed keys, and the
//! explicit `--forget-host`.
//!
//! ssh itself records a new key (`StrictHostKeyChecking=accept-new`, which refuses a changed
//! key); this module reads the file around a connection to log what was trusted, and turns
//! a refusal into an error that names the host and both fingerprints. Lookups go through
//! `ssh-keygen -F`/`-R`, so hashed entries (`HashKnownHosts yes` in the user's config) and
//! the `[address]:port` form are handled exactly as ssh handles them.

use ssh_key::{HashAlg, PublicKey};
use std::path::Path;
use tokio::process::Command;

/// The name ssh files a host under: `address` on port 22, `[address]:port` otherwise.
pub fn host_key_name(address: &str, port: u16) -> String {
    if port == 22 {
        address.to_owned()
    } else {
        format!("[{address}]:{port}")
    }
}

/// `SHA256:...` as ssh prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Parses `host keytype base64 [comment]` lines (ssh-keygen and ssh-keyscan output) into keys;
/// comments, markers (`@revoked`) and unparsable lines are skipped.
pub fn parse_key_lines(text: &str) -> Vec<PublicKey> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.starts_with('@'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_host, kind, data) = (f.next()?, f.next()?, f.next()?);
            PublicKey::from_openssh(&format!("{kind} {data}")).ok()
        })
        .collect()
}

/// The keys recorded for `address:port` in `file` (empty when none or no file yet).
pub async fn recorded_keys(file: &Path, address: &str, port: u16) -> Vec<PublicKey> {
    if !file.exists() {
        return Vec::new();
    }
    let out = Command::new("ssh-keygen")
        .arg("-F")
        .arg(host_key_name(address, port))
        .arg("-f")
        .arg(file)
        .output()
        .await;
    match out {
        // Exit 1 means "not found"; anything it printed is still what the file holds.
        Ok(o) => parse_key_lines(&String::from_utf8_lossy(&o.stdout)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot run ssh-keygen -F");
            Vec::new()
        }
    }
}

/// The keys `address:port` offers now, asked with `ssh-keyscan` (empty when it does not
/// answer, e.g. behind a jump host).
pub async fn offered_keys(address: &str, port: u16) -> Vec<PublicKey> {
    let out = Command::new("ssh-keyscan")
        .args(["-T", "5", "-p", &port.to_string(), address])
        .output()
        .await;
    match out {
        Ok(o) => parse_key_lines(&String::from_utf8_lossy(&o.stdout)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot run ssh-keyscan");
            Vec::new()
        }
    }
}

/// Whether ssh's error output says the host key did not match the recorded one.
pub fn is_key_mismatch(ssh_log: &str) -> bool {
    ssh_log.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || ssh_log.contains("Host key verification failed")
}

/// The fingerprint ssh printed as "sent by the remote host" in a mismatch warning.
fn offered_in_log(ssh_log: &str) -> Option<String> {
    let at = ssh_log.find("sent by the remote host is")?;
    ssh_log[at..]
        .split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .map(|w| w.trim_end_matches('.').to_owned())
}

/// The message for a refused changed key: the host, the recorded and the offered
/// fingerprints, and the explicit way out.
pub async fn mismatch_message(
    file: &Path,
    name: &str,
    address: &str,
    port: u16,
    ssh_log: &str,
) -> String {
    let recorded = recorded_keys(file, address, port).await;
    let mut offered: Vec<PublicKey> = offered_keys(address, port).await;
    // Compare like with like: ssh checked the key types it had on record.
    if offered
        .iter()
        .any(|k| recorded.iter().any(|r| r.algorithm() == k.algorithm()))
    {
        offered.retain(|k| recorded.iter().any(|r| r.algorithm() == k.algorithm()));
    }
    let fmt = |keys: &[PublicKey]| {
        keys.iter()
            .map(|k| format!("{} {}", k.algorithm(), fingerprint(k)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let offered_text = if offered.is_empty() {
        offered_in_log(ssh_log).unwrap_or_else(|| "unknown (ssh-keyscan got no answer)".into())
    } else {
        fmt(&offered)
    };
    let recorded_text = if recorded.is_empty() {
        "none readable".to_owned()
    } else {
        fmt(&recorded)
    };
    format!(
        "host key of {name} ({}) has CHANGED: recorded {recorded_text}, offered {offered_text}; \
         refusing to connect. If the host was really rebuilt, run `platform run --forget-host {name}` \
         and connect again (known_hosts: {})",
        host_key_name(address, port),
        file.display()
    )
}

/// Removes every key recorded for `address:port` (`ssh-keygen -R`, which keeps a `.old`
/// backup). Returns whether anything was removed.
pub async fn forget_host(file: &Path, address: &str, port: u16) -> std::io::Result<bool> {
    if recorded_keys(file, address, port).await.is_empty() {
        return Ok(false);
    }
    let out = Command::new("ssh-keygen")
        .arg("-R")
        .arg(host_key_name(address, port))
        .arg("-f")
        .arg(file)
        .output()
        .await?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "ssh-keygen -R failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn names_and_parsing() {
        assert_eq!(host_key_name("10.0.0.4", 22), "10.0.0.4");
        assert_eq!(host_key_name("10.0.0.4", 2222), "[10.0.0.4]:2222");
        let text = format!("# Host x found: line 1\n[10.0.0.4]:2222 {KEY}\n@revoked * {KEY}\n");
        let keys = parse_key_lines(&text);
        assert_eq!(keys.len(), 1);
        assert!(fingerprint(&keys[0]).starts_with("SHA256:"));
        let log = "The fingerprint for the ED25519 key sent by the remote host is\nSHA256:abc/def.\nPlease contact";
        assert_eq!(offered_in_log(log).as_deref(), Some("SHA256:abc/def"));
    }

    #[tokio::test]
    async fn forget_removes_only_that_host() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        std::fs::write(&file, format!("[10.0.0.4]:2222 {KEY}\n10.0.0.5 {KEY}\n")).unwrap();
        assert_eq!(recorded_keys(&file, "10.0.0.4", 2222).await.len(), 1);
        assert!(forget_host(&file, "10.0.0.4", 2222).await.unwrap());
        assert!(recorded_keys(&file, "10.0.0.4", 2222).await.is_empty());
        assert_eq!(recorded_keys(&file, "10.0.0.5", 22).await.len(), 1);
        assert!(!forget_host(&file, "10.0.0.4", 2222).await.unwrap());
    }
}
