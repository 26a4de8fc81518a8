//! Flux's source and sync: the Secret `flux-system` with the repository's credentials (an
//! HTTPS token from the environment variable `gitops.token_env` names, or a generated
//! ed25519 deploy key with the user's known_hosts for an SSH repository), the `GitRepository`
//! and the `Kustomization` named `flux-system`, as `flux bootstrap` writes them; and the wait
//! until both are Ready, which reports the revision or fails naming the condition's message.

use std::time::Duration;

use base64::Engine as _;
use kube::api::DynamicObject;
use kube::runtime::wait::await_condition;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::azure::resources::Secret;
use crate::config::Config;
use crate::error::Error;
use crate::fsutil::{ensure_private_dir, write_atomic};
use crate::kube::apply::{Applier, ObjectRef};
use crate::kube::client::KubeError;

/// The namespace and name of Flux's own objects.
pub const NAMESPACE: &str = "flux-system";
pub const NAME: &str = "flux-system";

/// How the controller authenticates to the repository.
pub enum Credentials {
    /// A public HTTPS repository.
    Anonymous,
    /// An HTTPS token (from the environment, never stored by platform).
    Token(Secret),
    /// A deploy key and the Git host's keys.
    Ssh {
        identity: Secret,
        public: String,
        known_hosts: String,
    },
}

/// What `status` and the end of `up` say about the source (no secret in it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// The URL as Flux gets it (`git@host:path` becomes `ssh://git@host/path`).
    pub url: String,
    pub branch: String,
    pub path: String,
    /// `token`, `ssh` or `none`.
    pub auth: String,
    /// The deploy key's public half, for an SSH repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_key: Option<String>,
}

/// The repository URL in the form Flux accepts (https:// or ssh://).
pub fn flux_url(repo: &str) -> String {
    match repo.strip_prefix("git@").and_then(|r| r.split_once(':')) {
        Some((host, path)) if !repo.contains("://") => format!("ssh://git@{host}/{path}"),
        _ => repo.to_owned(),
    }
}

/// The deploy key's path in the secrets directory: `flux-deploy-key` or
/// `argocd-deploy-key`, so switching controllers never hands one the other's key.
pub fn deploy_key_path(config: &Config) -> std::path::PathBuf {
    config
        .paths()
        .secrets_dir()
        .join(format!("{}-deploy-key", controller(config)))
}

/// The configured controller as the state and file names spell it.
pub fn controller(config: &Config) -> &'static str {
    match config.gitops.controller {
        crate::config::Controller::Argocd => "argocd",
        _ => "flux",
    }
}

/// The credentials the config asks for; generates the deploy key on first use (`generated`
/// then says so, to print the public half with instructions).
pub fn credentials(config: &Config) -> Result<(Credentials, bool), Error> {
    let g = &config.gitops;
    let repo = g.repository.as_deref().unwrap_or_default();
    if repo.starts_with("https://") {
        let Some(var) = &g.token_env else {
            return Ok((Credentials::Anonymous, false));
        };
        let token = std::env::var(var).ok().filter(|t| !t.is_empty());
        return match token {
            Some(t) => Ok((Credentials::Token(Secret::new(t)), false)),
            None => Err(Error::Usage(format!(
                "gitops.token_env: the environment variable {var} is not set (it holds the HTTPS token for {repo})"
            ))),
        };
    }
    let known_hosts = match &g.known_hosts {
        Some(p) => crate::fsutil::read_capped(p, crate::fsutil::caps::CONFIG)?,
        None => {
            return Err(Error::Usage(
                "gitops.known_hosts is required for an SSH repository".into(),
            ));
        }
    };
    let (identity, public, generated) = deploy_key(config)?;
    Ok((
        Credentials::Ssh {
            identity,
            public,
            known_hosts,
        },
        generated,
    ))
}

