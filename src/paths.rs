//! Every file and directory `platform` reads or writes, named once. `docs/state.md` lists
//! them; nothing else in the product builds these paths.
//!
//! Beside the config (`base_dir`): `inventories/<cluster>/hosts.{yml,json}` (generated) and
//! `inventories/<cluster>.yml` (a static inventory's default). In the state directory:
//! `state.json`, `state.lock`, `secrets/`, `known_hosts`, `ssh/` (control sockets),
//! `kubeconfig`, `playbooks/` (the k3s playbooks last run) and `local-cloud/` (the cluster's
//! own local cloud). Outside both: the user's cache (`~/.cache/platform`).

use std::path::{Path, PathBuf};

/// The state file, in the state directory.
pub const STATE_FILE: &str = "state.json";
/// The state lock, in the state directory.
pub const STATE_LOCK: &str = "state.lock";

/// The paths of one cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    state_dir: PathBuf,
    base_dir: PathBuf,
    cluster: String,
}

impl Paths {
    /// Paths for `cluster` with its state in `state_dir` and its config in `base_dir`.
    pub fn new(state_dir: &Path, base_dir: &Path, cluster: &str) -> Paths {
        Paths {
            state_dir: state_dir.to_owned(),
            base_dir: base_dir.to_owned(),
            cluster: cluster.to_owned(),
        }
    }

    /// The state directory (mode 0700).
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// `state.json`.
    pub fn state_file(&self) -> PathBuf {
        self.state_dir.join(STATE_FILE)
    }

    /// `state.lock`, held by `up` and `down`.
    pub fn state_lock(&self) -> PathBuf {
        self.state_dir.join(STATE_LOCK)
    }

    /// `secrets/` (mode 0700): generated keys and passwords, never printed.
    pub fn secrets_dir(&self) -> PathBuf {
        self.state_dir.join("secrets")
    }

    /// The generated SSH private key (its public half is `<path>.pub`).
    pub fn generated_ssh_key(&self) -> PathBuf {
        self.secrets_dir().join("id_ed25519")
    }

    /// The generated PostgreSQL administrator password.
    pub fn postgres_password(&self) -> PathBuf {
        self.secrets_dir().join("postgres-admin-password")
    }

    /// The cluster's pinned SSH host keys.
    pub fn known_hosts(&self) -> PathBuf {
        self.state_dir.join("known_hosts")
    }

    /// ssh ControlMaster sockets: `<state_dir>/ssh` when short enough for a unix socket path
    /// (the openssh crate adds `/.ssh-connectionXXXXXX/master` and ssh a 17-byte temporary
    /// suffix), else `/tmp/plat-<hash of the state dir>`.
    pub fn ssh_control_dir(&self) -> PathBuf {
        let preferred = self.state_dir.join("ssh");
        if preferred.as_os_str().len() <= 50 {
            return preferred;
        }
        use sha2::Digest;
        let hash = sha2::Sha256::digest(self.state_dir.as_os_str().as_encoded_bytes());
        PathBuf::from(format!("/tmp/plat-{}", &hex::encode(hash)[..12]))
    }

    /// The cluster's admin kubeconfig (mode 0600).
    pub fn kubeconfig(&self) -> PathBuf {
        self.state_dir.join("kubeconfig")
    }

    /// The k3s playbooks the `nodes` phase ran, written out from the binary.
    pub fn playbooks_dir(&self) -> PathBuf {
        self.state_dir.join("playbooks")
    }

    /// The k3s cluster password the first server starts with (generated once).
    pub fn k3s_password(&self) -> PathBuf {
        self.secrets_dir().join("k3s-password")
    }

    /// The k3s join token (`K10<CA hash>::server:<password>`), read from the first server.
    pub fn k3s_token(&self) -> PathBuf {
        self.secrets_dir().join("k3s-token")
    }

    /// The variables one k3s install stage (`init`, `servers`, `agents`) passed to its
    /// playbook, as `ansible-playbook -e @FILE` reads them (they hold the token).
    pub fn k3s_vars(&self, stage: &str) -> PathBuf {
        self.secrets_dir().join(format!("k3s-vars-{stage}.json"))
    }

    /// The data directory of the cluster's own local cloud.
    pub fn local_cloud_dir(&self) -> PathBuf {
        self.state_dir.join("local-cloud")
    }

    /// `hosts/.instance` in the local cloud's data: the prefix its host realizer gives this
    /// cloud's bridges, veths and namespaces (written by the local cloud, read by `doctor`).
    pub fn local_cloud_instance(&self) -> PathBuf {
        self.local_cloud_dir().join("hosts").join(".instance")
    }

    /// `inventories/<cluster>/` beside the config: the generated inventories.
    pub fn inventory_dir(&self) -> PathBuf {
        self.base_dir.join("inventories").join(&self.cluster)
    }

    /// The generated Ansible YAML inventory.
    pub fn inventory_yaml(&self) -> PathBuf {
        self.inventory_dir().join("hosts.yml")
    }

    /// The generated dynamic-inventory JSON (`ansible-inventory --list` shape).
    pub fn inventory_json(&self) -> PathBuf {
        self.inventory_dir().join("hosts.json")
    }
}

/// The user's cache for downloads shared by every cluster (`$XDG_CACHE_HOME/platform`, else
/// `~/.cache/platform`): k3s releases fetched for `k3s.install: upload`.
pub fn user_cache_dir() -> PathBuf {
    match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d).join("platform"),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".cache").join("platform")
        }
    }
}

/// A static inventory's default path, `inventories/<cluster>.yml` beside the config.
pub fn static_inventory_default(base_dir: &Path, cluster: &str) -> PathBuf {
    base_dir.join("inventories").join(format!("{cluster}.yml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_state_dirs_get_short_socket_dirs() {
        let p = Paths::new(Path::new("/s"), Path::new("/b"), "demo");
        assert_eq!(p.ssh_control_dir(), PathBuf::from("/s/ssh"));
        assert_eq!(
            p.inventory_json(),
            PathBuf::from("/b/inventories/demo/hosts.json")
        );
        let long = "/x".repeat(40);
        let p = Paths::new(Path::new(&long), Path::new("/b"), "demo");
        let d = p.ssh_control_dir();
        assert!(
            d.to_string_lossy().starts_with("/tmp/plat-") && d.as_os_str().len() < 30,
            "{d:?}"
        );
    }
}
