//! `platform doctor`: what the configured cloud kind needs on this machine, each item found or
//! missing with the command that installs it. Local checks only (files, `PATH`, `/proc`,
//! `--version` runs under a timeout), plus the credential chain's own bounded IMDS probe for
//! Azure: nothing here can hang on the network, and no secret is read into a report.
//!
//! Layout: this file (the report and what each kind needs), `local.rs` (the local cloud's
//! hosts: root, OpenSSH, sudo, iproute2, addresses, data directory), `azure.rs` (which
//! credential of the chain would be used), `tools.rs` (programs on `PATH` and their versions).

mod azure;
mod local;
mod tools;

use serde::Serialize;

use crate::config::{CloudKind, Config};

pub use azure::CredentialSource;

/// One thing the config needs on this machine.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What is checked: a package (`openssh-server`), a tool or a condition (`root`).
    pub item: String,
    /// Whether the config cannot work without it (`false`: optional).
    pub required: bool,
    /// Whether it is there.
    pub ok: bool,
    /// What was found (path, version) or what is wrong.
    pub detail: String,
    /// The command or step that installs or fixes it, when it is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The Debian package that brings it, for the one combined install command.
    #[serde(skip)]
    package: Option<&'static str>,
}

impl Check {
    fn ok(item: &str, required: bool, detail: String) -> Check {
        Check {
            item: item.to_owned(),
            required,
            ok: true,
            detail,
            fix: None,
            package: None,
        }
    }

    fn missing(item: &str, required: bool, detail: String, fix: String) -> Check {
        Check {
            item: item.to_owned(),
            required,
            ok: false,
            detail,
            fix: Some(fix),
            package: None,
        }
    }

    /// A missing Debian package: the fix is its `apt-get install`.
    fn package(item: &str, required: bool, detail: String, package: &'static str) -> Check {
        Check {
            package: Some(package),
            ..Check::missing(item, required, detail, apt_install(&[package]))
        }
    }
}

/// The command that installs Debian `packages`.
fn apt_install(packages: &[&str]) -> String {
    format!("apt-get install -y {}", packages.join(" "))
}

/// Everything `doctor` found for one config.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The config's `cloud.kind`.
    pub cloud: CloudKind,
    /// Every check, required ones first within each group.
    pub checks: Vec<Check>,
    /// For Azure: each source of the credential chain, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub credential_chain: Vec<CredentialSource>,
}

impl Report {
    /// Whether every required item is there.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok || !c.required)
    }

    /// The required items that are missing.
    pub fn missing(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| c.required && !c.ok).collect()
    }

    /// One `apt-get install` for every missing required package, if any is.
    pub fn install_command(&self) -> Option<String> {
        let mut packages: Vec<&str> = Vec::new();
        for p in self.missing().iter().filter_map(|c| c.package) {
            if !packages.contains(&p) {
                packages.push(p);
            }
        }
        (!packages.is_empty()).then(|| apt_install(&packages))
    }
}

/// Checks what `config` needs on this machine.
pub async fn check(config: &Config) -> Report {
    let mut checks = Vec::new();
    let mut credential_chain = Vec::new();
    match config.cloud.kind {
        CloudKind::Local => checks.extend(local::checks(config)),
        CloudKind::Azure => {
            let (check, chain) = azure::credential(config.cloud.credential).await;
            checks.push(check);
            credential_chain = chain;
        }
        CloudKind::Static => checks.push(static_inventory(config)),
    }
    checks.push(tools::ssh_client().await);
    checks.push(tools::kubectl().await);
    checks.push(tools::ansible_playbook().await);
    Report {
        cloud: config.cloud.kind,
        checks,
        credential_chain,
    }
}

/// `cloud.kind: static`: the inventory file the hosts come from.
fn static_inventory(config: &Config) -> Check {
    let path = config.cloud.inventory.clone().unwrap_or_else(|| {
        crate::paths::static_inventory_default(&config.base_dir, &config.cluster)
    });
    if path.is_file() {
        Check::ok("static inventory", true, path.display().to_string())
    } else {
        Check::missing(
            "static inventory",
            true,
            format!("{} is not a file", path.display()),
            "list your hosts there (format: inventories/example.yml) or set cloud.inventory".into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_install_command_for_the_missing_required_packages() {
        let report = Report {
            cloud: CloudKind::Local,
            checks: vec![
                Check::ok("root", true, "uid 0".into()),
                Check::package("sudo", true, "not on PATH".into(), "sudo"),
                Check::package("iproute2", true, "ip not on PATH".into(), "iproute2"),
                Check::package("kubectl", false, "not on PATH".into(), "kubectl"),
            ],
            credential_chain: Vec::new(),
        };
        assert!(!report.ok());
        assert_eq!(report.missing().len(), 2);
        assert_eq!(
            report.install_command().as_deref(),
            Some("apt-get install -y sudo iproute2")
        );
        assert_eq!(
            report.checks[1].fix.as_deref(),
            Some("apt-get install -y sudo")
        );
        let optional_only = Report {
            checks: vec![report.checks[3].clone()],
            ..report
        };
        assert!(optional_only.ok());
        assert_eq!(optional_only.install_command(), None);
    }
}
