//! The `/_local/` control API for tests and a separately running `local-cloud serve`:
//! stats, faults, VM power states and hosts. Not an ARM surface; no auth (loopback only).

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Cloud;
use super::config::FaultConfig;
use super::error::ArmError;
use crate::arm::stats::RequestStats;

/// Handles one `/_local/...` request.
pub fn handle(cloud: &Cloud, method: &Method, path: &str, body: &[u8]) -> Response {
    let segs: Vec<&str> = path.trim_matches('/').split('/').skip(1).collect();
    let r: Result<Response, ArmError> = match (method.clone(), segs.as_slice()) {
        (Method::GET, ["health"]) => Ok(axum::Json(json!({"status": "ok"})).into_response()),
        (Method::GET, ["stats"]) => Ok(axum::Json(cloud.stats().clone()).into_response()),
        (Method::POST, ["reset-stats"]) => {
            *cloud.stats() = RequestStats::default();
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (Method::GET, ["faults"]) => Ok(axum::Json(
            cloud
                .faults
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .config
                .clone(),
        )
        .into_response()),
        (Method::PUT, ["faults"]) => match serde_json::from_slice::<FaultConfig>(body) {
            Ok(f) => {
                cloud.set_faults(f.clone());
                Ok(axum::Json(f).into_response())
            }
            Err(e) => Err(ArmError::bad_request(
                "InvalidRequestContent",
                format!("Not a fault config: {e}"),
            )),
        },
        (Method::GET, ["resources"]) => {
            let store = cloud.store.lock().unwrap_or_else(|p| p.into_inner());
            let list: Vec<_> = store
                .resources
                .values()
                .map(|r| json!({"id": r.id, "type": r.rtype, "provisioningState": r.provisioning_state(), "hidden": r.hidden, "powerState": r.power_state}))
                .collect();
            Ok(axum::Json(json!({"value": list})).into_response())
        }
        (Method::POST, ["vms", name, action]) => power(cloud, name, action),
        (Method::GET, ["vms"]) => {
            Ok(axum::Json(json!({"value": vms(cloud, None)})).into_response())
        }
        (Method::GET, ["vms", name]) => vms(cloud, Some(name))
            .pop()
            .map(|v| axum::Json(v).into_response())
            .ok_or_else(|| {
                ArmError::not_found("ResourceNotFound", format!("No VM named '{name}'."))
            }),
        _ => Err(ArmError::not_found(
            "NotFound",
            format!("No control endpoint {method} {path}."),
        )),
    };
    r.unwrap_or_else(IntoResponse::into_response)
}

/// VMs (or the one named) with their address and, when hosts are realized, their host.
fn vms(cloud: &Cloud, name: Option<&str>) -> Vec<serde_json::Value> {
    let specs = {
        let store = cloud.store.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<(super::hosts::HostSpec, Option<String>, Option<String>)> =
            super::hosts::specs(&store)
                .into_iter()
                .filter(|s| name.is_none_or(|n| s.name.eq_ignore_ascii_case(n)))
                .map(|s| {
                    let r = store.get(&s.key);
                    let prov = r.and_then(|r| r.provisioning_state()).map(str::to_string);
                    let power = r.and_then(|r| r.power_state.clone());
                    (s, prov, power)
                })
                .collect();
        v.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        v
    };
    specs
        .into_iter()
        .map(|(s, prov, power)| {
            let host = cloud.hosts.as_ref().and_then(|h| h.info(&s.name));
            json!({"name": s.name, "id": s.key, "computerName": s.hostname,
                "adminUsername": s.admin_user, "address": s.ip.to_string(),
                "provisioningState": prov, "powerState": power,
                "host_key_fingerprint": host.as_ref().and_then(|h| h.host_key_fingerprint.clone()),
                "host": host})
        })
        .collect()
}

fn power(cloud: &Cloud, name: &str, action: &str) -> Result<Response, ArmError> {
    let (id, state) = set_power(cloud, name, action)?;
    Ok(axum::Json(json!({"id": id, "powerState": state})).into_response())
}

/// Sets the power state of the VM `name` at once (`start`, `stop`, `poweroff`, `deallocate`)
/// and persists it. Returns the VM id and the new state.
pub(super) fn set_power(
    cloud: &Cloud,
    name: &str,
    action: &str,
) -> Result<(String, &'static str), ArmError> {
    let state = match action {
        "stop" | "poweroff" => "stopped",
        "start" => "running",
        "deallocate" => "deallocated",
        _ => {
            return Err(ArmError::bad_request(
                "InvalidAction",
                format!("Unknown VM action '{action}'; use start, stop or deallocate."),
            ));
        }
    };
    let mut store = cloud.store.lock().unwrap_or_else(|p| p.into_inner());
    store.settle(crate::arm::ops::now_ms());
    let id = crate::arm::delete::set_power(&mut store, name, state)?;
    store.save(&cloud.data_dir).map_err(|e| {
        ArmError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            e.to_string(),
        )
    })?;
    Ok((id, state))
}
