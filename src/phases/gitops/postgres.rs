//! The Secrets of `postgres.secrets`: how applications reach the Flexible Server `infra`
//! created (host, port, database, username, password, sslmode, ca.crt, uri), applied before
//! the controller's first sync, each in its namespace (created when missing, never deleted by
//! platform). The password comes from the state directory's secrets and goes only into the
//! Secret's data: never printed, never in the phase's outputs. `ca.crt` is the CA bundle
//! `infra` recorded for the server, so `sslmode=verify-full` can verify it.

use base64::Engine as _;
use kube::api::{DynamicObject, PostParams};
use serde_json::{Value, json};

use crate::config::Config;
use crate::error::Error;
use crate::kube::apply::Applier;
use crate::kube::client::KubeError;
use crate::phases::infra::ca::CaBundle;

/// PostgreSQL's port on the Flexible Server.
pub const PORT: u16 = 5432;

/// The Secrets for `postgres.secrets` (empty when there are none); `infra` is the infra
/// phase's outputs (the server's private FQDN and its CA bundle).
pub fn objects(config: &Config, infra: &Value) -> Result<Vec<DynamicObject>, Error> {
    let pg = &config.postgres;
    if pg.secrets.is_empty() {
        return Ok(Vec::new());
    }
    let host = infra
        .pointer("/postgres/fqdn")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::Usage(
                "postgres.secrets: infra recorded no PostgreSQL server address (run `platform up` from infra, with postgres.enabled)".into(),
            )
        })?;
    let ca = ca_bundle(infra)?.pem();
    let password =
        crate::phases::infra::secrets::postgres_password(config, false)?.ok_or_else(|| {
            Error::Usage(format!(
                "postgres.secrets: the server's password is missing from {}",
                config.paths().postgres_password().display()
            ))
        })?;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let user = &pg.admin_user;
    pg.secrets
        .iter()
        .map(|s| {
            let uri = format!(
                "postgresql://{}:{}@{host}:{PORT}/{}?sslmode=verify-full",
                crate::phases::nodes::plan::url_encode(user),
                crate::phases::nodes::plan::url_encode(password.expose()),
                s.database
            );
            serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {
                    "name": s.name, "namespace": s.namespace,
                    "labels": {"app.kubernetes.io/managed-by": "platform"},
                },
                "type": "Opaque",
                "data": {
                    "host": b64(host),
                    "port": b64(&PORT.to_string()),
                    "database": b64(&s.database),
                    "username": b64(user),
                    "password": b64(password.expose()),
                    "sslmode": b64("verify-full"),
                    "ca.crt": b64(&ca),
                    "uri": b64(&uri),
                },
            }))
            .map_err(|e| Error::Failed(format!("building the postgres Secrets: {e}")))
        })
        .collect()
}

/// The CA bundle `infra` recorded for the server.
fn ca_bundle(infra: &Value) -> Result<CaBundle, Error> {
    let missing = || {
        Error::Usage(
            "postgres.secrets: infra recorded no CA bundle for the PostgreSQL server (a state written before platform recorded it); run `platform up`, whose infra phase records it".into(),
        )
    };
    let recorded = infra.pointer("/postgres/ca_bundle").ok_or_else(missing)?;
    let bundle: CaBundle = serde_json::from_value(recorded.clone())
        .map_err(|e| Error::Failed(format!("infra's recorded CA bundle does not read: {e}")))?;
    if bundle.certificates.is_empty() {
        return Err(missing());
    }
    Ok(bundle)
}

/// Creates each namespace of `objs` that does not exist yet (a create, never an apply: the
/// namespace is not platform's to own or delete); returns how many it created.
pub async fn ensure_namespaces(
    applier: &Applier,
    objs: &[DynamicObject],
) -> Result<usize, KubeError> {
    use k8s_openapi::api::core::v1::Namespace;
    let api: kube::Api<Namespace> = kube::Api::all(applier.client().clone());
    let mut names: Vec<&str> = objs
        .iter()
        .filter_map(|o| o.metadata.namespace.as_deref())
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut created = 0;
    for ns in names {
        if api
            .get_opt(ns)
            .await
            .map_err(KubeError::api(format!("reading Namespace {ns}")))?
            .is_some()
        {
            continue;
        }
        let mut obj = Namespace::default();
        obj.metadata.name = Some(ns.to_owned());
        let pp = PostParams {
            field_manager: Some(crate::kube::apply::MANAGER.into()),
            ..PostParams::default()
        };
        match api.create(&pp, &obj).await {
            Ok(_) => created += 1,
            // Someone else made it in between: that is what was wanted.
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(KubeError::api(format!("creating Namespace {ns}"))(e)),
        }
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config with one Secret in `dir`, its password file written.
    fn config(dir: &std::path::Path) -> Config {
        let text = "cluster: demo\ncloud: {kind: local}\nnetwork: {admin_cidrs: [192.0.2.0/24]}\ngitops: {controller: flux, repository: 'https://g.example/f', flux: {sha256: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}}\npostgres:\n  databases: [kong]\n  secrets: [{namespace: kong, database: kong, name: kong-postgres}]\n";
        let c = Config::from_str(text, dir, None).unwrap();
        let pw = c.paths().postgres_password();
        std::fs::create_dir_all(pw.parent().unwrap()).unwrap();
        std::fs::write(&pw, "pw").unwrap();
        c
    }

    fn data(obj: &DynamicObject) -> std::collections::BTreeMap<String, String> {
        obj.data["data"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v.as_str().unwrap())
                    .unwrap();
                (k.clone(), String::from_utf8(bytes).unwrap())
            })
            .collect()
    }

    #[test]
    fn each_secret_carries_the_recorded_ca_bundle_as_ca_crt() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path());
        let bundle = crate::phases::infra::ca::azure().unwrap();
        let infra = json!({"postgres": {"fqdn": "demo-pg.postgres.database.azure.com", "ca_bundle": bundle}});
        let objs = objects(&c, &infra).unwrap();
        assert_eq!(objs.len(), 1);
        let d = data(&objs[0]);
        let keys: Vec<&str> = d.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "ca.crt", "database", "host", "password", "port", "sslmode", "uri", "username"
            ]
        );
        assert_eq!(d["ca.crt"], bundle.pem());
        let certs = crate::certs::parse_bundle(&d["ca.crt"]).unwrap();
        assert_eq!(certs.len(), 3);
        assert_eq!(
            certs[0].sha256,
            "cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f"
        );
        // The uri is unchanged: no CA, no secret beyond the password it always had.
        assert_eq!(
            d["uri"],
            "postgresql://platformadmin:pw@demo-pg.postgres.database.azure.com:5432/kong?sslmode=verify-full"
        );
    }

    #[test]
    fn a_state_without_the_bundle_is_told_to_run_infra() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path());
        let infra = json!({"postgres": {"fqdn": "demo-pg.postgres.database.azure.com"}});
        let err = objects(&c, &infra).unwrap_err().to_string();
        assert!(err.contains("infra recorded no CA bundle"), "{err}");
        let empty = json!({"postgres": {"fqdn": "h", "ca_bundle": {"source": "azure", "certificates": []}}});
        assert!(objects(&c, &empty).is_err());
    }
}
