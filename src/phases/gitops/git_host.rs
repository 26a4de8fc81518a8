//! The Git host's SSH keys for an SSH repository without `gitops.known_hosts`: pinned at
//! first contact the way node keys are (trust on first use), with `ssh-keyscan` from the
//! controller machine, kept in `<state_dir>/gitops_known_hosts` (0600) and printed with
//! their fingerprints so they can be checked against the host's published ones. Later runs
//! use the pinned keys and never scan again: a Git host that changes its key is refused by
//! the controller (its source stops being Ready with ssh's message) until the file is
//! deleted or `gitops.known_hosts` names the new keys.

use std::path::PathBuf;
use std::time::Duration;

use tokio::process::Command;

use crate::config::Config;
use crate::error::Error;
use crate::fsutil::{ensure_private_dir, write_atomic};

/// How long the first contact may take.
const SCAN_TIMEOUT: Duration = Duration::from_secs(15);

/// The pinned keys' file.
pub fn file(config: &Config) -> PathBuf {
    config.state_dir.join("gitops_known_hosts")
}

/// Host and port of an SSH Git URL (`ssh://[user@]host[:port]/path` or `user@host:path`).
pub fn host_port(url: &str) -> Option<(String, u16)> {
    if let Some(rest) = url.strip_prefix("ssh://") {
        let authority = rest.split('/').next()?;
        let hostport = authority.rsplit('@').next()?;
        if let Some(h) = hostport.strip_prefix('[') {
            let (host, after) = h.split_once(']')?;
            let port = after
                .strip_prefix(':')
                .map_or(Some(22), |p| p.parse().ok())?;
            return Some((host.to_owned(), port));
        }
        return match hostport.split_once(':') {
            Some((h, p)) => Some((h.to_owned(), p.parse().ok()?)),
            None => Some((hostport.to_owned(), 22)),
        };
    }
    let (user_host, _) = url.split_once(':')?;
    let host = user_host.rsplit('@').next()?;
    (!host.is_empty()).then(|| (host.to_owned(), 22))
}

/// The known_hosts text for `url`: the pinned file, or a first contact that pins it. The
/// second value is the fingerprints line to print when they were pinned just now.
pub async fn known_hosts(config: &Config, url: &str) -> Result<(String, Option<String>), Error> {
    let path = file(config);
    if path.is_file() {
        return Ok((
            crate::fsutil::read_capped(&path, crate::fsutil::caps::CONFIG)?,
            None,
        ));
    }
    let (host, port) = host_port(url)
        .ok_or_else(|| Error::Usage(format!("gitops.repository: no host in the SSH URL {url}")))?;
    let scan = Command::new("ssh-keyscan")
        .args([
            "-T",
            "10",
            "-t",
            "ed25519,ecdsa,rsa",
            "-p",
            &port.to_string(),
        ])
        .arg("--")
        .arg(&host)
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(SCAN_TIMEOUT, scan).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            return Err(Error::Failed(format!(
                "ssh-keyscan (the OpenSSH client): {e}"
            )));
        }
        Err(_) => {
            return Err(Error::Failed(format!(
                "the Git host {host}:{port} did not answer within {} s to pin its SSH keys; set gitops.known_hosts to a known_hosts file with its keys",
                SCAN_TIMEOUT.as_secs()
            )));
        }
    };
    let text: String = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let keys = crate::ssh::known_hosts::parse_key_lines(&text);
    if keys.is_empty() {
        return Err(Error::Failed(format!(
            "the Git host {host}:{port} offered no SSH host key (ssh-keyscan: {}); set gitops.known_hosts to a known_hosts file with its keys",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    ensure_private_dir(&config.state_dir)?;
    write_atomic(&path, text.as_bytes())?;
    let fingerprints: Vec<String> = keys
        .iter()
        .map(|k| {
            format!(
                "{} {}",
                k.algorithm(),
                crate::ssh::known_hosts::fingerprint(k)
            )
        })
        .collect();
    let said = format!(
        "gitops: pinned the SSH host keys of {host}:{port} at first contact ({}); check them against the Git host's published fingerprints. They are in {}",
        fingerprints.join(", "),
        path.display()
    );
    Ok((text, Some(said)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports_of_ssh_git_urls() {
        let hp = |u: &str| host_port(u);
        assert_eq!(
            hp("ssh://git@github.com/org/x.git"),
            Some(("github.com".into(), 22))
        );
        assert_eq!(
            hp("ssh://git@10.0.1.4:2222/x"),
            Some(("10.0.1.4".into(), 2222))
        );
        assert_eq!(hp("ssh://h/x"), Some(("h".into(), 22)));
        assert_eq!(
            hp("ssh://git@[2001:db8::1]:2200/x"),
            Some(("2001:db8::1".into(), 2200))
        );
        assert_eq!(
            hp("git@gitlab.com:group/x.git"),
            Some(("gitlab.com".into(), 22))
        );
        assert_eq!(hp("ssh://git@h:notaport/x"), None);
    }
}
