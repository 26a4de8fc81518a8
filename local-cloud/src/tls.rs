//! The local cloud's own CA and server certificate (rcgen), and the rustls server config.

use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::LocalCloudError;

/// File name of the CA certificate clients must trust.
pub const CA_FILE: &str = "ca.pem";
/// File name of the CA private key, kept so a restart serves a certificate the same CA signed.
const CA_KEY_FILE: &str = "ca.key";
const CA_NAME: &str = "platform local cloud CA";

/// What the server needs to speak TLS, and the CA text to hand to clients.
pub struct TlsMaterial {
    pub ca_pem: String,
    pub server_config: Arc<rustls::ServerConfig>,
}

/// Installs the aws-lc-rs provider for the process once. rustls refuses to pick one itself
/// when several could be compiled in; a second install attempt is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    dn.push(DnType::OrganizationName, "platform");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(3650);
    Ok(params)
}

/// Loads the CA from `data_dir` (or creates and writes it), then issues a fresh server
/// certificate for 127.0.0.1, ::1 and localhost. A trust anchor is its name and key, so a
/// client holding the old `ca.pem` still trusts the server after a restart.
pub fn prepare(data_dir: &Path) -> Result<TlsMaterial, LocalCloudError> {
    install_crypto_provider();
    let ca_path = data_dir.join(CA_FILE);
    let key_path = data_dir.join(CA_KEY_FILE);
    let existing = match (
        std::fs::read_to_string(&ca_path),
        std::fs::read_to_string(&key_path),
    ) {
        (Ok(pem), Ok(key)) => KeyPair::from_pem(&key).ok().map(|k| (pem, k)),
        _ => None,
    };
    let (ca_pem, ca_key) = match existing {
        Some(found) => found,
        None => {
            let key = KeyPair::generate()?;
            let cert = ca_params()?.self_signed(&key)?;
            super::persist::write_atomic(&key_path, key.serialize_pem().as_bytes(), true)?;
            super::persist::write_atomic(&ca_path, cert.pem().as_bytes(), false)?;
            (cert.pem(), key)
        }
    };
    let issuer = Issuer::new(ca_params()?, ca_key);

    let mut leaf = CertificateParams::new(vec!["localhost".to_string()])?;
    leaf.subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    leaf.subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
    leaf.distinguished_name = DistinguishedName::new();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    leaf.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    let leaf_key = KeyPair::generate()?;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;

    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let chain: Vec<CertificateDer<'static>> = vec![leaf_cert.der().clone()];
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| LocalCloudError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        ca_pem,
        server_config: Arc::new(config),
    })
}

/// A server certificate for `dns_name` (and `ip`) signed by the CA of `data_dir` (which
/// `prepare` made): (certificate PEM, PKCS#8 key PEM). For the local cloud's PostgreSQL
/// servers, so clients verify them against `ca.pem` as they verify the ARM endpoint.
#[cfg(feature = "hosts")]
pub fn issue_server_cert(
    data_dir: &Path,
    dns_name: &str,
    ip: std::net::Ipv4Addr,
) -> Result<(String, String), LocalCloudError> {
    let key_path = data_dir.join(CA_KEY_FILE);
    let key = std::fs::read_to_string(&key_path).map_err(|e| LocalCloudError::io(&key_path, e))?;
    let ca_key = KeyPair::from_pem(&key)?;
    let issuer = Issuer::new(ca_params()?, ca_key);
    let mut leaf = CertificateParams::new(vec![dns_name.to_string()])?;
    leaf.subject_alt_names.push(SanType::IpAddress(ip.into()));
    leaf.distinguished_name = DistinguishedName::new();
    leaf.distinguished_name.push(DnType::CommonName, dns_name);
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    leaf.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    let leaf_key = KeyPair::generate()?;
    let cert = leaf.signed_by(&leaf_key, &issuer)?;
    Ok((cert.pem(), leaf_key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_is_reused_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let first = prepare(dir.path()).unwrap();
        let second = prepare(dir.path()).unwrap();
        assert_eq!(first.ca_pem, second.ca_pem);
        assert!(first.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    }
}
