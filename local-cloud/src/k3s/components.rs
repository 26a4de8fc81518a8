//! The packaged components a first k3s server deploys in `kube-system` (`manifests/*.yaml`,
//! the deploy controller's AddOns, helm-controller's HelmCharts and install Jobs), as
//! objects with the status the real controllers give them, so `--disable X` is observable:
//! a disabled component's file is not written and its objects are deleted. Nothing runs;
//! the workload controller of the API stand-in reports the Deployments available.

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};

use super::log;
use super::settings::Settings;

/// One manifest file and the objects it holds.
#[derive(Debug)]
pub struct Manifest {
    /// The `--disable` item that removes it (`None`: always deployed).
    pub component: Option<&'static str>,
    /// File name under `server/manifests/`, and the AddOn's name without `.yaml`.
    pub file: &'static str,
    pub objects: Vec<Value>,
}

fn labels(app: &str) -> Value {
    json!({"k8s-app": app})
}

fn deployment(name: &str, app: &str, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "kube-system", "labels": labels(app)},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels(app)},
            "template": {"metadata": {"labels": labels(app)},
                "spec": {"priorityClassName": "system-node-critical",
                    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
                    "containers": [{"name": name, "image": image}]}}}})
}

fn sa(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": "kube-system"}})
}

fn crd(plural: &str, group: &str, kind: &str) -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.to_ascii_lowercase(), "kind": kind},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}})
}

/// Every manifest a server stages, with the settings' values substituted.
pub fn manifests(s: &Settings) -> Vec<Manifest> {
    let dns = s.cluster_dns.to_string();
    let traefik_chart = |name: &str, ver: &str| {
        json!({"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
            "metadata": {"name": name, "namespace": "kube-system"},
            "spec": {"chart": format!("https://%{{KUBERNETES_API}}%/static/charts/{name}-{ver}.tgz"),
                "failurePolicy": "retry", "forceConflicts": true},
            "status": {"jobName": format!("helm-install-{name}")}})
    };
    let install_job = |name: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": format!("helm-install-{name}"), "namespace": "kube-system"},
            "spec": {"backoffLimit": 1000, "template": {"spec": {"restartPolicy": "OnFailure",
                "serviceAccountName": format!("helm-{name}"),
                "containers": [{"name": "helm", "image": "rancher/klipper-helm:v0.9.10-build20251111"}]}}}})
    };
    vec![
        Manifest {
            component: None,
            file: "rolebindings.yaml",
            objects: vec![
                crd("addons", "k3s.cattle.io", "Addon"),
                crd("helmcharts", "helm.cattle.io", "HelmChart"),
                crd("helmchartconfigs", "helm.cattle.io", "HelmChartConfig"),
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                    "metadata": {"name": "system:k3s-controller"},
                    "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]}]}),
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "cluster-dns", "namespace": "kube-system"},
                    "data": {"clusterDNS": dns, "clusterDomain": s.cluster_domain}}),
            ],
        },
        Manifest {
            component: Some("coredns"),
            file: "coredns.yaml",
            objects: vec![
                sa("coredns"),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
                    "data": {"Corefile": format!(".:53 {{\n    errors\n    health\n    ready\n    kubernetes {} in-addr.arpa ip6.arpa\n    hosts /etc/coredns/NodeHosts\n    forward . /etc/resolv.conf\n    cache 30\n}}\n", s.cluster_domain),
                        "NodeHosts": ""}}),
                deployment("coredns", "kube-dns", "rancher/mirrored-coredns-coredns:1.12.1"),
                json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels("kube-dns")},
                    "spec": {"selector": labels("kube-dns"), "clusterIP": dns,
                        "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                            {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                            {"name": "metrics", "port": 9153, "protocol": "TCP"}]}}),
            ],
        },
        Manifest {
            component: Some("local-storage"),
            file: "local-storage.yaml",
            objects: vec![
                sa("local-path-provisioner-service-account"),
                deployment("local-path-provisioner", "local-path-provisioner", "rancher/local-path-provisioner:v0.0.31"),
                json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                    "metadata": {"name": "local-path", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                    "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer", "reclaimPolicy": "Delete"}),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "local-path-config", "namespace": "kube-system"},
                    "data": {"config.json": json!({"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES",
                        "paths": [s.data_dir.join("storage").display().to_string()]}]}).to_string()}}),
            ],
        },
        Manifest {
            component: Some("metrics-server"),
            file: "metrics-server/metrics-server-deployment.yaml",
            objects: vec![
                sa("metrics-server"),
                deployment("metrics-server", "metrics-server", "rancher/mirrored-metrics-server:v0.8.0"),
                json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "metrics-server", "namespace": "kube-system", "labels": labels("metrics-server")},
                    "spec": {"selector": labels("metrics-server"), "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}]}}),
                json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                    "metadata": {"name": "v1beta1.metrics.k8s.io"},
                    "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100,
                        "versionPriority": 100, "insecureSkipTLSVerify": true,
                        "service": {"name": "metrics-server", "namespace": "kube-system"}}}),
            ],
        },
        Manifest {
            component: Some("traefik"),
            file: "traefik.yaml",
            objects: vec![
                traefik_chart("traefik-crd", "27.0.201+up27.0.2"),
                traefik_chart("traefik", "27.0.201+up27.0.2"),
                install_job("traefik-crd"),
                install_job("traefik"),
                deployment("traefik", "traefik", "rancher/mirrored-library-traefik:2.11.24"),
                json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "traefik", "namespace": "kube-system", "labels": {"app.kubernetes.io/name": "traefik"}},
                    "spec": {"type": "LoadBalancer", "selector": labels("traefik"),
                        "ports": [{"name": "web", "port": 80, "protocol": "TCP"}, {"name": "websecure", "port": 443, "protocol": "TCP"}]}}),
            ],
        },
        Manifest {
            component: Some("runtimes"),
            file: "runtimes.yaml",
            objects: ["nvidia", "nvidia-experimental", "crun"]
                .iter()
                .map(|h| json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": h}, "handler": h}))
                .collect(),
        },
    ]
}

