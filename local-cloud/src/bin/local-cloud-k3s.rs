//! The k3s stand-in as an executable of this crate, for its own tests: `local-cloud-k3s
//! --local-cloud-k3s <version> <k3s arguments...>` is what `/usr/local/bin/k3s` runs on a
//! host (there through the multicall `platform` binary).

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some(local_cloud::k3s::MARKER) if args.len() > 2 => {
            std::process::exit(local_cloud::k3s::main(&args[2], args[3..].to_vec()))
        }
        _ => {
            use std::io::Write;
            let _ = std::io::stderr().write_all(
                b"usage: local-cloud-k3s --local-cloud-k3s <version> <k3s arguments...>\n",
            );
            std::process::exit(2)
        }
    }
}
