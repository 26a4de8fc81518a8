//! What runs inside a realized host: the host's init (PID 1 of its PID namespace).
//!
//! The same executable that embeds the local cloud (the `platform` binary, or this crate's
//! `local-cloud-host` for its own tests) is bind-mounted read-only into each host at
//! [`INIT_PATH`] and started there as PID 1 with [`INIT_FLAG`]; [`multicall`] tells that
//! apart from an ordinary start (docs/decisions/0007-local-host-init.md).
//!
//! Layout: `init` (PID 1: reaping, the host's sshd), `reaper` (spawning children and
//! collecting every exit in the host).

mod init;
mod reaper;

use std::io::Write as _;

/// Where a host sees the init executable (a read-only bind mount of the machine's).
pub const INIT_PATH: &str = "/usr/local/lib/local-cloud/init";
/// The first argument that makes the executable a host's init.
pub const INIT_FLAG: &str = "--local-cloud-host";
/// Debian's OpenSSH server, inside the host.
const SSHD: &str = "/usr/sbin/sshd";

/// Runs the guest program this process was started as, if it was started as one: a host's
/// init (`init --local-cloud-host ...`). Returns its exit code; `None` for any other start
/// (the caller goes on with its own `main`).
pub fn multicall() -> Option<i32> {
    let args: Vec<String> = std::env::args().collect();
    let name = args
        .first()
        .and_then(|a| a.rsplit('/').next())
        .unwrap_or_default();
    match (name, args.get(1).map(String::as_str)) {
        ("init", Some(INIT_FLAG)) => Some(init::main(&args[2..])),
        _ => None,
    }
}

/// A line on the init's stderr: the host's console log on the machine
/// (`data_dir/hosts/<vm>/console.log`).
fn log(msg: &str) {
    let now = time::OffsetDateTime::now_utc();
    let _ = writeln!(
        std::io::stderr().lock(),
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z {msg}",
        now.year(),
        now.month() as u8,
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
}
