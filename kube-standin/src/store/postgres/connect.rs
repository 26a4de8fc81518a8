//! Reaching the database from a k3s-style datastore endpoint,
//! `postgres://user:password@host:port/dbname?sslmode=...` (also `postgresql://`): the
//! database is created when missing (kine does that too), and TLS is verified the way the
//! `sslmode` asks. The password is only ever handed to the client library, never put in a
//! message.

use std::str::FromStr;

use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config, NoTls};

use super::super::StoreError;

/// How TLS is used, by libpq's `sslmode` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tls {
    /// `disable` (kine's default when the endpoint names no `sslmode`).
    Off,
    /// `require`: encrypted, the certificate not checked (libpq's meaning).
    Unverified,
    /// `verify-full` (and `verify-ca`, which this store checks as strictly): the
    /// certificate chains to `ca_pem` and names the host.
    Verified { ca_pem: String },
}

/// Where and how to connect.
#[derive(Clone)]
pub struct Endpoint {
    pub config: Config,
    pub tls: Tls,
    /// The database name (`kubernetes` when the URL names none, as kine).
    pub dbname: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("Endpoint")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.dbname)
            .field("tls", &self.tls)
            .finish()
    }
}

fn invalid(why: impl Into<String>) -> StoreError {
    StoreError::Unavailable(format!("datastore-endpoint: {}", why.into()))
}

/// Reads an endpoint; `ca_pem` is `--datastore-cafile`'s content (a `sslrootcert` query
/// parameter, read from disk, takes its place).
pub fn parse(endpoint: &str, ca_pem: Option<String>) -> Result<Endpoint, StoreError> {
    let rest = endpoint
        .strip_prefix("postgres://")
        .or_else(|| endpoint.strip_prefix("postgresql://"))
        .ok_or_else(|| invalid("not a postgres:// URL"))?;
    // The query's sslmode and sslrootcert are libpq's; tokio-postgres knows fewer modes, so
    // they are taken out here and TLS is set up by this module.
    let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut mode = "disable".to_owned();
    let mut rootcert = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", v)) => mode = v.to_owned(),
            Some(("sslrootcert", v)) => rootcert = Some(v.to_owned()),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        format!("postgres://{base}")
    } else {
        format!("postgres://{base}?{}", kept.join("&"))
    };
    let mut config = Config::from_str(&url).map_err(|e| invalid(format!("cannot be read: {e}")))?;
    let ca = match rootcert {
        Some(path) => Some(
            std::fs::read_to_string(&path)
                .map_err(|e| invalid(format!("sslrootcert {path}: {e}")))?,
        ),
        None => ca_pem,
    };
    let tls = match mode.as_str() {
        "disable" => Tls::Off,
        "require" => Tls::Unverified,
        "verify-ca" | "verify-full" => Tls::Verified {
            ca_pem: ca.ok_or_else(|| {
                invalid(format!(
                    "sslmode={mode} needs the CA: --datastore-cafile or sslrootcert"
                ))
            })?,
        },
        other => {
            return Err(invalid(format!(
                "sslmode={other} is not supported (disable, require, verify-ca or verify-full)"
            )));
        }
    };
    config.ssl_mode(if tls == Tls::Off {
        SslMode::Disable
    } else {
        SslMode::Require
    });
    let dbname = config.get_dbname().unwrap_or("kubernetes").to_owned();
    config.dbname(&dbname);
    Ok(Endpoint {
        config,
        tls,
        dbname,
    })
}

/// A certificate verifier that accepts any server certificate (`sslmode=require`).
#[derive(Debug)]
struct AcceptAny(std::sync::Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn rustls_config(tls: &Tls) -> Result<rustls::ClientConfig, StoreError> {
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS: {e}")))?;
    Ok(match tls {
        Tls::Verified { ca_pem } => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
                let cert = cert.map_err(|e| invalid(format!("the CA file: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| invalid(format!("the CA file: {e}")))?;
            }
            if roots.is_empty() {
                return Err(invalid("the CA file holds no certificate"));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        _ => builder
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(AcceptAny(provider)))
            .with_no_client_auth(),
    })
}

/// The database's own error message (what k3s prints when the datastore refuses it).
pub fn db_error(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    // The cause (a TLS handshake's certificate error, a refused connection) is in the chain.
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// Connects to `config`'s database; the connection runs on its own task until dropped.
async fn open(config: &Config, tls: &Tls) -> Result<Client, StoreError> {
    let fail = |e: tokio_postgres::Error| {
        StoreError::Unavailable(format!(
            "failed to connect to the datastore: {}",
            db_error(&e)
        ))
    };
    if *tls == Tls::Off {
        let (client, conn) = config.connect(NoTls).await.map_err(fail)?;
        tokio::spawn(conn);
        return Ok(client);
    }
    let make = tokio_postgres_rustls::MakeRustlsConnect::new(rustls_config(tls)?);
    let (client, conn) = config.connect(make).await.map_err(fail)?;
    tokio::spawn(conn);
    Ok(client)
}

/// Connects to the endpoint's database, creating it first (through the `postgres`
/// database) when it does not exist.
pub async fn connect(ep: &Endpoint) -> Result<Client, StoreError> {
    match open(&ep.config, &ep.tls).await {
        Ok(c) => Ok(c),
        Err(StoreError::Unavailable(m))
            if m.contains(&format!("\"{}\" does not exist", ep.dbname)) =>
        {
            let mut admin = ep.config.clone();
            admin.dbname("postgres");
            let c = open(&admin, &ep.tls).await?;
            let name = ep.dbname.replace('"', "\"\"");
            c.batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .await
                .map_err(|e| {
                    StoreError::Unavailable(format!(
                        "creating database {}: {}",
                        ep.dbname,
                        db_error(&e)
                    ))
                })?;
            open(&ep.config, &ep.tls).await
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_read_as_k3s_takes_them() {
        let ep = parse(
            "postgres://k3s:p%40ss@db.example:5432/k3s?sslmode=require",
            None,
        )
        .unwrap();
        assert_eq!(ep.tls, Tls::Unverified);
        assert_eq!(ep.dbname, "k3s");
        assert_eq!(ep.config.get_user(), Some("k3s"));
        assert_eq!(ep.config.get_password(), Some(&b"p@ss"[..]));
        let plain = parse("postgresql://u:p@h/", None).unwrap();
        assert_eq!((plain.tls, plain.dbname.as_str()), (Tls::Off, "kubernetes"));
        let full = parse("postgres://u:p@h/d?sslmode=verify-full", Some("PEM".into())).unwrap();
        assert_eq!(
            full.tls,
            Tls::Verified {
                ca_pem: "PEM".into()
            }
        );
        let e = parse("postgres://u:secretpw@h/d?sslmode=verify-full", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--datastore-cafile") && !e.contains("secretpw"),
            "{e}"
        );
        assert!(parse("mysql://u:p@h/d", None).is_err());
        assert!(parse("postgres://u:p@h/d?sslmode=allow", None).is_err());
        let secret = parse("postgres://u:secretpw@h/d", None).unwrap();
        assert!(!format!("{secret:?}").contains("secretpw"));
    }
}
