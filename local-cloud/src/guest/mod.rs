//! What runs inside a realized host: the host's init (PID 1 of its PID namespace), which
//! is also its service manager, and the `systemctl` and `journalctl` that talk to it.
//!
//! The same executable that embeds the local cloud (the `platform` binary, or this crate's
//! `local-cloud-host` for its own tests) is bind-mounted read-only into each host at
//! [`INIT_PATH`] and started there as PID 1 with [`INIT_FLAG`]; `/usr/bin/systemctl` and
//! `/usr/bin/journalctl` in the host's overlay are symlinks to it. [`multicall`] tells
//! these starts apart from an ordinary one (docs/decisions/0007-local-host-init.md).
//!
//! Layout: `init` (PID 1: boot, the control socket), `reaper` (spawning children and
//! collecting every exit in the host), `manager` (loaded units, boot, the socket server),
//! `service`, `state`, `lifecycle` and `stopping` (one unit's state machine), `procs`
//! (running a unit's commands, finding its processes), `notify` (`sd_notify` sockets),
//! `journal`, `unitfile`, `unit`, `settings` and `cmdline` (reading unit files), `install`
//! (enable, disable, mask), `args`, `verbs`, `queries` and `props` (what `systemctl` does
//! and shows), `systemctl` and `journalctl` (the clients).

mod args;
mod cmdline;
mod init;
mod install;
mod journal;
mod journalctl;
mod lifecycle;
mod manager;
mod notify;
mod procs;
mod props;
mod queries;
mod reaper;
mod service;
mod settings;
mod state;
mod stopping;
mod systemctl;
mod unit;
mod unitfile;
mod verbs;

use std::io::Write as _;

/// Where a host sees the init executable (a read-only bind mount of the machine's).
pub const INIT_PATH: &str = "/usr/local/lib/local-cloud/init";
/// The first argument that makes the executable a host's init.
pub const INIT_FLAG: &str = "--local-cloud-host";
/// Debian's OpenSSH server, inside the host.
const SSHD: &str = "/usr/sbin/sshd";
/// The programs a host runs as symlinks to [`INIT_PATH`], and where.
pub const TOOLS: &[&str] = &["/usr/bin/systemctl", "/usr/bin/journalctl"];
/// This boot's id (for `journalctl -b`), written by the init.
const BOOT_ID: &str = "/run/local-cloud/boot_id";

/// Runs the guest program this process was started as, if it was started as one inside a
/// host (its executable is [`INIT_PATH`]): the init (`init --local-cloud-host ...`),
/// `systemctl` (also as `reboot`, `poweroff`, `halt`, `shutdown`, which are symlinks to it
/// on Debian), `journalctl`, or (with the `k3s` feature) the k3s stand-in as the release
/// mirror's `k3s` script starts it. Returns its exit code; `None` for any other start (the
/// caller goes on with its own `main`).
pub fn multicall() -> Option<i32> {
    let exe = std::env::current_exe().ok()?;
    if exe != std::path::Path::new(INIT_PATH) {
        return None;
    }
    let args: Vec<String> = std::env::args().collect();
    let name = args
        .first()
        .and_then(|a| a.rsplit('/').next())
        .unwrap_or_default();
    match (name, args.get(1).map(String::as_str)) {
        ("init", Some(INIT_FLAG)) => Some(init::main(&args[2..])),
        ("systemctl" | "reboot" | "poweroff" | "halt" | "shutdown", _) => {
            Some(systemctl::main(name, &args[1..]))
        }
        ("journalctl", _) => Some(journalctl::main(&args[1..])),
        // The release mirror's `k3s` asset: `exec <init> --local-cloud-k3s <version> "$@"`.
        #[cfg(feature = "k3s")]
        ("init", Some(crate::k3s::MARKER)) if args.len() > 2 => {
            Some(crate::k3s::main(&args[2], args[3..].to_vec()))
        }
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
