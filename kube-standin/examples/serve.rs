//! Runs a stand-in API server on 127.0.0.1 until interrupted and writes its admin
//! kubeconfig: `cargo run -p kube-standin --example serve -- [PORT] [KUBECONFIG]`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]
#![allow(
    clippy::print_stdout,
    reason = "an example that tells the user where the kubeconfig is"
)]

use std::sync::Arc;

use kube_standin::pki::DevPki;
use kube_standin::store::memory::MemoryStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(6443);
    let path = args
        .next()
        .unwrap_or_else(|| "kube-standin.kubeconfig".into());
    let pki = DevPki::generate(&[])?;
    let config = pki.server_config(([127, 0, 0, 1], port).into());
    let server = kube_standin::start(config, Arc::new(MemoryStore::new(1000))).await?;
    std::fs::write(&path, pki.admin_kubeconfig(&server.url()))?;
    println!("serving {} ; kubeconfig: {path}", server.url());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
