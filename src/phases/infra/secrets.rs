//! Secrets the infra phase needs and keeps in the state directory (never printed, never in
//! state.json): the cluster's SSH key pair when `nodes.ssh_key: generate`, and the Postgres
//! administrator password. Both are created once and reused, so re-runs converge.

use rand::Rng;
use rand::distr::Alphanumeric;
use std::fs;
use std::path::PathBuf;

use crate::azure::resources::Secret;
use crate::config::{Config, SshKey};
use crate::error::Error;
use crate::fsutil::{ensure_private_dir, write_atomic};

/// The OpenSSH public key line for the scale sets; generates the pair on first use when
/// `nodes.ssh_key: generate`. `create: false` (plan) never writes and returns `None` for a
/// key that does not exist yet.
pub fn ssh_public_key(config: &Config, create: bool) -> Result<Option<String>, Error> {
    let private = config.ssh_private_key();
    let public = PathBuf::from(format!("{}.pub", private.display()));
    if public.is_file() {
        let text = fs::read_to_string(&public).map_err(|e| Error::io("cannot read", &public, e))?;
        return Ok(Some(text.trim().to_owned()));
    }
    if matches!(config.nodes.ssh_key, SshKey::Path(_)) {
        return Err(Error::Usage(format!(
            "nodes.ssh_key: public key {} is missing",
            public.display()
        )));
    }
    if !create {
        return Ok(None);
    }
    ensure_private_dir(&config.paths().secrets_dir())?;
    let key =
        ssh_key::PrivateKey::random(&mut ssh_key::rand_core::OsRng, ssh_key::Algorithm::Ed25519)
            .map_err(|e| Error::Failed(format!("cannot generate an SSH key: {e}")))?;
    let mut key = key;
    key.set_comment(format!("platform-{}", config.cluster));
    let private_pem = key
        .to_openssh(ssh_key::LineEnding::LF)
        .map_err(|e| Error::Failed(format!("cannot encode the SSH key: {e}")))?;
    let public_line = key
        .public_key()
        .to_openssh()
        .map_err(|e| Error::Failed(format!("cannot encode the SSH key: {e}")))?;
    // Private first: a crash between the two leaves no public key, so the pair is made anew.
    write_atomic(&private, private_pem.as_bytes())?;
    write_atomic(&public, format!("{public_line}\n").as_bytes())?;
    tracing::info!(path = %private.display(), "generated the cluster's SSH key");
    Ok(Some(public_line))
}

/// The Postgres administrator password, generated once (32 characters with upper, lower,
/// digit and symbol, as Flexible Server requires three of those four classes).
pub fn postgres_password(config: &Config, create: bool) -> Result<Option<Secret>, Error> {
    let path = config.paths().postgres_password();
    if path.is_file() {
        let text = fs::read_to_string(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        return Ok(Some(Secret::new(text.trim())));
    }
    if !create {
        return Ok(None);
    }
    ensure_private_dir(&config.paths().secrets_dir())?;
    let mut rng = rand::rng();
    let body: String = (&mut rng)
        .sample_iter(&Alphanumeric)
        .take(28)
        .map(char::from)
        .collect();
    // Fixed class markers guarantee every class regardless of the random part.
    let password = format!("Pg{body}7-");
    write_atomic(&path, password.as_bytes())?;
    Ok(Some(Secret::new(&password)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn config(dir: &Path) -> Config {
        let text = "cluster: demo\ncloud: {kind: local}\nnetwork: {admin_cidrs: [192.0.2.0/24]}\ngitops: {controller: none}\n";
        Config::from_str(text, dir, None).unwrap()
    }

    #[test]
    fn generated_secrets_are_private_and_stable() {
        let d = tempfile::tempdir().unwrap();
        let c = config(d.path());
        assert_eq!(
            ssh_public_key(&c, false).unwrap(),
            None,
            "plan never creates"
        );
        let k1 = ssh_public_key(&c, true).unwrap().unwrap();
        assert!(k1.starts_with("ssh-ed25519 "), "{k1}");
        assert_eq!(ssh_public_key(&c, true).unwrap().unwrap(), k1);
        let p1 = postgres_password(&c, true).unwrap().unwrap();
        let p2 = postgres_password(&c, false).unwrap().unwrap();
        assert_eq!(p1.expose(), p2.expose());
        assert!(p1.expose().len() >= 30);
        for f in ["id_ed25519", "id_ed25519.pub", "postgres-admin-password"] {
            let mode = fs::metadata(c.paths().secrets_dir().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        assert!(!format!("{p1:?}").contains(p1.expose()));
    }
}
