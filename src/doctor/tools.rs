//! Programs on `PATH` (as a spawned command would find them) and their versions; each
//! version query runs under a timeout and with no input, so none can hang `doctor`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::Check;
use crate::fsutil::find_on_path;

/// Longest a `--version` run may take (a Python tool starting on a cold cache takes seconds).
const VERSION_TIMEOUT: Duration = Duration::from_secs(15);

/// Where the Google Cloud SDK's Debian package `kubectl` puts one binary per minor version
/// (`kubectl.1.27` ... `kubectl.1.33`) beside the dispatching `kubectl`.
const CLOUD_SDK_BIN: &str = "/usr/lib/google-cloud-sdk/bin";

/// What `program args` printed (stdout, then stderr), or `None` when it could not run or did
/// not finish in time.
async fn output(program: &Path, args: &[&str]) -> Option<String> {
    let run = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(VERSION_TIMEOUT, run)
        .await
        .ok()?
        .ok()?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Some(text)
}

/// The first non-empty line of `text`, trimmed.
fn first_line(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}

/// `path (version)`, or just the path when the version could not be read.
fn found(path: &Path, version: Option<String>) -> String {
    match version {
        Some(v) => format!("{} ({v})", path.display()),
        None => path.display().to_string(),
    }
}

/// A program on `PATH` that the config needs (`required`) or may use.
pub(super) fn on_path(item: &str, program: &str, required: bool, package: &'static str) -> Check {
    match find_on_path(program) {
        Some(p) => Check::ok(item, required, p.display().to_string()),
        None => Check::package(item, required, format!("{program} not on PATH"), package),
    }
}

/// The OpenSSH client: every phase and command that reaches nodes runs `ssh`.
pub(super) async fn ssh_client() -> Check {
    let item = "openssh-client (ssh)";
    let Some(path) = find_on_path("ssh") else {
        return Check::package(item, true, "ssh not on PATH".into(), "openssh-client");
    };
    // `OpenSSH_9.2p1 Debian-2+deb12u7, OpenSSL 3.0.17 ...` (on stderr).
    let version = output(&path, &["-V"])
        .await
        .and_then(|t| first_line(&t))
        .map(|l| l.split(',').next().unwrap_or(&l).to_owned());
    Check::ok(item, true, found(&path, version))
}

/// `kubectl` (optional: the product talks to the API itself; kubectl is for people), with
/// its client version and the per-version binaries beside it.
pub(super) async fn kubectl() -> Check {
    let item = "kubectl";
    let path = find_on_path("kubectl");
    let versioned = versioned_kubectls(
        &path
            .as_deref()
            .and_then(|p| std::fs::canonicalize(p).ok())
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from(CLOUD_SDK_BIN)),
    );
    // `kubectl.1.27 ... kubectl.1.33 in /usr/lib/google-cloud-sdk/bin`
    let versions = match versioned.as_slice() {
        [] => None,
        [one] => Some(one.display().to_string()),
        [first, .., last] => Some(format!(
            "{} ... {} in {}",
            file_name(first),
            file_name(last),
            first
                .parent()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        )),
    };
    match path {
        Some(p) => {
            let version = output(&p, &["version", "--client", "--output=json"])
                .await
                .and_then(|t| client_version(&t));
            let also = versions.map(|v| format!("; also {v}")).unwrap_or_default();
            Check::ok(item, false, format!("{}{also}", found(&p, version)))
        }
        None => Check::missing(
            item,
            false,
            match versions {
                Some(v) => format!("kubectl not on PATH (there are {v})"),
                None => "kubectl not on PATH".into(),
            },
            "apt-get install -y kubectl (from the Kubernetes or Google Cloud SDK apt repository)"
                .into(),
        ),
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `gitVersion` of `kubectl version --client --output=json`.
fn client_version(json: &str) -> Option<String> {
    // kubectl may print a warning line before the document.
    let start = json.find('{')?;
    let v: serde_json::Value = serde_json::from_str(&json[start..]).ok()?;
    v["clientVersion"]["gitVersion"].as_str().map(str::to_owned)
}

/// `kubectl.1.N` files in `dir`, by minor version.
fn versioned_kubectls(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let minor = name.strip_prefix("kubectl.1.")?.parse().ok()?;
            Some((minor, e.path()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

/// `ansible-playbook` (optional: `platform play` runs playbooks itself; Ansible can use the
/// inventories `platform` writes).
pub(super) async fn ansible_playbook() -> Check {
    let item = "ansible-playbook";
    match find_on_path("ansible-playbook") {
        // `ansible-playbook [core 2.17.7]`
        Some(p) => {
            let version = output(&p, &["--version"])
                .await
                .and_then(|t| first_line(&t));
            Check::ok(item, false, found(&p, version))
        }
        None => Check::missing(
            item,
            false,
            "ansible-playbook not on PATH".into(),
            "apt-get install -y ansible-core (or ./scripts/install-deps.sh, into .venv-ansible)"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kubectl_client_versions_and_lists_versioned_binaries() {
        let doc = "W0101 warning\n{\"clientVersion\": {\"gitVersion\": \"v1.33.1\"}, \"kustomizeVersion\": \"v5\"}";
        assert_eq!(client_version(doc).as_deref(), Some("v1.33.1"));
        assert_eq!(client_version("no json"), None);
        let dir = tempfile::tempdir().unwrap();
        for n in [
            "kubectl.1.9",
            "kubectl.1.33",
            "kubectl.1.27",
            "kubectl",
            "kubectl.1.x",
        ] {
            std::fs::write(dir.path().join(n), "").unwrap();
        }
        let names: Vec<String> = versioned_kubectls(dir.path())
            .iter()
            .map(|p| file_name(p))
            .collect();
        assert_eq!(names, ["kubectl.1.9", "kubectl.1.27", "kubectl.1.33"]);
    }
}
