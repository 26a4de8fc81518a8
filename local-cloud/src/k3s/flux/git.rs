//! Real `git` run from the server's host the way Flux's source-controller reaches a
//! repository: only `http(s)://` and `ssh://` URLs, credentials from the GitRepository's
//! Secret put in 0600 files of a private directory for the one command (SSH: `identity`
//! and `known_hosts` with the host key checked strictly; HTTPS: `username`/`password`
//! through a `GIT_ASKPASS` helper, `bearerToken` as an `http.extraHeader` from the
//! environment), never on a command line or in a message.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

/// A repository's credentials (the keys of Flux's source Secret that the stand-in reads).
#[derive(Default, Clone)]
pub struct Auth {
    pub identity: Option<Vec<u8>>,
    pub known_hosts: Option<Vec<u8>>,
    pub username: Option<Vec<u8>>,
    pub password: Option<Vec<u8>>,
    pub bearer: Option<Vec<u8>>,
}

impl Auth {
    /// From a Secret's `data` (already decoded).
    pub fn from_secret(data: &std::collections::BTreeMap<String, Vec<u8>>) -> Auth {
        let get = |k: &str| data.get(k).cloned();
        Auth {
            identity: get("identity"),
            known_hosts: get("known_hosts"),
            username: get("username"),
            password: get("password"),
            bearer: get("bearerToken"),
        }
    }
}

/// Refuses what Flux's `spec.url` pattern refuses (`^(http|https|ssh)://.*$`).
pub fn check_url(url: &str) -> Result<(), String> {
    let ok = ["http://", "https://", "ssh://"]
        .iter()
        .any(|p| url.starts_with(p) && url.len() > p.len());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "spec.url {:?}: only http://, https:// and ssh:// URLs are supported",
            redact(url)
        ))
    }
}

/// `url` without a password in its user part, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// A private directory holding one command's credential files, removed when dropped.
struct Private(PathBuf);

impl Private {
    fn new(under: &Path) -> std::io::Result<Private> {
        let dir = under.join(format!(".auth-{}", uuid::Uuid::new_v4().simple()));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(Private(dir))
    }

    fn file(&self, name: &str, bytes: &[u8], mode: u32) -> std::io::Result<PathBuf> {
        let p = self.0.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&p)?;
        f.write_all(bytes)?;
        Ok(p)
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How long one git command may take (Flux's default `spec.timeout`).
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `git <args>` in `repo` (a bare cache repository) with `auth`; its stdout, or git's
/// stderr as the error.
pub async fn run(repo: &Path, auth: &Auth, args: &[&str]) -> Result<String, String> {
    run_raw(repo, auth, args)
        .await
        .map(|out| String::from_utf8_lossy(&out).into_owned())
}

/// [`run`], stdout as bytes.
async fn run_raw(repo: &Path, auth: &Auth, args: &[&str]) -> Result<Vec<u8>, String> {
    let private = Private::new(repo).map_err(|e| format!("credentials directory: {e}"))?;
    let io = |e: std::io::Error| format!("credentials file: {e}");
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(repo)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", repo)
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .kill_on_drop(true);
    // Host keys are always checked: without `known_hosts` nothing is trusted.
    let known = match &auth.known_hosts {
        Some(k) => private.file("known_hosts", k, 0o600).map_err(io)?,
        None => PathBuf::from("/dev/null"),
    };
    let mut ssh = format!(
        "ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
        known.display()
    );
    if let Some(id) = &auth.identity {
        let mut key = id.clone();
        if !key.ends_with(b"\n") {
            key.push(b'\n');
        }
        let p = private.file("identity", &key, 0o600).map_err(io)?;
        ssh.push_str(&format!(" -i {}", p.display()));
    }
    cmd.env("GIT_SSH_COMMAND", ssh);
    if auth.username.is_some() || auth.password.is_some() {
        let user = private
            .file(
                "username",
                auth.username.as_deref().unwrap_or(b"git"),
                0o600,
            )
            .map_err(io)?;
        let pass = private
            .file(
                "password",
                auth.password.as_deref().unwrap_or_default(),
                0o600,
            )
            .map_err(io)?;
        let script = format!(
            "#!/bin/sh\ncase \"$1\" in\n  Username*) cat '{}' ;;\n  *) cat '{}' ;;\nesac\n",
            user.display(),
            pass.display()
        );
        let helper = private
            .file("askpass", script.as_bytes(), 0o700)
            .map_err(io)?;
        cmd.env("GIT_ASKPASS", helper);
    }
    if let Some(token) = &auth.bearer {
        cmd.env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env(
                "GIT_CONFIG_VALUE_0",
                format!("Authorization: Bearer {}", String::from_utf8_lossy(token)),
            );
    }
    let out = tokio::time::timeout(TIMEOUT, cmd.output())
        .await
        .map_err(|_| format!("git {} timed out after {TIMEOUT:?}", args[0]))?
        .map_err(|e| format!("running git: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        Err(if err.is_empty() {
            format!("git {} failed with {}", args[0], out.status)
        } else {
            err
        })
    }
}

/// A bare repository at `dir` (created when missing) to fetch into.
pub async fn cache(dir: &Path) -> Result<(), String> {
    if dir.join("HEAD").is_file() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cache {}: {e}", dir.display()))?;
    run(dir, &Auth::default(), &["init", "--bare", "-q"])
        .await
        .map(drop)
}

/// `sha256:<hex>` of the commit's tree as `git archive --format=tar` writes it: the
/// artifact digest (Flux's is of its own tarball, so the values differ from Flux's).
pub async fn digest(dir: &Path, sha: &str) -> Result<String, String> {
    use sha2::Digest as _;
    let tar = run_raw(dir, &Auth::default(), &["archive", "--format=tar", sha]).await?;
    Ok(format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(&tar))
    ))
}

