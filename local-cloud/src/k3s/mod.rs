//! The k3s stand-in: what `/usr/local/bin/k3s` is on the local cloud's hosts. It follows k3s's
//! documented, observable behaviour (flags, config file, token and CA files, the supervisor
//! endpoints and join checks, Node objects, leases and readiness, packaged components,
//! `READY=1`) and serves its Kubernetes API with `kube-standin`. It is not k3s: no
//! container, pod, CNI traffic or kube-proxy ever runs (see the crate's README).
//!
//! Invoked as `<init> --local-cloud-k3s <version> <k3s arguments...>` (the release mirror's
//! `k3s` asset is a script that does exactly that), so each mirrored version reports its
//! own version string.

pub mod access;
pub mod agent;
pub mod argocd;
pub mod args;
pub mod bootstrap;
pub mod components;
pub mod controllers;
pub mod critical;
pub mod datastore;
pub mod etcd;
pub mod files;
pub mod flags;
pub mod flux;
pub mod kubelet;
pub mod lb;
pub mod leader;
pub mod log;
pub mod nodepass;
pub mod notify;
pub mod pki;
pub mod server;
pub mod settings;
pub mod supervisor;
pub mod token;

use std::collections::BTreeMap;

use flags::Command;
use settings::Settings;

/// The marker argument that makes the multicall executable the k3s stand-in.
pub const MARKER: &str = "--local-cloud-k3s";

/// A k3s release tag such as `v1.31.4+k3s1`.
#[derive(Debug, Clone)]
pub struct Version {
    pub tag: String,
}

impl Version {
    /// The Kubernetes minor (`31` for `v1.31.4+k3s1`).
    pub fn minor(&self) -> u32 {
        self.tag
            .trim_start_matches('v')
            .split('.')
            .nth(1)
            .and_then(|m| m.parse().ok())
            .unwrap_or(33)
    }

    /// What `k3s --version` prints: k3s's two lines, the first naming the stand-in.
    pub fn lines(&self) -> String {
        format!(
            "k3s version {} (local-cloud stand-in, not k3s)\ngo version go1.24.2\n",
            self.tag
        )
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// `k3s kubectl ...`: the machine's kubectl with k3s's default kubeconfig.
fn kubectl(args: &[String]) -> i32 {
    use std::os::unix::process::CommandExt;
    let candidates = ["/usr/local/bin/kubectl", "/usr/bin/kubectl"];
    let Some(bin) = candidates.iter().find(|p| std::path::Path::new(p).exists()) else {
        log::fatal("kubectl is not available on this host");
        return 1;
    };
    let mut cmd = std::process::Command::new(bin);
    cmd.args(args);
    if std::env::var_os("KUBECONFIG").is_none() {
        cmd.env("KUBECONFIG", "/etc/rancher/k3s/k3s.yaml");
    }
    let err = cmd.exec();
    log::fatal(format!("cannot run kubectl: {err}"));
    1
}

/// Runs the stand-in with `args` (everything after the version) and returns the exit code.
pub fn main(version: &str, args: Vec<String>) -> i32 {
    let version = Version {
        tag: version.to_owned(),
    };
    let (cmd, rest) = match args.split_first() {
        Some((c, rest)) if c == "server" => (Command::Server, rest),
        Some((c, rest)) if c == "agent" => (Command::Agent, rest),
        Some((c, rest)) if c == "kubectl" => return kubectl(rest),
        Some((c, _)) if c == "--version" || c == "-v" => {
            print_out(&version.lines());
            return 0;
        }
        Some((c, _)) => {
            print_err(&format!(
                "Incorrect Usage. No help topic for '{c}' (the stand-in runs server, agent, kubectl)\n"
            ));
            return 3;
        }
        None => {
            print_err(
                "NAME:\n   k3s - Kubernetes, but small and simple (local-cloud stand-in)\n\nCOMMANDS:\n   server   Run management server\n   agent    Run node agent\n   kubectl  Run kubectl\n",
            );
            return 0;
        }
    };
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let parsed = match args::parse(cmd, rest, &env) {
        Ok(p) => p,
        Err(e) => {
            print_err(&format!("Incorrect Usage: {e}\n\n"));
            log::fatal(e.to_string());
            return 1;
        }
    };
    let settings = match Settings::new(cmd, parsed, &hostname()) {
        Ok(s) => s,
        Err(e) => {
            log::fatal(format!("Error: {e}"));
            return 1;
        }
    };
    let runtime = match cmd {
        Command::Server => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
        // An idle agent stays small: one thread.
        Command::Agent => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    };
    let Ok(runtime) = runtime else {
        log::fatal("cannot start the runtime");
        return 1;
    };
    runtime.block_on(async move {
        match cmd {
            Command::Server => server::run(settings, &version).await,
            Command::Agent => agent::run(settings, &version).await,
        }
    })
}

fn print_out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn print_err(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Waits for SIGTERM or SIGINT (how systemctl stops a service).
pub async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {}
                _ = i.recv() => {}
            }
        }
        _ => std::future::pending::<()>().await,
    }
}

/// A client for the API at `url` with the server CA `ca_pem` and a client certificate.
pub async fn kube_client(
    url: &str,
    ca_pem: &str,
    cert: &kube_standin::pki::IssuedCert,
) -> Result<kube::Client, String> {
    let text = kube_standin::pki::kubeconfig(url, ca_pem, cert);
    let kc = kube::config::Kubeconfig::from_yaml(&text).map_err(|e| e.to_string())?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .map_err(|e| e.to_string())?;
    kube::Client::try_from(config).map_err(|e| e.to_string())
}
