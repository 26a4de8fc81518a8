//! Reaching hosts, transport only: the [`host::Host`] seam, SSH sessions ([`session`]) to a
//! [`Target`], bounded output capture ([`capture`]), per-cluster host keys ([`known_hosts`]),
//! fan-out with a limit and a summary ([`fanout`]). Which hosts a cluster has is the inventory
//! phase's business.

pub mod capture;
pub mod exec;
pub mod fanout;
pub mod host;
pub mod known_hosts;
pub mod session;
pub mod target;

pub use exec::wait_for_cloud_init;
pub use fanout::{Done, HostReport, Status, fan_out};
pub use session::{SshHost, SshOptions};
pub use target::Target;
