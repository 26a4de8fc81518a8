//! TLS setup and authentication: verified client certificates of the client CA (user from
//! CN, groups from O) and bearer tokens from the configured map; nobody else gets in.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::config::{ServerConfig, UserInfo};

/// The TLS material could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading PEM: {0}")]
    Pem(String),
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
    #[error("client CA: {0}")]
    ClientCa(String),
}

fn certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut pem.as_bytes()).collect();
    let certs = certs.map_err(|e| TlsError::Pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Pem("no certificate found".into()));
    }
    Ok(certs)
}

/// The rustls server configuration: ALPN h2 and http/1.1 (kubectl speaks HTTP/2), client
/// certificates requested but optional, so token users can connect too.
pub fn server_tls(config: &ServerConfig) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = certs(&config.serving_cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(config.serving_key_pem.as_bytes())
        .map_err(|e| TlsError::Pem(format!("serving key: {e}")))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match &config.client_ca_pem {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in certs(ca)? {
                roots.add(c)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::ClientCa(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut tls = builder.with_single_cert(chain, key)?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tls)
}

use rustls::pki_types::pem::PemObject;

/// The user of a verified client certificate: CN is the name, each O a group.
pub fn user_from_certificate(der: &CertificateDer<'_>) -> Option<UserInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    let groups: Vec<String> = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    let refs: Vec<&str> = groups.iter().map(String::as_str).collect();
    Some(UserInfo::new(name, &refs))
}

/// Who sent a request: the TLS client identity wins, then a bearer token.
pub fn authenticate(
    cert_user: Option<&UserInfo>,
    authorization: Option<&str>,
    tokens: &HashMap<String, UserInfo>,
) -> Option<UserInfo> {
    if let Some(u) = cert_user {
        return Some(u.clone());
    }
    let header = authorization?.trim();
    let (scheme, token) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    tokens.get(token.trim()).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::CertificateAuthority;

    #[test]
    fn client_certificate_names_user_and_groups() {
        let ca = CertificateAuthority::generate("client-ca").unwrap();
        let cert = ca
            .issue_client("system:admin", Some("system:masters"))
            .unwrap();
        let der = certs(&cert.cert_pem).unwrap().remove(0);
        let user = user_from_certificate(&der).unwrap();
        assert_eq!(user.name, "system:admin");
        assert_eq!(user.groups, vec!["system:masters", "system:authenticated"]);
    }

    #[test]
    fn bearer_tokens_come_from_the_map_only() {
        let mut tokens = HashMap::new();
        tokens.insert(
            "s3cret".to_string(),
            UserInfo::new("system:serviceaccount:default:x", &[]),
        );
        assert!(authenticate(None, Some("Bearer s3cret"), &tokens).is_some());
        assert!(authenticate(None, Some("Bearer wrong"), &tokens).is_none());
        assert!(authenticate(None, Some("Basic s3cret"), &tokens).is_none());
        assert!(authenticate(None, None, &tokens).is_none());
    }
}
