//! The GitRepository reconciler (source-controller's part): `git ls-remote` for the head of
//! `spec.ref.branch`, a depth-1 fetch of a new head into the repository's cache, and
//! Flux's status: `artifact.revision` `<branch>@sha1:<sha>`, `Ready` and
//! `ArtifactInStorage` on success, `Ready=False` with `FetchFailed` and git's message on
//! failure (the last artifact kept, as Flux keeps it).

use std::path::PathBuf;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject};
use serde_json::{Value, json};

use super::git::{self, Auth};
use super::{Flux, condition, git_repositories, write_status};
use crate::k3s::kubelet::now;

/// Where a repository is fetched to and how it is reached.
pub struct Remote {
    pub dir: PathBuf,
    pub url: String,
    pub branch: String,
    pub auth: Auth,
}

/// `ns/name`, for messages.
fn id(obj: &Value) -> String {
    let m = &obj["metadata"];
    format!(
        "{}/{}",
        m["namespace"].as_str().unwrap_or_default(),
        m["name"].as_str().unwrap_or_default()
    )
}

/// The remote of a GitRepository object: its URL and branch checked, its Secret read.
pub async fn remote(f: &Flux, repo: &Value) -> Result<Remote, (&'static str, String)> {
    let spec = &repo["spec"];
    let ns = repo["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = repo["metadata"]["name"].as_str().unwrap_or_default();
    let url = spec["url"].as_str().unwrap_or_default().to_owned();
    git::check_url(&url).map_err(|e| ("URLInvalid", e))?;
    let r = &spec["ref"];
    for other in ["tag", "semver", "name", "commit"] {
        if !r[other].is_null() {
            return Err((
                "GitOperationFailed",
                format!(
                    "spec.ref.{other} is not supported by the local cloud's Flux stand-in (only spec.ref.branch)"
                ),
            ));
        }
    }
    // Flux's default when no ref is given.
    let branch = r["branch"].as_str().unwrap_or("master").to_owned();
    let mut auth = Auth::default();
    if let Some(secret) = spec["secretRef"]["name"].as_str() {
        let secrets: Api<Secret> = Api::namespaced(f.client.clone(), ns);
        let s = secrets
            .get_opt(secret)
            .await
            .map_err(|e| {
                (
                    "AuthenticationFailed",
                    format!("reading secret '{ns}/{secret}': {e}"),
                )
            })?
            .ok_or_else(|| {
                (
                    "AuthenticationFailed",
                    format!("failed to get secret '{ns}/{secret}': secrets \"{secret}\" not found"),
                )
            })?;
        auth = Auth::from_secret(&git::secret_data(s));
    }
    let dir = f
        .cache
        .join("gitrepository")
        .join(ns)
        .join(format!("{name}.git"));
    Ok(Remote {
        dir,
        url,
        branch,
        auth,
    })
}

/// The commit at the remote's branch head, fetched into the cache when it is not there.
pub async fn fetch_head(r: &Remote) -> Result<String, String> {
    git::cache(&r.dir).await?;
    // ls-remote first, as source-controller checks the remote before cloning: an unchanged
    // head needs no fetch. A branch it does not list is fetched anyway, for git's message.
    if let Some(sha) = git::remote_head(&r.dir, &r.auth, &r.url, &r.branch).await?
        && git::has_commit(&r.dir, &sha).await
    {
        return Ok(sha);
    }
    git::fetch(&r.dir, &r.auth, &r.url, &r.branch).await
}

/// Reconciles one GitRepository and writes its status.
pub async fn reconcile(f: &Flux, repo: &Value) {
    let api: Api<DynamicObject> = Api::namespaced_with(
        f.client.clone(),
        repo["metadata"]["namespace"].as_str().unwrap_or("default"),
        &git_repositories(),
    );
    let outcome = match remote(f, repo).await {
        Ok(r) => match fetch_head(&r).await {
            Ok(sha) => match git::digest(&r.dir, &sha).await {
                Ok(digest) => Ok((r, sha, digest)),
                Err(e) => Err(("ArchiveOperationFailed", e)),
            },
            // Flux's wording around git's own message.
            Err(e) => Err((
                "GitOperationFailed",
                format!(
                    "failed to checkout and determine revision: unable to clone '{}': {e}",
                    git::redact(&r.url)
                ),
            )),
        },
        Err(e) => Err(e),
    };
    let status = match outcome {
        Ok((r, sha, digest)) => {
            let revision = format!("{}@sha1:{sha}", r.branch);
            let message = format!("stored artifact for revision '{revision}'");
            let same = repo["status"]["artifact"]["revision"] == revision.as_str();
            let updated = if same {
                repo["status"]["artifact"]["lastUpdateTime"].clone()
            } else {
                json!(now(false))
            };
            let (ns, name) = (
                repo["metadata"]["namespace"].as_str().unwrap_or_default(),
                repo["metadata"]["name"].as_str().unwrap_or_default(),
            );
            let path = format!("gitrepository/{ns}/{name}/{sha}.tar.gz");
            if !same {
                super::super::log::info(format!(
                    "flux stand-in: GitRepository {} at {revision}",
                    id(repo)
                ));
            }
            json!({
                "artifact": {"revision": revision, "digest": digest, "path": path, "lastUpdateTime": updated,
                    "url": format!("http://source-controller.flux-system.svc.cluster.local./{path}")},
                "conditions": [
                    condition(repo, "Ready", true, "Succeeded", &message),
                    condition(repo, "ArtifactInStorage", true, "Succeeded", &message),
                ],
            })
        }
        Err((reason, message)) => {
            let mut conditions = vec![
                condition(repo, "Ready", false, reason, &message),
                condition(repo, "FetchFailed", true, reason, &message),
            ];
            if !repo["status"]["artifact"].is_null() {
                conditions.push(condition(
                    repo,
                    "ArtifactInStorage",
                    true,
                    "Succeeded",
                    &format!(
                        "stored artifact for revision '{}'",
                        repo["status"]["artifact"]["revision"]
                            .as_str()
                            .unwrap_or_default()
                    ),
                ));
            }
            json!({"conditions": conditions})
        }
    };
    write_status(&api, repo, status).await;
}
