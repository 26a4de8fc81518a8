//! X.509 certificates in PEM: reading a bundle, SHA-256 fingerprints and canonical PEM text.
//!
//! One reader for every CA bundle platform handles (the Azure roots it carries, the local
//! cloud's CA, a user's `postgres.ca_bundle`), so each is checked the same way: every PEM
//! section a parsable certificate, at least one, and no private key.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// One certificate of a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// The subject as a distinguished name (`C=US, O=DigiCert Inc, ..., CN=...`).
    pub subject: String,
    /// SHA-256 of the DER encoding, lowercase hex: what `openssl x509 -fingerprint -sha256`
    /// prints without the colons.
    pub sha256: String,
    /// The DER encoding.
    pub der: Vec<u8>,
}

impl Certificate {
    /// The certificate as PEM text (64-character lines, trailing newline): the same text
    /// for the same certificate whatever the file it came from looked like.
    pub fn pem(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.der);
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }
}

/// Why a text is not a certificate bundle.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    #[error("is not PEM text: {0}")]
    Pem(String),
    #[error("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    Empty,
    #[error("holds a {0}; a CA bundle holds certificates only")]
    NotACertificate(&'static str),
    #[error("certificate {index} does not parse as X.509: {message}")]
    Parse { index: usize, message: String },
}

/// The lowercase hex SHA-256 of `der`.
pub fn sha256_hex(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// Reads every certificate of a PEM bundle, in order. Text outside PEM sections (comments,
/// `openssl x509 -text` output) is ignored; a private key, CRL, CSR or public key is
/// refused, and so is a bundle without a certificate.
pub fn parse_bundle(text: &str) -> Result<Vec<Certificate>, BundleError> {
    use rustls_pemfile::Item;
    let mut reader = text.as_bytes();
    let mut out = Vec::new();
    loop {
        let item =
            rustls_pemfile::read_one(&mut reader).map_err(|e| BundleError::Pem(e.to_string()))?;
        let der = match item {
            None => break,
            Some(Item::X509Certificate(der)) => der,
            Some(Item::Pkcs1Key(_) | Item::Pkcs8Key(_) | Item::Sec1Key(_)) => {
                return Err(BundleError::NotACertificate("private key"));
            }
            Some(Item::Crl(_)) => return Err(BundleError::NotACertificate("revocation list")),
            Some(Item::Csr(_)) => return Err(BundleError::NotACertificate("signing request")),
            Some(_) => return Err(BundleError::NotACertificate("public key")),
        };
        let index = out.len() + 1;
        let (_, cert) =
            x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| BundleError::Parse {
                index,
                message: e.to_string(),
            })?;
        out.push(Certificate {
            subject: cert.subject().to_string(),
            sha256: sha256_hex(der.as_ref()),
            der: der.as_ref().to_vec(),
        });
    }
    if out.is_empty() {
        return Err(BundleError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(cn: &str) -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn a_bundle_reads_in_order_and_writes_back_the_same_certificates() {
        let (a, b) = (self_signed("first"), self_signed("second"));
        let text = format!("# a comment\n{a}\nsome openssl text\n{b}");
        let certs = parse_bundle(&text).unwrap();
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[0].subject, "CN=first");
        assert_eq!(certs[1].subject, "CN=second");
        assert_eq!(certs[0].sha256, sha256_hex(&certs[0].der));
        assert_eq!(certs[0].sha256.len(), 64);
        // Canonical PEM parses back to the same DER.
        let again = parse_bundle(&certs[1].pem()).unwrap();
        assert_eq!(again, vec![certs[1].clone()]);
        assert!(certs[1].pem().lines().all(|l| l.len() <= 64));
    }

    #[test]
    fn what_is_not_a_bundle_of_certificates_is_refused() {
        assert_eq!(parse_bundle(""), Err(BundleError::Empty));
        assert_eq!(parse_bundle("just text\n"), Err(BundleError::Empty));
        let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let with_key = format!("{}{key}", self_signed("ca"));
        assert_eq!(
            parse_bundle(&with_key),
            Err(BundleError::NotACertificate("private key"))
        );
        // Valid base64 that is not a certificate.
        let junk = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            parse_bundle(junk),
            Err(BundleError::Parse { index: 1, .. })
        ));
        let broken = "-----BEGIN CERTIFICATE-----\nMIIB\n";
        assert!(parse_bundle(broken).is_err());
    }
}
