//! A k3s server's certificates on disk (`<data-dir>/server/tls`): its server CA (whose exact
//! bytes `/cacerts` serves and the token pins), its client CA, the request-header CA, the
//! serving certificate of port 6443 with k3s's SAN list, and the admin client certificate.
//! Also etcd's CAs and the service-account key, which joining servers receive too. Made
//! once by the first server, received by joining servers, reused on every restart.

use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use kube_standin::pki::{CertificateAuthority, IssuedCert};

/// A PKI file could not be read, written or made.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PkiError(pub String);

fn io(path: &Path, e: impl std::fmt::Display) -> PkiError {
    PkiError(format!("{}: {e}", path.display()))
}

/// Writes `bytes` with mode 0600, creating a missing parent with 0700. An existing
/// directory keeps its mode, as with k3s (`/etc/rancher/k3s`, made 0755 by the install, stays
/// so when k3s writes `k3s.yaml` into it).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    if let Some(dir) = path.parent()
        && !dir.is_dir()
    {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| io(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// A CA kept as `<name>.crt` and `<name>.key` in `dir`, made when missing.
fn ca(dir: &Path, name: &str, cn: &str) -> Result<CertificateAuthority, PkiError> {
    let (crt, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    if let (Some(c), Some(k)) = (read(&crt), read(&key)) {
        return CertificateAuthority::from_pem(&c, &k).map_err(|e| io(&crt, e));
    }
    let unix = time::OffsetDateTime::now_utc().unix_timestamp();
    let made = CertificateAuthority::generate(&format!("{cn}@{unix}")).map_err(|e| io(&crt, e))?;
    write_private(&key, made.key_pem().as_bytes())?;
    write_private(&crt, made.cert_pem().as_bytes())?;
    Ok(made)
}

/// The server's certificates.
#[derive(Debug)]
pub struct ServerPki {
    pub dir: PathBuf,
    pub server_ca: CertificateAuthority,
    pub client_ca: CertificateAuthority,
    pub serving: IssuedCert,
    pub admin: IssuedCert,
}

impl ServerPki {
    /// Loads the CAs in `dir` (making any that is missing) and (re)issues the serving
    /// certificate when its names changed.
    pub fn load_or_create(dir: &Path, dns: &[String], ips: &[IpAddr]) -> Result<Self, PkiError> {
        let server_ca = ca(dir, "server-ca", "k3s-server-ca")?;
        let client_ca = ca(dir, "client-ca", "k3s-client-ca")?;
        ca(dir, "request-header-ca", "k3s-request-header-ca")?;
        // etcd's own CAs: k3s's etcd speaks TLS with them; the stand-in's member does not
        // (plain HTTP), but servers still make and share them as k3s does.
        ca(&dir.join("etcd"), "server-ca", "etcd-server-ca")?;
        ca(&dir.join("etcd"), "peer-ca", "etcd-peer-ca")?;
        let service_key = dir.join("service.key");
        if !service_key.exists() {
            let key = rcgen::KeyPair::generate().map_err(|e| io(&service_key, e))?;
            write_private(&service_key, key.serialize_pem().as_bytes())?;
        }
        let sans = format!("{dns:?} {ips:?}");
        let (crt, key, names) = (
            dir.join("serving-kube-apiserver.crt"),
            dir.join("serving-kube-apiserver.key"),
            dir.join("serving-kube-apiserver.sans"),
        );
        let serving = match (read(&crt), read(&key), read(&names)) {
            (Some(c), Some(k), Some(n)) if n == sans => IssuedCert {
                cert_pem: c,
                key_pem: k,
            },
            _ => {
                let issued = server_ca
                    .issue_server("k3s", dns, ips)
                    .map_err(|e| io(&crt, e))?;
                write_private(&key, issued.key_pem.as_bytes())?;
                write_private(&crt, issued.cert_pem.as_bytes())?;
                write_private(&names, sans.as_bytes())?;
                issued
            }
        };
        let (acrt, akey) = (dir.join("client-admin.crt"), dir.join("client-admin.key"));
        let admin = match (read(&acrt), read(&akey)) {
            (Some(c), Some(k)) => IssuedCert {
                cert_pem: c,
                key_pem: k,
            },
            _ => {
                let issued = client_ca
                    .issue_client("system:admin", Some("system:masters"))
                    .map_err(|e| io(&acrt, e))?;
                write_private(&akey, issued.key_pem.as_bytes())?;
                write_private(&acrt, issued.cert_pem.as_bytes())?;
                issued
            }
        };
        Ok(Self {
            dir: dir.to_owned(),
            server_ca,
            client_ca,
            serving,
            admin,
        })
    }

    /// The server CA exactly as `/cacerts` serves it (the token's hash is of these bytes).
    pub fn cacerts(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("server-ca.crt"))
            .unwrap_or_else(|_| self.server_ca.cert_pem().as_bytes().to_vec())
    }
}
