//! The columns kube-apiserver's printers give the built-in kinds
//! (`pkg/printers/internalversion/printers.go`), priority 1 being `-o wide`.

use serde_json::{Value, json};

use super::{AGE, Col, NAME, c, col, int, num_col, or_none, pairs, s, text, wide};
use crate::kinds::ResourceType;
use crate::objects::meta;

fn containers(obj: &Value, ptr: &str, field: &str) -> Value {
    let list = obj.pointer(ptr).and_then(Value::as_array);
    let names: Vec<&str> = list
        .into_iter()
        .flatten()
        .filter_map(|c| c.get(field).and_then(Value::as_str))
        .collect();
    or_none(names.join(","))
}

fn selector(obj: &Value) -> Value {
    pairs(obj.pointer("/spec/selector/matchLabels"))
}

fn node_status(n: &Value) -> String {
    let conds = n.pointer("/status/conditions").and_then(Value::as_array);
    let ready = conds.into_iter().flatten().find(|c| c["type"] == "Ready");
    // As kube-apiserver's printNode: `NotReady` for any Ready status but True (False or
    // Unknown), `Unknown` only when the node has no Ready condition at all.
    let mut st = match ready.map(|c| c["status"].as_str()) {
        Some(Some("True")) => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if n.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        st.push_str(",SchedulingDisabled");
    }
    st
}

fn node_roles(n: &Value) -> String {
    let mut roles: Vec<String> = Vec::new();
    for (k, v) in n
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
            if !r.is_empty() {
                roles.push(r.to_string());
            }
        } else if k == "kubernetes.io/role"
            && let Some(r) = v.as_str().filter(|r| !r.is_empty())
        {
            roles.push(r.to_string());
        }
    }
    roles.sort();
    roles.dedup();
    roles.join(",")
}

fn node_address(n: &Value, typ: &str) -> Value {
    let addrs = n.pointer("/status/addresses").and_then(Value::as_array);
    let a = addrs
        .into_iter()
        .flatten()
        .find(|a| a["type"] == typ)
        .and_then(|a| a["address"].as_str());
    or_none(a.unwrap_or_default().to_string())
}

fn service_ports(svc: &Value) -> Value {
    let ports = svc.pointer("/spec/ports").and_then(Value::as_array);
    let parts: Vec<String> = ports
        .into_iter()
        .flatten()
        .map(|p| {
            let proto = p["protocol"].as_str().unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(np) => format!("{}:{np}/{proto}", p["port"]),
                None => format!("{}/{proto}", p["port"]),
            }
        })
        .collect();
    or_none(parts.join(","))
}

fn service_external(svc: &Value) -> Value {
    let typ = svc
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    let ext: Vec<&str> = svc
        .pointer("/spec/externalIPs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match typ {
        "ExternalName" => s(svc
            .pointer("/spec/externalName")
            .and_then(Value::as_str)
            .unwrap_or_default()),
        "LoadBalancer" => {
            let ing: Vec<&str> = svc
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|i| i.get("ip").or(i.get("hostname")).and_then(Value::as_str))
                .chain(ext)
                .collect();
            if ing.is_empty() {
                s("<pending>")
            } else {
                s(ing.join(","))
            }
        }
        _ => or_none(ext.join(",")),
    }
}

fn count_keys(obj: &Value, fields: &[&str]) -> Value {
    json!(
        fields
            .iter()
            .map(|f| obj
                .get(*f)
                .and_then(Value::as_object)
                .map_or(0, |m| m.len()))
            .sum::<usize>()
    )
}

/// `-o wide` columns of workloads: containers, images and (optionally) the selector.
fn workload_cols(cols: &mut Vec<Col>, with_selector: bool) {
    cols.extend([wide("Containers"), wide("Images")]);
    if with_selector {
        cols.push(wide("Selector"));
    }
}

fn workload_cells(o: &Value, cells: &mut Vec<Value>, with_selector: bool) {
    cells.push(containers(o, "/spec/template/spec/containers", "name"));
    cells.push(containers(o, "/spec/template/spec/containers", "image"));
    if with_selector {
        cells.push(selector(o));
    }
}

