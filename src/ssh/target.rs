//! Where a host is reached: the SSH engine's view of an inventory host.

/// One host to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Inventory name (used in messages and as the host's key in `known_hosts` lookups).
    pub name: String,
    /// Address to connect to (`ansible_host`, else the name).
    pub address: String,
    /// SSH port (`ansible_port`, else 22).
    pub port: u16,
    /// Login user (`ansible_user`), when the inventory sets one.
    pub user: Option<String>,
    /// Private key for this host (`ansible_ssh_private_key_file`), when the inventory sets
    /// one that exists; else the cluster's.
    pub keyfile: Option<std::path::PathBuf>,
}

impl Target {
    /// Refuses an address, user or name that `ssh` or `ssh-keyscan` would read as an option
    /// (`-oProxyCommand=...`) or that carries whitespace or control characters. Checked
    /// before any process is started for the host. The message does not name the host: the
    /// caller's error does.
    pub fn check(&self) -> Result<(), String> {
        let bad = |what: &str, v: &str| {
            if v.is_empty() {
                Some(format!("{what} is empty"))
            } else if v.starts_with('-') {
                Some(format!(
                    "{what} {v:?} starts with '-', which ssh would read as an option; give an address or host name"
                ))
            } else if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Some(format!(
                    "{what} {v:?} contains whitespace or control characters"
                ))
            } else {
                None
            }
        };
        let user = self.user.as_deref().and_then(|u| bad("ansible_user", u));
        bad("ansible_host", &self.address)
            .or(user)
            .map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_like_addresses_and_users_are_refused() {
        let t = |address: &str, user: Option<&str>| Target {
            name: "h1".into(),
            address: address.into(),
            port: 22,
            user: user.map(str::to_owned),
            keyfile: None,
        };
        assert!(t("10.0.0.4", Some("azureuser")).check().is_ok());
        let e = t("-oProxyCommand=touch /tmp/x", None).check().unwrap_err();
        assert!(
            e.starts_with("ansible_host \"-oProxyCommand") && e.contains("read as an option"),
            "{e}"
        );
        assert!(t("10.0.0.4", Some("-lroot")).check().is_err());
        assert!(t("10.0.0.4 -v", None).check().is_err());
    }
}
