//! Certificates for the API server: a CA, serving and client certificates (rcgen), and an
//! admin kubeconfig shaped like k3s's `k3s.yaml`.

use std::net::IpAddr;

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// Certificate generation failed.
#[derive(Debug, thiserror::Error)]
#[error("certificate generation failed: {0}")]
pub struct PkiError(#[from] rcgen::Error);

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A certificate authority that can issue serving and client certificates.
pub struct CertificateAuthority {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

fn validity(params: &mut CertificateParams, days: i64) {
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(days);
}

impl CertificateAuthority {
    /// A new self-signed CA named `common_name` (k3s names its CAs `k3s-server-ca@<time>`).
    pub fn generate(common_name: &str) -> Result<Self, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, 3650);
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// A CA from its PEM certificate and key (as written by [`Self::key_pem`]).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(Self {
            cert_pem: cert_pem.to_string(),
            issuer,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA private key, PEM (a secret: write it with mode 0600, never log it).
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// A serving certificate for the given DNS names and IP addresses (the only names a
    /// client may use to reach the server: clients check SANs, never the CN).
    pub fn issue_server(
        &self,
        common_name: &str,
        dns_names: &[String],
        ips: &[IpAddr],
    ) -> Result<IssuedCert, PkiError> {
        let mut params = CertificateParams::new(dns_names.to_vec())?;
        for ip in ips {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        self.sign(params, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate: the API server reads the user from the CN and a group from
    /// the O (k3s's admin is CN `system:admin`, O `system:masters`; rcgen writes one O).
    pub fn issue_client(&self, user: &str, group: Option<&str>) -> Result<IssuedCert, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        if let Some(g) = group {
            dn.push(DnType::OrganizationName, g);
        }
        dn.push(DnType::CommonName, user);
        params.distinguished_name = dn;
        self.sign(params, ExtendedKeyUsagePurpose::ClientAuth)
    }

    /// Signs the public key of a certificate signing request (DER) as a client certificate
    /// for `user` in `group`, whatever subject the request asked for (as k3s's supervisor
    /// signs a kubelet's request for the node it authenticated).
    pub fn sign_client_csr(
        &self,
        csr_der: &[u8],
        user: &str,
        group: Option<&str>,
    ) -> Result<String, PkiError> {
        let mut csr = rcgen::CertificateSigningRequestParams::from_der(&csr_der.to_vec().into())?;
        let mut dn = DistinguishedName::new();
        if let Some(g) = group {
            dn.push(DnType::OrganizationName, g);
        }
        dn.push(DnType::CommonName, user);
        csr.params.distinguished_name = dn;
        csr.params.subject_alt_names.clear();
        csr.params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        csr.params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        csr.params.use_authority_key_identifier_extension = true;
        validity(&mut csr.params, 365);
        Ok(csr.signed_by(&self.issuer)?.pem())
    }

    /// Signs a one-year leaf certificate for `usage`.
    fn sign(
        &self,
        mut params: CertificateParams,
        usage: ExtendedKeyUsagePurpose,
    ) -> Result<IssuedCert, PkiError> {
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, 365);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// A kubeconfig with one cluster, user and context, all named `default` (k3s's layout),
/// authenticating with a client certificate.
pub fn kubeconfig(server_url: &str, server_ca_pem: &str, client: &IssuedCert) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server_url}\n  name: default\ncontexts:\n- context:\n    cluster: default\n    user: default\n  name: default\ncurrent-context: default\nkind: Config\npreferences: {{}}\nusers:\n- name: default\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(server_ca_pem),
        b64(&client.cert_pem),
        b64(&client.key_pem),
    )
}

/// Everything a test (or a one-off server) needs: separate server and client CAs as k3s
/// keeps them, a serving certificate for 127.0.0.1/localhost plus `extra_sans`, and an
/// admin client certificate (`system:admin`, `system:masters`).
#[derive(Debug)]
pub struct DevPki {
    pub server_ca: CertificateAuthority,
    pub client_ca: CertificateAuthority,
    pub serving: IssuedCert,
    pub admin: IssuedCert,
}

impl DevPki {
    /// Generates the whole set; `extra_sans` are added to the serving certificate.
    pub fn generate(extra_sans: &[String]) -> Result<Self, PkiError> {
        let server_ca = CertificateAuthority::generate("k3s-server-ca")?;
        let client_ca = CertificateAuthority::generate("k3s-client-ca")?;
        let mut dns = vec![
            "localhost".to_string(),
            "kubernetes".into(),
            "kubernetes.default".into(),
            "kubernetes.default.svc".into(),
            "kubernetes.default.svc.cluster.local".into(),
        ];
        let mut ips: Vec<IpAddr> =
            vec![[127, 0, 0, 1].into(), std::net::Ipv6Addr::LOCALHOST.into()];
        for san in extra_sans {
            match san.parse::<IpAddr>() {
                Ok(ip) => ips.push(ip),
                Err(_) => dns.push(san.clone()),
            }
        }
        let serving = server_ca.issue_server("k3s", &dns, &ips)?;
        let admin = client_ca.issue_client("system:admin", Some("system:masters"))?;
        Ok(Self {
            server_ca,
            client_ca,
            serving,
            admin,
        })
    }

    /// The admin kubeconfig for `server_url`.
    pub fn admin_kubeconfig(&self, server_url: &str) -> String {
        kubeconfig(server_url, self.server_ca.cert_pem(), &self.admin)
    }

    /// A server configuration on `listen` with this set's serving certificate, trusting its
    /// client CA (so the admin kubeconfig authenticates); k3s's defaults otherwise.
    pub fn server_config(&self, listen: std::net::SocketAddr) -> crate::ServerConfig {
        let mut config = crate::ServerConfig::new(
            listen,
            self.serving.cert_pem.clone(),
            self.serving.key_pem.clone(),
        );
        config.client_ca_pem = Some(self.client_ca.cert_pem().to_string());
        config
    }
}

/// A key pair and a certificate signing request for it (DER), for a client that asks a CA
/// for a certificate: the key never leaves the client.
pub fn key_and_csr(common_name: &str) -> Result<(String, Vec<u8>), PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let csr = params.serialize_request(&key)?;
    Ok((key.serialize_pem(), csr.der().to_vec()))
}
