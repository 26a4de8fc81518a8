//! Python's official `kubernetes` client (from a virtualenv) lists namespaces and nodes and
//! applies objects server-side. The virtualenv is `.venv-kube-python` at the workspace root
//! (scripts/test.sh installs it) or `KUBE_STANDIN_PYTHON`; this test creates it when pip
//! works, and skips with a message otherwise (failing when `CI` is set).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]
#![allow(
    clippy::print_stderr,
    reason = "the skip reason must reach the person running the tests"
)]

mod support;

use std::path::PathBuf;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use support::{in_ci, start, within};

fn skip(why: &str) {
    let msg = format!("skipped: python_client: {why}");
    if in_ci() {
        panic!("{msg} (CI is set)");
    }
    eprintln!("{msg}");
}

/// The virtualenv's python with `kubernetes` importable, created if missing.
async fn python() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("KUBE_STANDIN_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-kube-python");
    let py = venv.join("bin/python");
    let importable = |py: PathBuf| async move {
        tokio::process::Command::new(&py)
            .args(["-c", "import kubernetes"])
            .status()
            .await
            .is_ok_and(|s| s.success())
    };
    if importable(py.clone()).await {
        return Ok(py);
    }
    let made = tokio::process::Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(&venv)
        .status()
        .await;
    if !made.is_ok_and(|s| s.success()) {
        return Err("python3 -m venv failed (is python3-venv installed?)".into());
    }
    let pip = tokio::process::Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "kubernetes"])
        .status()
        .await;
    if !pip.is_ok_and(|s| s.success()) {
        return Err("pip install kubernetes failed (no package index reachable?)".into());
    }
    Ok(py)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_lists_and_applies() {
    let py = match within(600, "python virtualenv", python()).await {
        Ok(p) => p,
        Err(why) => return skip(&why),
    };
    let c = start().await;
    let nodes: Api<Node> = Api::all(c.client().await);
    nodes
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "agent-1"}})).unwrap(),
        )
        .await
        .unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/python_client.py");
    let out = within(
        120,
        "python client",
        tokio::process::Command::new(&py)
            .arg(&script)
            .arg(&c.kubeconfig)
            .output(),
    )
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        seen["namespaces"],
        json!(["default", "kube-node-lease", "kube-public", "kube-system"])
    );
    assert_eq!(seen["nodes"], json!(["agent-1"]));
    assert_eq!(seen["version"], "v1.33.1+k3s1");
    assert_eq!(seen["applied"], json!({"lang": "python"}));
    assert_eq!(seen["managers"], json!(["py"]));
    assert_eq!(seen["deployment_generation"], 1);
    assert_eq!(seen["typed_strategy"], "RollingUpdate");
    assert_eq!(seen["missing"], json!([404, "NotFound"]));
    c.server.shutdown().await;
}
