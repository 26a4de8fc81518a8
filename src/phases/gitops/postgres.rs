//! The Secrets of `postgres.secrets`: how applications reach the Flexible Server `infra`
//! created (host, port, database, username, password, sslmode, uri), applied before the
//! controller's first sync, each in its namespace (created when missing, never deleted by
//! platform). The password comes from the state directory's secrets and goes only into the
//! Secret's data: never printed, never in the phase's outputs.

use base64::Engine as _;
use kube::api::{DynamicObject, PostParams};
use serde_json::{Value, json};

use crate::config::Config;
use crate::error::Error;
use crate::kube::apply::Applier;
use crate::kube::client::KubeError;

/// PostgreSQL's port on the Flexible Server.
pub const PORT: u16 = 5432;

/// The Secrets for `postgres.secrets` (empty when there are none); `infra` is the infra
/// phase's outputs (the server's private FQDN).
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
                    "uri": b64(&uri),
                },
            }))
            .map_err(|e| Error::Failed(format!("building the postgres Secrets: {e}")))
        })
        .collect()
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
