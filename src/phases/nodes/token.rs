//! The k3s cluster's secrets on the controller: the password the first server starts with
//! (generated once) and the join token the first server derives from it
//! (`K10<sha256 of the cluster CA>::server:<password>`), read from the server once it runs
//! and kept beside the other secrets. Neither is ever printed, logged or put in state.

use std::path::Path;

use rand::Rng;
use rand::distr::Alphanumeric;

use crate::azure::resources::Secret;
use crate::config::Config;
use crate::error::Error;
use crate::fsutil::{ensure_private_dir, write_atomic};
use crate::ssh::host::{ExecRequest, Host};

/// Where k3s keeps the secure token on a server.
pub const SERVER_TOKEN: &str = "/var/lib/rancher/k3s/server/token";
/// The admin kubeconfig k3s writes on a server.
pub const SERVER_KUBECONFIG: &str = "/etc/rancher/k3s/k3s.yaml";

fn read_secret(path: &Path) -> Result<Option<Secret>, Error> {
    match std::fs::read_to_string(path) {
        Ok(t) if !t.trim().is_empty() => Ok(Some(Secret::new(t.trim()))),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("cannot read", path, e)),
    }
}

/// The cluster password (32 letters and digits), generated on first use.
pub fn password(config: &Config) -> Result<Secret, Error> {
    let path = config.paths().k3s_password();
    if let Some(s) = read_secret(&path)? {
        return Ok(s);
    }
    ensure_private_dir(&config.paths().secrets_dir())?;
    let pw: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    write_atomic(&path, pw.as_bytes())?;
    Ok(Secret::new(pw))
}

/// The join token read from the first server earlier, if any.
pub fn stored_token(config: &Config) -> Result<Option<Secret>, Error> {
    read_secret(&config.paths().k3s_token())
}

/// Checks `text` (a server's token file) is the secure form for `password` and keeps it.
pub fn store_token(
    config: &Config,
    host: &str,
    text: &str,
    password: &Secret,
) -> Result<Secret, Error> {
    let token = text.trim();
    let Some((ca_hash, pw)) = token
        .strip_prefix("K10")
        .and_then(|r| r.split_once("::server:"))
    else {
        return Err(Error::Failed(format!(
            "{host}: {SERVER_TOKEN} is not a k3s secure token (K10<CA hash>::server:<password>)"
        )));
    };
    if ca_hash.len() != 64 || !ca_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Failed(format!(
            "{host}: {SERVER_TOKEN} does not carry a sha256 CA hash"
        )));
    }
    if pw != password.expose() {
        return Err(Error::Failed(format!(
            "{host}: the k3s server runs with another cluster password than {} (a cluster not made by this state directory?)",
            config.paths().k3s_password().display()
        )));
    }
    ensure_private_dir(&config.paths().secrets_dir())?;
    write_atomic(&config.paths().k3s_token(), token.as_bytes())?;
    Ok(Secret::new(token))
}

/// A root-only file's contents from `host` (`sudo -n cat`), its path passed as an argument.
pub async fn read_root_file(host: &dyn Host, path: &str) -> Result<String, Error> {
    let args = [path.to_owned()];
    let out = host
        .exec(ExecRequest {
            command: "cat -- \"$1\"",
            args: &args,
            stdin: None,
            env: &[],
            become_root: true,
            timeout: Some(std::time::Duration::from_secs(60)),
            output_limit: Some(1 << 20),
        })
        .await
        .map_err(|e| Error::Failed(e.to_string()))?;
    if out.status != 0 {
        return Err(Error::Failed(format!(
            "{}: cannot read {path}: {}",
            host.name(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    String::from_utf8(out.stdout)
        .map_err(|_| Error::Failed(format!("{}: {path} is not UTF-8", host.name())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn config(dir: &Path) -> Config {
        let text = "cluster: demo\ncloud: {kind: local}\nnetwork: {admin_cidrs: [192.0.2.0/24]}\ngitops: {controller: none}\n";
        Config::from_str(text, dir, None).unwrap()
    }

    #[test]
    fn the_password_is_made_once_and_the_token_must_carry_it() {
        let d = tempfile::tempdir().unwrap();
        let c = config(d.path());
        let pw = password(&c).unwrap();
        assert_eq!(pw.expose().len(), 32);
        assert_eq!(password(&c).unwrap().expose(), pw.expose(), "stable");
        assert!(stored_token(&c).unwrap().is_none());
        let hash = "ab".repeat(32);
        let good = format!("K10{hash}::server:{}\n", pw.expose());
        let t = store_token(&c, "s0", &good, &pw).unwrap();
        assert_eq!(t.expose(), good.trim());
        assert_eq!(stored_token(&c).unwrap().unwrap().expose(), good.trim());
        for f in ["k3s-password", "k3s-token"] {
            let m = std::fs::metadata(c.paths().secrets_dir().join(f)).unwrap();
            assert_eq!(m.permissions().mode() & 0o777, 0o600, "{f}");
        }
        let other = format!("K10{hash}::server:someoneelse");
        let e = store_token(&c, "s0", &other, &pw).unwrap_err().to_string();
        assert!(
            e.contains("s0") && e.contains("another cluster password"),
            "{e}"
        );
        assert!(!e.contains("someoneelse"), "never echo a secret: {e}");
        let e = store_token(&c, "s0", pw.expose(), &pw)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a k3s secure token"), "{e}");
        assert!(!e.contains(pw.expose()), "{e}");
        let e = store_token(&c, "s0", &format!("K10xyz::server:{}", pw.expose()), &pw)
            .unwrap_err()
            .to_string();
        assert!(e.contains("CA hash"), "{e}");
    }
}