/// Whether commit `sha` is in the cache.
pub async fn has_commit(dir: &Path, sha: &str) -> bool {
    let spec = format!("{sha}^{{commit}}");
    run(dir, &Auth::default(), &["cat-file", "-e", &spec])
        .await
        .is_ok()
}

/// The head of `refs/heads/<branch>` at `url` (`None`: no such branch), by `git ls-remote`.
pub async fn remote_head(
    dir: &Path,
    auth: &Auth,
    url: &str,
    branch: &str,
) -> Result<Option<String>, String> {
    remote_ref(dir, auth, url, &format!("refs/heads/{branch}")).await
}

/// The commit `refname` (`refs/heads/main`, `HEAD`) points to at `url` (`None`: no such
/// ref), by `git ls-remote`.
pub async fn remote_ref(
    dir: &Path,
    auth: &Auth,
    url: &str,
    refname: &str,
) -> Result<Option<String>, String> {
    let out = run(dir, auth, &["ls-remote", "--", url, refname]).await?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .find(|(_, r)| *r == refname)
        .map(|(sha, _)| sha.to_owned()))
}

/// Fetches the tip of `branch` (depth 1) into the cache and keeps it under
/// `refs/artifact/<sha>`; its commit.
pub async fn fetch(dir: &Path, auth: &Auth, url: &str, branch: &str) -> Result<String, String> {
    fetch_ref(dir, auth, url, &format!("refs/heads/{branch}")).await
}

/// Fetches `refname` (depth 1) into the cache and keeps it under `refs/artifact/<sha>`; its
/// commit.
pub async fn fetch_ref(
    dir: &Path,
    auth: &Auth,
    url: &str,
    refname: &str,
) -> Result<String, String> {
    let shallow = ["fetch", "--depth", "1", "--no-tags", "--", url, refname];
    if let Err(e) = run(dir, auth, &shallow).await {
        // The dumb HTTP transport (a static file server) cannot fetch shallow.
        if !e.contains("does not support shallow") {
            return Err(e);
        }
        run(dir, auth, &["fetch", "--no-tags", "--", url, refname]).await?;
    }
    let sha = run(dir, auth, &["rev-parse", "FETCH_HEAD"])
        .await?
        .trim()
        .to_owned();
    let keep = format!("refs/artifact/{sha}");
    run(dir, auth, &["update-ref", &keep, &sha]).await?;
    Ok(sha)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, StatusCode, header};
    use base64::Engine as _;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    /// A git "dumb HTTP" server whose refs need `user`:`secret` or bearer token `tok`.
    async fn serve() -> String {
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("user:secret")
        );
        let app = axum::Router::new().route(
            "/repo.git/info/refs",
            axum::routing::get(move |h: HeaderMap| async move {
                let auth = h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                if auth == Some(basic.as_str()) || auth == Some("Bearer tok") {
                    (
                        StatusCode::OK,
                        [(header::CONTENT_TYPE, "text/plain")],
                        format!("{SHA}\trefs/heads/main\n"),
                    )
                } else {
                    (
                        StatusCode::UNAUTHORIZED,
                        [(header::WWW_AUTHENTICATE, "Basic realm=\"git\"")],
                        String::new(),
                    )
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/repo.git", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await });
        url
    }

    fn auth(user: &str, pass: &str) -> Auth {
        Auth {
            username: Some(user.into()),
            password: Some(pass.into()),
            ..Auth::default()
        }
    }

    #[tokio::test]
    async fn https_credentials_reach_git_through_askpass_and_extra_header_only() {
        let dir = tempfile_dir();
        cache(&dir).await.unwrap();
        let url = serve().await;
        let head = remote_head(&dir, &auth("user", "secret"), &url, "main").await;
        assert_eq!(head.unwrap().as_deref(), Some(SHA));
        let bearer = Auth {
            bearer: Some(b"tok".to_vec()),
            ..Auth::default()
        };
        assert_eq!(
            remote_head(&dir, &bearer, &url, "main")
                .await
                .unwrap()
                .as_deref(),
            Some(SHA)
        );
        assert_eq!(
            remote_head(&dir, &bearer, &url, "other").await.unwrap(),
            None
        );
        let refused = remote_head(&dir, &auth("user", "wrong"), &url, "main")
            .await
            .unwrap_err();
        assert!(refused.contains("Authentication failed"), "{refused}");
        assert!(!refused.contains("wrong"), "{refused}");
        // No credential file outlives its command.
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".auth-"))
            .collect();
        assert!(left.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_http_and_ssh_urls_are_taken() {
        assert!(check_url("ssh://git@host/repo.git").is_ok());
        assert!(check_url("https://host/repo.git").is_ok());
        let e = check_url("git@host:repo.git").unwrap_err();
        assert!(e.contains("only http://, https:// and ssh://"), "{e}");
        assert!(check_url("file:///srv/repo").is_err());
        assert_eq!(redact("https://u:pw@host/r"), "https://u:***@host/r");
    }

    /// A fresh directory (tempfile is not a dependency of the library).
    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("flux-git-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