/// The API resource of an object (the kinds the manifests use).
fn resource(obj: &Value) -> Option<(ApiResource, bool)> {
    let api_version = obj["apiVersion"].as_str()?;
    let kind = obj["kind"].as_str()?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let (plural, namespaced) = match kind {
        "ServiceAccount" => ("serviceaccounts", true),
        "ConfigMap" => ("configmaps", true),
        "Service" => ("services", true),
        "Deployment" => ("deployments", true),
        "Job" => ("jobs", true),
        "HelmChart" => ("helmcharts", true),
        "Addon" => ("addons", true),
        "StorageClass" => ("storageclasses", false),
        "APIService" => ("apiservices", false),
        "ClusterRole" => ("clusterroles", false),
        "CustomResourceDefinition" => ("customresourcedefinitions", false),
        "RuntimeClass" => ("runtimeclasses", false),
        _ => return None,
    };
    let gvk = GroupVersionKind::gvk(group, version, kind);
    Some((ApiResource::from_gvk_with_plural(&gvk, plural), namespaced))
}

fn api_for(client: &kube::Client, obj: &Value) -> Option<(Api<DynamicObject>, String)> {
    let (ar, namespaced) = resource(obj)?;
    let name = obj["metadata"]["name"].as_str()?.to_owned();
    let api = if namespaced {
        let ns = obj["metadata"]["namespace"].as_str().unwrap_or("default");
        Api::namespaced_with(client.clone(), ns, &ar)
    } else {
        Api::all_with(client.clone(), &ar)
    };
    Some((api, name))
}

/// Applies the components that are not disabled and removes the ones that are, writing
/// the manifests and AddOns as k3s's deploy controller does.
pub async fn deploy(client: &kube::Client, s: &Settings) {
    let dir = s.server_dir().join("manifests");
    for m in manifests(s) {
        let path = dir.join(m.file);
        let addon_name = m
            .file
            .rsplit('/')
            .next()
            .unwrap_or(m.file)
            .trim_end_matches(".yaml");
        let addon = json!({"apiVersion": "k3s.cattle.io/v1", "kind": "Addon",
            "metadata": {"name": addon_name, "namespace": "kube-system"},
            "spec": {"source": path.display().to_string()}});
        if m.component.is_some_and(|c| s.disabled(c)) {
            for obj in m.objects.iter().chain(std::iter::once(&addon)) {
                if let Some((api, name)) = api_for(client, obj) {
                    let _ = api.delete(&name, &DeleteParams::default()).await;
                }
            }
            let _ = std::fs::remove_file(&path);
            continue;
        }
        let text: String = m
            .objects
            .iter()
            .map(|o| {
                format!(
                    "---\n{}\n",
                    serde_json::to_string_pretty(o).unwrap_or_default()
                )
            })
            .collect();
        let _ = super::pki::write_private(&path, text.as_bytes());
        log::info(format!("Writing manifest: {}", path.display()));
        for obj in m.objects.iter().chain(std::iter::once(&addon)) {
            apply(client, obj).await;
        }
    }
}

/// Server-side apply of one object as the `k3s` deploy controller (CRDs are retried until
/// their custom resources are served).
async fn apply(client: &kube::Client, obj: &Value) {
    let Some((api, name)) = api_for(client, obj) else {
        return;
    };
    let mut body = obj.clone();
    let status = body.as_object_mut().and_then(|o| o.remove("status"));
    let Ok(dynobj) = serde_json::from_value::<DynamicObject>(body) else {
        return;
    };
    let params = PatchParams::apply("k3s").force();
    for _ in 0..50 {
        match api.patch(&name, &params, &Patch::Apply(&dynobj)).await {
            Ok(_) => break,
            Err(e) => {
                log::warn(format!("Failed to apply {name}: {e}; retrying"));
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
    if let Some(st) = status {
        let _ = api
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": st})),
            )
            .await;
    }
    if obj["kind"] == "Job" {
        let t = super::kubelet::now(false);
        let done = json!({"status": {"succeeded": 1, "startTime": t, "completionTime": t,
            "conditions": [{"type": "Complete", "status": "True", "lastProbeTime": t, "lastTransitionTime": t}]}});
        let _ = api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&done))
            .await;
    }
}
