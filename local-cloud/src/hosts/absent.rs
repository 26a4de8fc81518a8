//! The host API of a build without the `hosts` feature: the same names, and every way to
//! ask for hosts fails with `HostError::NotBuilt`. `Realizer` has no values, so the code
//! that would use one compiles unchanged and provably never runs.

use std::collections::HashSet;
use std::path::Path;

use super::lbspec::LbSpec;
use super::{HostError, HostInfo, HostSpec};
use crate::arm::store::{AddressClaims, Hold, OpGate};

/// Never constructed: this build cannot realize hosts.
#[derive(Debug)]
pub enum Realizer {}

impl Realizer {
    /// Refuses: this build has no host support.
    pub async fn new(
        _data_dir: &Path,
        _live: &HashSet<String>,
        _host_exe: Option<&Path>,
        _time_factor: f64,
    ) -> Result<Self, HostError> {
        Err(HostError::NotBuilt)
    }

    pub fn sync(&self, _specs: Vec<HostSpec>) {
        match *self {}
    }

    pub fn sync_network(&self, _lbs: Vec<LbSpec>, _public: &HashSet<std::net::Ipv4Addr>) {
        match *self {}
    }

    pub fn claims(&self) -> std::sync::Arc<dyn AddressClaims> {
        match *self {}
    }

    pub fn info(&self, _name: &str) -> Option<HostInfo> {
        match *self {}
    }

    pub fn all(&self) -> Vec<HostInfo> {
        match *self {}
    }

    pub async fn shutdown(&self) {
        match *self {}
    }

    pub fn sync_postgres(&self, _specs: Vec<super::pgspec::PgSpec>) {
        match *self {}
    }

    pub fn stash_password(&self, _name: &str, _password: &str) -> Result<(), HostError> {
        match *self {}
    }

    pub fn postgres_version(&self, _requested: &str) -> Option<String> {
        match *self {}
    }
}

impl OpGate for Realizer {
    fn hold(&self, _key: &str, _op: &str) -> Hold {
        match *self {}
    }
}

/// Hosts cannot be realized by this build, whatever the machine has.
pub fn preflight() -> Result<(), HostError> {
    Err(HostError::NotBuilt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn asking_for_hosts_says_the_build_has_none() {
        let e = Realizer::new(Path::new("/nonexistent"), &HashSet::new(), None, 1.0)
            .await
            .unwrap_err();
        assert!(matches!(e, HostError::NotBuilt));
        assert!(e.to_string().contains("no host support"), "{e}");
        assert!(matches!(preflight(), Err(HostError::NotBuilt)));
    }
}
