//! Reaching hosts: the [`host::Host`] seam, SSH sessions ([`session`]), bounded output
//! capture ([`capture`]), per-cluster host keys ([`known_hosts`]), fan-out with a limit and a
//! summary ([`fanout`]), and the hosts a command targets with Ansible `--limit` patterns
//! ([`targets`]).

pub mod capture;
pub mod cluster;
pub mod exec;
pub mod fanout;
pub mod host;
pub mod known_hosts;
pub mod session;
pub mod targets;

pub use exec::wait_for_cloud_init;
pub use fanout::{Done, Event, HostReport, Status, fan_out};
pub use session::{SshHost, SshOptions};
pub use targets::Target;
