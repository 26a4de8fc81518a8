//! Real kubectl (the newest and the oldest installed, 1.33 and 1.27 on a Debian `kubectl`
//! package) against the stand-in, with no special flags: discovery, tables, create/get/
//! delete, watches, api-resources, raw health checks.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]
#![allow(
    clippy::print_stderr,
    reason = "which kubectl versions passed must reach the person running the tests"
)]

mod support;

use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use support::kubectl::Kubectl;
use support::{Cluster, kubectls_or_skip, start, within};
use tokio::io::{AsyncBufReadExt, BufReader};

async fn add_node(c: &Cluster) {
    let nodes: Api<Node> = Api::all(c.client().await);
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "server-1", "labels": {"kubernetes.io/hostname": "server-1", "kubernetes.io/os": "linux",
            "node-role.kubernetes.io/control-plane": "true", "node-role.kubernetes.io/etcd": "true"}},
        "spec": {"podCIDR": "10.42.0.0/24", "podCIDRs": ["10.42.0.0/24"], "providerID": "k3s://server-1"},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}, {"type": "Hostname", "address": "server-1"}],
            "nodeInfo": {"machineID": "m", "systemUUID": "u", "bootID": "b", "kernelVersion": "6.1.0-test", "osImage": "Ubuntu 24.04 LTS",
                "containerRuntimeVersion": "containerd://2.0.5-k3s1", "kubeletVersion": "v1.33.1+k3s1", "kubeProxyVersion": "",
                "operatingSystem": "linux", "architecture": "amd64"}}
    }))
    .unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_core_checks() {
    let kubectls = kubectls_or_skip("kubectl_core_checks");
    if kubectls.is_empty() {
        return;
    }
    let c = start().await;
    add_node(&c).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    for (minor, bin) in &kubectls {
        let k = Kubectl::new(bin, *minor, &c);
        let v = format!("1.{minor}");

        let nodes = k.ok(&["get", "nodes", "-o", "wide"]).await;
        let row = nodes
            .lines()
            .find(|l| l.starts_with("server-1"))
            .unwrap_or_else(|| panic!("{v}: no node row in\n{nodes}"));
        for want in [
            "Ready",
            "control-plane,etcd",
            "v1.33.1+k3s1",
            "10.0.0.5",
            "Ubuntu 24.04 LTS",
            "6.1.0-test",
            "containerd://2.0.5-k3s1",
        ] {
            assert!(row.contains(want), "{v}: {want:?} missing from {row:?}");
        }
        assert!(
            nodes.lines().next().unwrap().contains("INTERNAL-IP"),
            "{v}: {nodes}"
        );

        let ns = k.ok(&["get", "ns"]).await;
        for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            assert!(
                ns.lines().any(|l| l.starts_with(n) && l.contains("Active")),
                "{v}: {n} missing:\n{ns}"
            );
        }

        let name = format!("kubectl-{minor}");
        let file = k.home.path().join("cm.yaml");
        std::fs::write(&file, format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  labels:\n    made-by: kubectl\ndata:\n  greeting: hello\n")).unwrap();
        let created = k.ok(&["create", "-f", file.to_str().unwrap()]).await;
        assert_eq!(created.trim(), format!("configmap/{name} created"));
        let yaml = k.ok(&["get", "configmap", &name, "-o", "yaml"]).await;
        for want in [
            format!("name: {name}"),
            "greeting: hello".into(),
            "resourceVersion:".into(),
            "uid:".into(),
            "namespace: default".into(),
        ] {
            assert!(yaml.contains(&want), "{v}: {want:?} missing:\n{yaml}");
        }
        let again = k.run(&["create", "-f", file.to_str().unwrap()]).await;
        assert!(!again.status.success());
        assert!(String::from_utf8_lossy(&again.stderr).contains(&format!("Error from server (AlreadyExists): error when creating \"{}\": configmaps \"{name}\" already exists", file.display())), "{v}: {}", String::from_utf8_lossy(&again.stderr));
        let table = k.ok(&["get", "configmaps", "-l", "made-by=kubectl"]).await;
        assert!(
            table
                .lines()
                .next()
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>()
                == ["NAME", "DATA", "AGE"],
            "{v}: {table}"
        );
        let deleted = k.ok(&["delete", "configmap", &name]).await;
        assert_eq!(deleted.trim(), format!("configmap \"{name}\" deleted"));
        assert!(cms.get_opt(&name).await.unwrap().is_none());

        let ready = k.ok(&["get", "--raw", "/readyz"]).await;
        assert_eq!(ready, "ok");
        let verbose = k.ok(&["get", "--raw", "/livez?verbose"]).await;
        assert!(verbose.ends_with("livez check passed\n"), "{verbose}");

        let resources = k.ok(&["api-resources"]).await;
        let deploy = resources
            .lines()
            .find(|l| l.starts_with("deployments "))
            .unwrap_or_else(|| panic!("{v}: no deployments in\n{resources}"));
        assert_eq!(
            deploy.split_whitespace().collect::<Vec<_>>(),
            ["deployments", "deploy", "apps/v1", "true", "Deployment"],
            "{v}"
        );
        let nsrow = resources
            .lines()
            .find(|l| l.starts_with("namespaces "))
            .unwrap();
        assert_eq!(
            nsrow.split_whitespace().collect::<Vec<_>>(),
            ["namespaces", "ns", "v1", "false", "Namespace"],
            "{v}"
        );
        assert!(
            resources
                .lines()
                .any(|l| l.starts_with("leases ") && l.contains("coordination.k8s.io/v1")),
            "{v}"
        );

        // `get -w` prints the current value, then the change made while it watches. The
        // change is made once kubectl logs (-v=6) that its watch request was answered: a
        // change before that would be part of the initial state kubectl skips.
        let watched = format!("watched-{minor}");
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": watched}, "data": {"v": "first"}}))
                .unwrap(),
        )
        .await
        .unwrap();
        let mut child = k
            .command(&[
                "-v=6",
                "get",
                "configmap",
                &watched,
                "-w",
                "-o",
                "jsonpath={.data.v}{\"\\n\"}",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = within(60, "kubectl get -w first line", lines.next_line())
            .await
            .unwrap();
        assert_eq!(first.as_deref(), Some("first"), "{v}");
        within(60, "kubectl get -w watch answered", async {
            while let Some(l) = log.next_line().await.unwrap() {
                if l.contains("watch=true") && l.contains("200 OK") {
                    return;
                }
            }
            panic!("{v}: kubectl ended before its watch was answered");
        })
        .await;
        cms.patch(
            &watched,
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"v": "second"}})),
        )
        .await
        .unwrap();
        let second = within(60, "kubectl get -w change", lines.next_line())
            .await
            .unwrap();
        assert_eq!(second.as_deref(), Some("second"), "{v}");
        child.kill().await.unwrap();
        eprintln!("kubectl {v}: core checks passed");
    }
    c.server.shutdown().await;
}