/// The deploy key pair, generated once into the secrets directory (private half 0600).
fn deploy_key(config: &Config) -> Result<(Secret, String, bool), Error> {
    let path = deploy_key_path(config);
    let enc = |e: ssh_key::Error| Error::Failed(format!("the deploy key: {e}"));
    if path.is_file() {
        let text = crate::fsutil::read_capped(&path, crate::fsutil::caps::CONFIG)?;
        let key = ssh_key::PrivateKey::from_openssh(&text).map_err(enc)?;
        let public = key.public_key().to_openssh().map_err(enc)?;
        return Ok((Secret::new(text), public, false));
    }
    ensure_private_dir(&config.paths().secrets_dir())?;
    let mut key =
        ssh_key::PrivateKey::random(&mut ssh_key::rand_core::OsRng, ssh_key::Algorithm::Ed25519)
            .map_err(enc)?;
    key.set_comment(format!("{}-{}", controller(config), config.cluster));
    let private = key.to_openssh(ssh_key::LineEnding::LF).map_err(enc)?;
    let public = key.public_key().to_openssh().map_err(enc)?;
    write_atomic(&path, private.as_bytes())?;
    Ok((Secret::new(private.as_str()), public, true))
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn object(v: Value) -> Result<DynamicObject, Error> {
    serde_json::from_value(v).map_err(|e| Error::Failed(format!("building Flux's objects: {e}")))
}

/// The Secret (unless anonymous), the GitRepository and the Kustomization, with what the
/// end of `up` reports about them.
pub fn objects(
    config: &Config,
    creds: &Credentials,
) -> Result<(Vec<DynamicObject>, SourceInfo), Error> {
    let g = &config.gitops;
    let url = flux_url(g.repository.as_deref().unwrap_or_default());
    let labels = json!({"app.kubernetes.io/managed-by": "platform"});
    let (data, auth, deploy_key) = match creds {
        Credentials::Anonymous => (None, "none", None),
        Credentials::Token(t) => (
            Some(json!({"username": b64("git"), "password": b64(t.expose())})),
            "token",
            None,
        ),
        Credentials::Ssh {
            identity,
            public,
            known_hosts,
        } => (
            Some(json!({
                "identity": b64(identity.expose()),
                "identity.pub": b64(public),
                "known_hosts": b64(known_hosts),
            })),
            "ssh",
            Some(public.clone()),
        ),
    };
    let mut out = Vec::new();
    let mut repo_spec = json!({"url": url, "ref": {"branch": g.branch}, "interval": g.interval});
    if let Some(data) = data {
        out.push(object(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
            "type": "Opaque", "data": data,
        }))?);
        repo_spec["secretRef"] = json!({"name": NAME});
    }
    out.push(object(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
        "spec": repo_spec,
    }))?);
    out.push(object(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "interval": g.interval,
            "path": format!("./{}", g.path.trim_start_matches("./")),
            "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": NAME},
        },
    }))?);
    let info = SourceInfo {
        url,
        branch: g.branch.clone(),
        path: g.path.clone(),
        auth: auth.into(),
        deploy_key,
    };
    Ok((out, info))
}

/// The annotation that asks a Flux controller to reconcile now (what `flux reconcile` sets).
const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";

/// The reference of the GitRepository or the Kustomization.
pub fn reference(kind: &str) -> ObjectRef {
    let api_version = match kind {
        "GitRepository" => "source.toolkit.fluxcd.io/v1",
        _ => "kustomize.toolkit.fluxcd.io/v1",
    };
    ObjectRef {
        api_version: api_version.into(),
        kind: kind.into(),
        namespace: Some(NAMESPACE.into()),
        name: NAME.into(),
    }
}

