//! Reaching hosts: the [`host::Host`] seam, SSH sessions, host keys and fan-out.

pub mod host;
