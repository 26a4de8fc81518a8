//! The CA bundle that signs the Postgres server's certificate, which `infra` records so that
//! the `postgres.secrets` carry it as `ca.crt` (`sslmode=verify-full`): the roots Microsoft
//! documents for Flexible Server TLS (`certs/`, from Debian's Mozilla store; `certs/README.md`
//! says where each comes from), the local cloud's own CA, or the file `postgres.ca_bundle`.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::certs::{Certificate, parse_bundle};
use crate::config::{CloudKind, Config};
use crate::error::Error;

/// Where a bundle came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaSource {
    /// The roots platform carries for Azure Database for PostgreSQL.
    #[serde(rename = "azure")]
    Azure,
    /// The local cloud's CA (`ca.pem` in its data directory).
    #[serde(rename = "local-cloud")]
    LocalCloud,
    /// The user's file.
    #[serde(rename = "postgres.ca_bundle")]
    File,
}

/// The CA certificates a client needs to verify the Postgres server, as recorded in state:
/// readable (subject and fingerprint beside each PEM), not a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaBundle {
    pub source: CaSource,
    /// The file it was read from, for `postgres.ca_bundle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    pub certificates: Vec<CaCertificate>,
}

/// One certificate of a [`CaBundle`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaCertificate {
    pub subject: String,
    /// SHA-256 of the DER encoding, lowercase hex.
    pub sha256: String,
    pub pem: String,
}

impl CaBundle {
    fn new(source: CaSource, file: Option<PathBuf>, certs: Vec<Certificate>) -> CaBundle {
        CaBundle {
            source,
            file,
            certificates: certs
                .into_iter()
                .map(|c| CaCertificate {
                    pem: c.pem(),
                    subject: c.subject,
                    sha256: c.sha256,
                })
                .collect(),
        }
    }

    /// The bundle as one PEM text (the certificates in order): what `ca.crt` holds.
    pub fn pem(&self) -> String {
        self.certificates.iter().map(|c| c.pem.as_str()).collect()
    }
}

/// A root platform carries for Azure: its file under `certs/`, its text and the SHA-256 of
/// its DER as Microsoft publishes it.
struct Root {
    file: &'static str,
    pem: &'static str,
    sha256: &'static str,
}

/// The roots Microsoft documents for Flexible Server TLS: DigiCert Global Root G2 and
/// Microsoft RSA Root CA 2017 in every region but China; DigiCert Global Root CA for China
/// regions and for read replicas whose region has not finished moving to G2.
const AZURE_ROOTS: [Root; 3] = [
    Root {
        file: "DigiCert_Global_Root_G2.pem",
        pem: include_str!("certs/DigiCert_Global_Root_G2.pem"),
        sha256: "cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f",
    },
    Root {
        file: "Microsoft_RSA_Root_Certificate_Authority_2017.pem",
        pem: include_str!("certs/Microsoft_RSA_Root_Certificate_Authority_2017.pem"),
        sha256: "c741f70f4b2a8d88bf2e71c14122ef53ef10eba0cfa5e64cfa20f418853073e0",
    },
    Root {
        file: "DigiCert_Global_Root_CA.pem",
        pem: include_str!("certs/DigiCert_Global_Root_CA.pem"),
        sha256: "4348a0e9444c78cb265e058d5e8944b4d84f9662bd26db257f8934a443c70161",
    },
];

/// Azure's roots, each checked against its published fingerprint.
pub fn azure() -> Result<CaBundle, Error> {
    let mut certs = Vec::new();
    for root in &AZURE_ROOTS {
        let mut parsed = parse_bundle(root.pem)
            .map_err(|e| Error::Failed(format!("the embedded root {} {e}", root.file)))?;
        match (parsed.pop(), parsed.is_empty()) {
            (Some(c), true) if c.sha256 == root.sha256 => certs.push(c),
            _ => {
                return Err(Error::Failed(format!(
                    "the embedded root {} is not the one certificate of SHA-256 {}",
                    root.file, root.sha256
                )));
            }
        }
    }
    Ok(CaBundle::new(CaSource::Azure, None, certs))
}

