//! The local cloud's host executable: run inside a realized host as its init (see
//! `local_cloud::multicall`); on its own it only says what it is for.

use std::io::Write as _;

fn main() {
    if let Some(code) = local_cloud::multicall() {
        std::process::exit(code);
    }
    let _ = writeln!(
        std::io::stderr(),
        "local-cloud-host: the local cloud starts this inside its hosts (as their init); \
         it is not meant to be run by hand"
    );
    std::process::exit(2);
}
