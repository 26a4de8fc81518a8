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
}