/// The bundle for `config`'s Postgres server (`None` without one): `postgres.ca_bundle` when
/// set, else the local cloud's CA `local_ca` (the connection's) or Azure's roots.
pub fn bundle(config: &Config, local_ca: Option<&str>) -> Result<Option<CaBundle>, Error> {
    let pg = &config.postgres;
    if !pg.enabled {
        return Ok(None);
    }
    if let Some(path) = &pg.ca_bundle {
        let certs = crate::config::read_ca_bundle(path)
            .map_err(|e| Error::Usage(format!("postgres.ca_bundle: {e}")))?;
        return Ok(Some(CaBundle::new(
            CaSource::File,
            Some(path.clone()),
            certs,
        )));
    }
    match (config.cloud.kind, local_ca) {
        (CloudKind::Local, Some(pem)) => {
            let certs = parse_bundle(pem)
                .map_err(|e| Error::Failed(format!("the local cloud's CA {e}")))?;
            Ok(Some(CaBundle::new(CaSource::LocalCloud, None, certs)))
        }
        (CloudKind::Local, None) => Err(Error::Failed(
            "the local cloud's CA is unknown to this connection".into(),
        )),
        (CloudKind::Azure, _) => azure().map(Some),
        (CloudKind::Static, _) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(more: &str) -> Config {
        let text = format!(
            "cluster: demo\ncloud: {{kind: azure, subscription_id: 00000000-0000-0000-0000-000000000001, location: westeurope}}\nnetwork: {{admin_cidrs: [192.0.2.0/24]}}\ngitops: {{controller: none}}\n{more}"
        );
        Config::from_str(&text, std::path::Path::new("/tmp/cfg"), None).unwrap()
    }

    #[test]
    fn each_embedded_root_parses_and_has_its_published_fingerprint() {
        for root in &AZURE_ROOTS {
            let certs = parse_bundle(root.pem).unwrap();
            assert_eq!(certs.len(), 1, "{}", root.file);
            assert_eq!(certs[0].sha256, root.sha256, "{}", root.file);
            // The text is the Debian file as it was copied: canonical PEM already.
            assert_eq!(certs[0].pem(), root.pem, "{}", root.file);
        }
        let b = azure().unwrap();
        let subjects: Vec<&str> = b.certificates.iter().map(|c| c.subject.as_str()).collect();
        assert_eq!(
            subjects,
            [
                "C=US, O=DigiCert Inc, OU=www.digicert.com, CN=DigiCert Global Root G2",
                "C=US, O=Microsoft Corporation, CN=Microsoft RSA Root Certificate Authority 2017",
                "C=US, O=DigiCert Inc, OU=www.digicert.com, CN=DigiCert Global Root CA",
            ]
        );
        assert_eq!(b.pem(), AZURE_ROOTS.map(|r| r.pem).concat());
        // certs/README.md lists the same fingerprints.
        let readme = include_str!("certs/README.md");
        for root in &AZURE_ROOTS {
            assert!(readme.contains(root.sha256), "{}", root.file);
            assert!(readme.contains(root.file), "{}", root.file);
        }
    }

    #[test]
    fn the_bundle_follows_the_cloud_and_the_override() {
        let azure_cfg = config("");
        assert_eq!(bundle(&azure_cfg, None).unwrap(), Some(azure().unwrap()));
        assert_eq!(
            bundle(&config("postgres: {enabled: false}\n"), None).unwrap(),
            None
        );

        let dir = tempfile::tempdir().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "private root");
        let key = rcgen::KeyPair::generate().unwrap();
        let ca = params.self_signed(&key).unwrap().pem();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, format!("# our private CA\n{ca}")).unwrap();
        let mut own = azure_cfg.clone();
        own.postgres.ca_bundle = Some(file.clone());
        let b = bundle(&own, None).unwrap().unwrap();
        assert_eq!(b.source, CaSource::File);
        assert_eq!(b.file.as_deref(), Some(file.as_path()));
        assert_eq!(b.certificates[0].subject, "CN=private root");
        assert_eq!(b.pem(), ca);

        let mut local = azure_cfg.clone();
        local.cloud.kind = CloudKind::Local;
        let b = bundle(&local, Some(&ca)).unwrap().unwrap();
        assert_eq!((b.source, b.pem()), (CaSource::LocalCloud, ca.clone()));
        assert!(bundle(&local, None).is_err());

        // A file that went bad after validation: the error names the field.
        std::fs::write(&file, "gone\n").unwrap();
        let err = bundle(&own, None).unwrap_err().to_string();
        assert!(err.starts_with("postgres.ca_bundle: "), "{err}");
    }

    #[test]
    fn the_recorded_form_is_readable_json() {
        let v = serde_json::to_value(azure().unwrap()).unwrap();
        assert_eq!(v["source"], "azure");
        assert!(v.get("file").is_none());
        assert_eq!(
            v["certificates"][0]["sha256"],
            "cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f"
        );
        let back: CaBundle = serde_json::from_value(v).unwrap();
        assert_eq!(back, azure().unwrap());
    }
}