/// Columns and cells of a built-in kind (`pkg/printers/internalversion/printers.go`).
pub(super) fn columns(rt: &ResourceType, objs: &[Value]) -> (Vec<Col>, Vec<Vec<Value>>) {
    let age = |o: &Value| s(meta::age(o));
    let name = |o: &Value| s(meta::name(o).unwrap_or_default());
    let rows = |f: &dyn Fn(&Value) -> Vec<Value>| objs.iter().map(f).collect::<Vec<_>>();
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => (
            vec![NAME, col("Status"), AGE],
            rows(&|o| vec![name(o), s(text(o, "/status/phase")), age(o)]),
        ),
        ("", "Node") => (
            vec![
                NAME,
                col("Status"),
                col("Roles"),
                AGE,
                col("Version"),
                wide("Internal-IP"),
                wide("External-IP"),
                wide("OS-Image"),
                wide("Kernel-Version"),
                wide("Container-Runtime"),
            ],
            rows(&|o| {
                let info = |k: &str| {
                    or_none(
                        o.pointer(&format!("/status/nodeInfo/{k}"))
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    )
                };
                vec![
                    name(o),
                    s(node_status(o)),
                    or_none(node_roles(o)),
                    age(o),
                    s(text(o, "/status/nodeInfo/kubeletVersion")),
                    node_address(o, "InternalIP"),
                    node_address(o, "ExternalIP"),
                    info("osImage"),
                    info("kernelVersion"),
                    info("containerRuntimeVersion"),
                ]
            }),
        ),
        ("apps", "Deployment") => (
            {
                let mut v = vec![NAME, col("Ready"), col("Up-to-date"), col("Available"), AGE];
                workload_cols(&mut v, true);
                v
            },
            rows(&|o| {
                let mut c = vec![
                    name(o),
                    s(format!(
                        "{}/{}",
                        int(o, "/status/readyReplicas"),
                        int(o, "/spec/replicas")
                    )),
                    json!(int(o, "/status/updatedReplicas")),
                    json!(int(o, "/status/availableReplicas")),
                    age(o),
                ];
                workload_cells(o, &mut c, true);
                c
            }),
        ),
        ("apps", "StatefulSet") => (
            {
                let mut v = vec![NAME, col("Ready"), AGE];
                workload_cols(&mut v, false);
                v
            },
            rows(&|o| {
                let mut c = vec![
                    name(o),
                    s(format!(
                        "{}/{}",
                        int(o, "/status/readyReplicas"),
                        int(o, "/spec/replicas")
                    )),
                    age(o),
                ];
                workload_cells(o, &mut c, false);
                c
            }),
        ),
        ("apps", "ReplicaSet") => (
            {
                let mut v = vec![
                    NAME,
                    num_col("Desired"),
                    num_col("Current"),
                    num_col("Ready"),
                    AGE,
                ];
                workload_cols(&mut v, true);
                v
            },
            rows(&|o| {
                let mut c = vec![
                    name(o),
                    json!(int(o, "/spec/replicas")),
                    json!(int(o, "/status/replicas")),
                    json!(int(o, "/status/readyReplicas")),
                    age(o),
                ];
                workload_cells(o, &mut c, true);
                c
            }),
        ),
        ("apps", "DaemonSet") => (
            {
                let mut v = vec![
                    NAME,
                    num_col("Desired"),
                    num_col("Current"),
                    num_col("Ready"),
                    num_col("Up-to-date"),
                    num_col("Available"),
                    col("Node Selector"),
                    AGE,
                ];
                workload_cols(&mut v, true);
                v
            },
            rows(&|o| {
                let mut c = vec![
                    name(o),
                    json!(int(o, "/status/desiredNumberScheduled")),
                    json!(int(o, "/status/currentNumberScheduled")),
                    json!(int(o, "/status/numberReady")),
                    json!(int(o, "/status/updatedNumberScheduled")),
                    json!(int(o, "/status/numberAvailable")),
                    pairs(o.pointer("/spec/template/spec/nodeSelector")),
                    age(o),
                ];
                workload_cells(o, &mut c, true);
                c
            }),
        ),
        ("", "Service") => (
            vec![
                NAME,
                col("Type"),
                col("Cluster-IP"),
                col("External-IP"),
                col("Port(s)"),
                AGE,
                wide("Selector"),
            ],
            rows(&|o| {
                vec![
                    name(o),
                    s(o.pointer("/spec/type")
                        .and_then(Value::as_str)
                        .unwrap_or("ClusterIP")),
                    or_none(text(o, "/spec/clusterIP")),
                    service_external(o),
                    service_ports(o),
                    age(o),
                    pairs(o.pointer("/spec/selector")),
                ]
            }),
        ),
        ("", "ConfigMap") => (
            vec![NAME, num_col("Data"), AGE],
            rows(&|o| vec![name(o), count_keys(o, &["data", "binaryData"]), age(o)]),
        ),
        ("", "Secret") => (
            vec![NAME, col("Type"), num_col("Data"), AGE],
            rows(&|o| {
                vec![
                    name(o),
                    s(o.get("type").and_then(Value::as_str).unwrap_or_default()),
                    count_keys(o, &["data"]),
                    age(o),
                ]
            }),
        ),
        ("", "ServiceAccount") => (
            vec![NAME, num_col("Secrets"), AGE],
            rows(&|o| {
                vec![
                    name(o),
                    json!(
                        o.get("secrets")
                            .and_then(Value::as_array)
                            .map_or(0, Vec::len)
                    ),
                    age(o),
                ]
            }),
        ),
        ("", "Pod") => (
            vec![
                NAME,
                col("Ready"),
                col("Status"),
                col("Restarts"),
                AGE,
                wide("IP"),
                wide("Node"),
            ],
            rows(&|o| {
                let n = o
                    .pointer("/spec/containers")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                vec![
                    name(o),
                    s(format!("0/{n}")),
                    s(o.pointer("/status/phase")
                        .and_then(Value::as_str)
                        .unwrap_or("Pending")),
                    s("0"),
                    age(o),
                    or_none(text(o, "/status/podIP")),
                    or_none(text(o, "/spec/nodeName")),
                ]
            }),
        ),
        ("coordination.k8s.io", "Lease") => (
            vec![NAME, col("Holder"), AGE],
            rows(&|o| vec![name(o), s(text(o, "/spec/holderIdentity")), age(o)]),
        ),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => (
            vec![NAME, c("Created At", "date", "", 0)],
            rows(&|o| {
                vec![
                    name(o),
                    s(meta::meta_str(o, "creationTimestamp").unwrap_or_default()),
                ]
            }),
        ),
        _ => (vec![NAME, AGE], rows(&|o| vec![name(o), age(o)])),
    }
}
