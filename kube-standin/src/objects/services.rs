//! Service IPs and node ports: ClusterIPs from the service CIDR (the `kubernetes` Service
//! takes the first), node ports from 30000-32767, both kept once allocated.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use crate::error::{FieldError, go_quote};
use crate::objects::meta;
use crate::store::Store;

/// Addresses and node ports in use by stored Services.
async fn in_use(
    store: &dyn Store,
) -> Result<(HashSet<String>, HashSet<i64>), crate::store::StoreError> {
    let list = store.list("/registry/services/", "", 0, 0).await?;
    let mut ips = HashSet::new();
    let mut ports = HashSet::new();
    for kv in &list.items {
        let svc = meta::decode(kv);
        for ip in svc
            .pointer("/spec/clusterIPs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(s) = ip.as_str() {
                ips.insert(s.to_string());
            }
        }
        for p in svc
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(n) = p.get("nodePort").and_then(Value::as_i64) {
                ports.insert(n);
            }
        }
    }
    Ok((ips, ports))
}

/// Fills the server-set fields of a new Service and allocates its addresses.
pub async fn allocate(
    store: &dyn Store,
    cidr: ipnet::Ipv4Net,
    svc: &mut Value,
) -> Result<Result<(), Vec<FieldError>>, crate::store::StoreError> {
    let (used_ips, used_ports) = in_use(store).await?;
    let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(Ok(()));
    };
    let typ = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    spec.insert("type".into(), json!(typ));
    let mut errs = Vec::new();
    if typ != "ExternalName" {
        let requested = spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .or_else(|| {
                spec.get("clusterIPs")
                    .and_then(|l| l.get(0))
                    .and_then(Value::as_str)
            })
            .map(str::to_string);
        let ip = match requested.as_deref() {
            Some("None") => Some("None".to_string()),
            Some(ip) => {
                let shown = format!("[]string{{{}}}", go_quote(ip));
                match ip.parse::<Ipv4Addr>() {
                    Ok(a) if !cidr.contains(&a) || a == cidr.network() || a == cidr.broadcast() => {
                        errs.push(FieldError::invalid("spec.clusterIPs", shown, format!("failed to allocate IP {ip}: provided IP is not in the valid range. The range of valid IPs is {cidr}")));
                        None
                    }
                    Ok(_) if used_ips.contains(ip) => {
                        errs.push(FieldError::invalid(
                            "spec.clusterIPs",
                            shown,
                            format!("failed to allocate IP {ip}: provided IP is already allocated"),
                        ));
                        None
                    }
                    Ok(_) => Some(ip.to_string()),
                    Err(_) => {
                        errs.push(FieldError::invalid(
                            "spec.clusterIPs[0]",
                            go_quote(ip),
                            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                        ));
                        None
                    }
                }
            }
            None => free_ip(cidr, &used_ips),
        };
        match ip {
            Some(ip) => {
                spec.insert("clusterIP".into(), json!(ip));
                spec.insert("clusterIPs".into(), json!([ip]));
                if ip != "None" || spec.get("selector").is_some() {
                    spec.entry("ipFamilies").or_insert(json!(["IPv4"]));
                    spec.entry("ipFamilyPolicy").or_insert(json!("SingleStack"));
                }
            }
            None if errs.is_empty() => errs.push(FieldError::invalid(
                "spec.clusterIPs",
                "[]string{}",
                "failed to allocate a serviceIP: range is full".to_string(),
            )),
            None => {}
        }
        spec.entry("internalTrafficPolicy")
            .or_insert(json!("Cluster"));
        spec.entry("sessionAffinity").or_insert(json!("None"));
    }
    let wants_node_ports = matches!(typ.as_str(), "NodePort" | "LoadBalancer");
    let mut taken = used_ports;
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            p.entry("protocol").or_insert(json!("TCP"));
            if p.get("targetPort").is_none()
                && let Some(port) = p.get("port").cloned()
            {
                p.insert("targetPort".into(), port);
            }
            if wants_node_ports
                && p.get("nodePort").is_none()
                && let Some(n) = (30000..=32767).find(|n| !taken.contains(n))
            {
                taken.insert(n);
                p.insert("nodePort".into(), json!(n));
            }
        }
    }
    if wants_node_ports {
        spec.entry("externalTrafficPolicy")
            .or_insert(json!("Cluster"));
    }
    if typ == "LoadBalancer" {
        spec.entry("allocateLoadBalancerNodePorts")
            .or_insert(json!(true));
    }
    if let Some(o) = svc.as_object_mut() {
        o.insert("status".into(), json!({"loadBalancer": {}}));
    }
    Ok(if errs.is_empty() { Ok(()) } else { Err(errs) })
}

/// A free address: the first for the `kubernetes` Service, otherwise a random one from
/// the upper part of the range as kube-apiserver prefers for dynamic allocation.
fn free_ip(cidr: ipnet::Ipv4Net, used: &HashSet<String>) -> Option<String> {
    use rand::Rng;
    let base = u32::from(cidr.network());
    let size = 1u64 << (32 - u32::from(cidr.prefix_len()));
    if size < 4 {
        return None;
    }
    let hosts = (size - 2) as u32;
    let mut rng = rand::rng();
    for _ in 0..64 {
        let offset = rng.random_range(1..=hosts);
        let ip = Ipv4Addr::from(base + offset).to_string();
        if !used.contains(&ip) {
            return Some(ip);
        }
    }
    (1..=hosts)
        .map(|o| Ipv4Addr::from(base + o).to_string())
        .find(|ip| !used.contains(ip))
}

/// On update: allocated values the client left out are kept; changing them is invalid.
pub fn keep_allocated(old: &Value, new: &mut Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let (Some(os), Some(ns)) = (
        old.get("spec"),
        new.get_mut("spec").and_then(Value::as_object_mut),
    ) else {
        return errs;
    };
    for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
        let Some(old_v) = os.get(field) else { continue };
        match ns.get(field) {
            None | Some(Value::Null) => {
                ns.insert(field.into(), old_v.clone());
            }
            Some(v)
                if (field == "clusterIP" || field == "clusterIPs")
                    && v != old_v
                    && ns.get("type").and_then(Value::as_str) != Some("ExternalName") =>
            {
                let shown = match v {
                    Value::Array(a) => format!(
                        "[]string{{{}}}",
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(go_quote)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    other => go_quote(other.as_str().unwrap_or_default()),
                };
                errs.push(FieldError::invalid(
                    format!("spec.{field}[0]").replace("clusterIP[0]", "clusterIP"),
                    shown,
                    "may not change once set",
                ));
            }
            _ => {}
        }
    }
    // Node ports the client left out stay as allocated.
    if let (Some(op), Some(np)) = (
        os.get("ports").and_then(Value::as_array),
        ns.get_mut("ports").and_then(Value::as_array_mut),
    ) {
        for p in np.iter_mut().filter_map(Value::as_object_mut) {
            if p.get("nodePort").is_some() {
                continue;
            }
            let same = op.iter().find(|o| {
                o.get("port") == p.get("port")
                    && o.get("protocol").or(Some(&json!("TCP")))
                        == p.get("protocol").or(Some(&json!("TCP")))
            });
            if let Some(n) = same.and_then(|o| o.get("nodePort")) {
                p.insert("nodePort".into(), n.clone());
            }
        }
    }
    errs
}
