//! The manifests of a Kustomization's `spec.path` at one commit, read from the cached
//! repository with `git ls-tree`/`git show` (no checkout): a directory with a
//! `kustomization.yaml` contributes its `resources:` (files and directories, recursively);
//! one without contributes every `*.yaml`/`*.yml` below it, as the kustomize-controller's
//! generated kustomization does. Anything else a kustomization can say (patches, overlays,
//! generators, `namespace:`, remote bases) is refused with a message naming it.

use std::path::Path;

use serde_json::Value;

use super::git::{self, Auth};

/// The file names kustomize reads as a kustomization.
const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// `spec.path` as a path inside the repository (`""` is its root); `..` is refused.
pub fn clean_path(path: &str) -> Result<String, String> {
    let mut parts = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => return Err(format!("spec.path {path:?} must not leave the repository")),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// One entry of a tree: whether it is a directory, and its name.
async fn tree(repo: &Path, sha: &str, dir: &str) -> Result<Vec<(bool, String)>, String> {
    let spec = format!("{sha}:{dir}");
    let out = git::run(repo, &Auth::default(), &["ls-tree", &spec]).await?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let (meta, name) = l.split_once('\t')?;
            Some((meta.split(' ').nth(1)? == "tree", name.to_owned()))
        })
        .collect())
}

/// What kind of entry `path` is at `sha`: `Some(true)` a directory, `Some(false)` a file.
async fn kind(repo: &Path, sha: &str, path: &str) -> Option<bool> {
    let spec = format!("{sha}:{path}");
    let t = git::run(repo, &Auth::default(), &["cat-file", "-t", &spec])
        .await
        .ok()?;
    Some(t.trim() == "tree")
}

async fn show(repo: &Path, sha: &str, path: &str) -> Result<String, String> {
    git::run(repo, &Auth::default(), &["show", &format!("{sha}:{path}")]).await
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// The objects of one YAML file (empty documents skipped; a document without `kind` is not
/// a Kubernetes object and is skipped, as kustomize's generator skips such files).
fn objects(text: &str, file: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| format!("{file}: {e}"))?;
    Ok(docs
        .into_iter()
        .filter(|d| d.is_object() && d.get("kind").is_some())
        .collect())
}

/// The objects of `spec.path` (already cleaned) at commit `sha`.
pub async fn read(repo: &Path, sha: &str, path: &str) -> Result<Vec<Value>, String> {
    if kind(repo, sha, path).await != Some(true) {
        return Err(format!("kustomization path not found: {path:?}"));
    }
    let mut out = Vec::new();
    let mut dirs = vec![path.to_owned()];
    let mut files = Vec::new();
    // Directories still to read, each by its kustomization or by its YAML files.
    while let Some(dir) = dirs.pop() {
        let entries = tree(repo, sha, &dir).await?;
        let own = entries
            .iter()
            .find(|(d, n)| !d && KUSTOMIZATION_FILES.contains(&n.as_str()));
        if let Some((_, name)) = own {
            let file = join(&dir, name);
            let k: Value = serde_saphyr::from_str(&show(repo, sha, &file).await?)
                .map_err(|e| format!("{file}: {e}"))?;
            for key in k.as_object().into_iter().flatten().map(|(k, _)| k) {
                if !["apiVersion", "kind", "resources"].contains(&key.as_str()) {
                    return Err(format!(
                        "{file}: '{key}' is not supported by the local cloud's Flux stand-in (only resources)"
                    ));
                }
            }
            for r in k["resources"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap_or_default();
                if r.contains("://") || r.starts_with("github.com/") {
                    return Err(format!(
                        "{file}: remote resource {r:?} is not supported by the local cloud's Flux stand-in"
                    ));
                }
                let target = clean_path(&join(&dir, r)).map_err(|e| format!("{file}: {e}"))?;
                match kind(repo, sha, &target).await {
                    Some(true) => dirs.push(target),
                    Some(false) => files.push(target),
                    None => return Err(format!("{file}: resource {r:?} not found")),
                }
            }
            continue;
        }
        for (is_dir, name) in entries {
            if name.starts_with('.') {
                continue;
            }
            if is_dir {
                dirs.push(join(&dir, &name));
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                files.push(join(&dir, &name));
            }
        }
    }
    files.sort();
    files.dedup();
    for file in files {
        out.extend(objects(&show(repo, sha, &file).await?, &file)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_and_kept_inside() {
        assert_eq!(clean_path("./clusters/dev/").unwrap(), "clusters/dev");
        assert_eq!(clean_path("./").unwrap(), "");
        assert!(clean_path("../etc").is_err());
    }

    #[test]
    fn files_give_their_objects_only() {
        let text =
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\nfoo: bar\n";
        let objs = objects(text, "x.yaml").unwrap();
        assert_eq!(objs.len(), 1);
        assert_eq!(objs[0]["metadata"]["name"], "a");
    }
}