/// A Flux object's `Ready` condition as (status, message), once the controller has seen
/// the object's current generation.
pub fn ready(obj: &DynamicObject) -> Option<(String, String)> {
    let status = &obj.data["status"];
    if status["observedGeneration"].as_i64() != obj.metadata.generation {
        return None;
    }
    let c = status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    Some((
        c["status"].as_str().unwrap_or("Unknown").to_owned(),
        c["message"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// Waits until `kind` (GitRepository or Kustomization) `flux-system` is Ready and returns
/// its revision; fails as soon as the controller reports it not Ready for its current
/// generation (as `flux bootstrap` does), naming the condition's message.
pub async fn wait_ready(
    applier: &Applier,
    kind: &str,
    timeout: Duration,
) -> Result<String, KubeError> {
    let r = reference(kind);
    let api = applier.api_of(&r)?;
    // A verdict left by an earlier run (a deploy key added since, a branch pushed since) is
    // not this run's: as `flux reconcile` does, ask for a reconciliation and wait for the
    // controller to have handled it. Only then, so a healthy re-run still writes nothing.
    let stale_failure = api
        .get_opt(NAME)
        .await
        .ok()
        .flatten()
        .as_ref()
        .and_then(ready)
        .is_some_and(|(s, _)| s == "False");
    let requested = if stale_failure {
        let token = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let patch = serde_json::json!({"metadata": {"annotations": {REQUESTED_AT: token}}});
        api.patch(
            NAME,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .map_err(KubeError::api(format!(
            "requesting a reconciliation of {r}"
        )))?;
        Some(token)
    } else {
        None
    };
    let settled = |o: Option<&DynamicObject>| {
        let handled = requested.as_ref().is_none_or(|t| {
            o.and_then(|o| o.data["status"]["lastHandledReconcileAt"].as_str()) == Some(t)
        });
        handled
            && o.and_then(ready)
                .is_some_and(|(s, _)| s == "True" || s == "False")
    };
    let fail = |why: String| KubeError::Invalid(format!("{r} is not Ready: {why}"));
    match tokio::time::timeout(timeout, await_condition(api.clone(), NAME, settled)).await {
        Ok(Ok(Some(obj))) => match ready(&obj) {
            Some((s, _)) if s == "True" => {
                let st = &obj.data["status"];
                let rev = st["artifact"]["revision"]
                    .as_str()
                    .or(st["lastAppliedRevision"].as_str())
                    .unwrap_or_default();
                Ok(rev.to_owned())
            }
            Some((_, message)) => Err(fail(message)),
            None => Err(fail("no Ready condition".into())),
        },
        Ok(Ok(None)) => Err(fail("it does not exist".into())),
        Ok(Err(e)) => Err(fail(format!("watching it: {e}"))),
        Err(_) => {
            let now = api.get_opt(NAME).await.ok().flatten();
            let message = now
                .as_ref()
                .and_then(ready)
                .map_or_else(|| "not reconciled yet".to_owned(), |(_, m)| m);
            Err(KubeError::Timeout {
                what: format!("{kind} {NAMESPACE}/{NAME} not Ready"),
                secs: timeout.as_secs(),
                waiting: vec![format!("{r}: {message}")],
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scp_like_urls_become_ssh_urls() {
        assert_eq!(
            flux_url("git@github.com:org/fleet.git"),
            "ssh://git@github.com/org/fleet.git"
        );
        assert_eq!(flux_url("ssh://git@h:2222/x"), "ssh://git@h:2222/x");
        assert_eq!(flux_url("https://h/x"), "https://h/x");
    }

    #[test]
    fn readiness_counts_only_for_the_current_generation() {
        let obj = |gen_seen: i64, status: &str| -> DynamicObject {
            serde_json::from_value(json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": NAME, "namespace": NAMESPACE, "generation": 2},
                "status": {"observedGeneration": gen_seen, "conditions": [
                    {"type": "Ready", "status": status, "message": "couldn't find remote ref"}
                ]},
            }))
            .unwrap()
        };
        assert_eq!(ready(&obj(1, "True")), None);
        assert_eq!(
            ready(&obj(2, "False")),
            Some(("False".into(), "couldn't find remote ref".into()))
        );
    }
}
