//! Objects a fresh server has: the four system namespaces, and the `kubernetes` Service
//! (first address of the service CIDR) with its Endpoints pointing at this server; the
//! custom resource types of stored CRDs. Servers sharing a store create what is missing.

use std::net::SocketAddr;

use serde_json::json;

use crate::api::{ServerState, WriteOptions, write};
use crate::error::ApiError;

async fn ensure(
    state: &ServerState,
    group: &str,
    plural: &str,
    ns: Option<&str>,
    obj: serde_json::Value,
) -> Result<(), ApiError> {
    let rt = state.registry.builtin(group, plural);
    // Another server sharing the store (or this one before a restart) made it already; a
    // second create would not even reach the store (the Service's ClusterIP is taken).
    let name = obj
        .pointer("/metadata/name")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    if state.store.get(&rt.key(ns, name)).await?.is_some() {
        return Ok(());
    }
    let opts = WriteOptions {
        manager: "kube-apiserver".into(),
        dry_run: false,
        subresource: None,
    };
    match write::create(state, &rt, ns, obj, &opts, &mut Vec::new()).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates what is missing (safe on a store that already has them).
pub async fn run(state: &ServerState, addr: SocketAddr) -> Result<(), ApiError> {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        ensure(
            state,
            "",
            "namespaces",
            None,
            json!({"metadata": {"name": ns}}),
        )
        .await?;
    }
    let first = state
        .config
        .service_cidr
        .hosts()
        .next()
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let svc = json!({"metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": first, "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": addr.port()}],
            "sessionAffinity": "None", "type": "ClusterIP"}});
    ensure(state, "", "services", Some("default"), svc).await?;
    let advertised = state
        .config
        .advertise_address
        .clone()
        .unwrap_or_else(|| addr.to_string());
    let (host, port) = advertised
        .rsplit_once(':')
        .map(|(h, p)| (h.to_string(), p.parse::<u16>().unwrap_or(addr.port())))
        .unwrap_or((advertised.clone(), addr.port()));
    let host = if host == "0.0.0.0" || host == "[::]" {
        "127.0.0.1".to_string()
    } else {
        host
    };
    let ep = json!({"metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": host}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]});
    ensure(state, "", "endpoints", Some("default"), ep).await
}

/// Serves the custom resources of the CRDs already in the store (a restart, or a store
/// shared with other servers).
pub async fn load_crds(state: &ServerState) -> Result<(), ApiError> {
    let rt = state
        .registry
        .builtin("apiextensions.k8s.io", "customresourcedefinitions");
    let list = state.store.list(&rt.prefix(None), "", 0, 0).await?;
    for kv in &list.items {
        crate::kinds::crd::sync(&state.registry, &crate::objects::meta::decode(kv), false);
    }
    Ok(())
}
