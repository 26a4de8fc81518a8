//! DELETE with cascades and in-use checks, and VM power actions.

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::handlers::{group, json, rg_id};
use super::ops;
use super::store::{Phase, Res, Store, set_state};
use super::types::{self, TypeSpec};
use crate::Cloud;
use crate::config::OpKind;
use crate::error::ArmError;

fn in_use_code(rtype: &str) -> &'static str {
    match rtype {
        "Microsoft.Network/virtualNetworks" | "Microsoft.Network/virtualNetworks/subnets" => {
            "InUseSubnetCannotBeDeleted"
        }
        "Microsoft.Network/networkSecurityGroups" => "InUseNetworkSecurityGroupCannotBeDeleted",
        "Microsoft.Network/publicIPAddresses" => "PublicIPAddressCannotBeDeleted",
        "Microsoft.Network/networkInterfaces" => "NicInUse",
        "Microsoft.Network/loadBalancers" => "LoadBalancerInUseByVirtualMachineScaleSet",
        "Microsoft.Network/natGateways" => "InUseNatGatewayCannotBeDeleted",
        _ => "ResourceInUse",
    }
}

pub(super) fn delete(
    cloud: &Cloud,
    store: &mut Store,
    sub: &str,
    gname: &str,
    id: &str,
    now: u64,
    dirty: &mut bool,
) -> Result<Response, ArmError> {
    let is_group = id.eq_ignore_ascii_case(&rg_id(sub, gname));
    group(store, sub, gname)?;
    let rtype = match store.get(id) {
        Some(r) => r.rtype.clone(),
        None => {
            // Inline child or nothing at all: a delete of something absent is a 204.
            let exists = store.inline_child_mut(id).is_some();
            if !exists {
                return Ok(StatusCode::NO_CONTENT.into_response());
            }
            super::ids::type_of(id)
                .and_then(|t| types::spec_for(&t))
                .map(|s| s.rtype.to_string())
                .unwrap_or_default()
        }
    };
    let spec = types::stored_spec(&rtype)?;
    let location = store.get(id).and_then(Res::location).map(str::to_string);
    let location = location
        .or_else(|| {
            store
                .get(&rg_id(sub, gname))
                .and_then(Res::location)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "global".into());
    if let Some(r) = store.get(id) {
        if r.hidden {
            return Err(ArmError::conflict(
                "AnotherOperationInProgress",
                format!("Another operation is in progress on {}.", r.name()),
            ));
        }
        // A delete already running answers like the first one did.
        if let Some(op) = r
            .pending_op
            .as_ref()
            .and_then(|o| store.ops.get(o))
            .filter(|o| o.kind == OpKind::Delete)
        {
            return Ok(delete_accepted(cloud, sub, op, &location, spec));
        }
    }
    if !is_group {
        let cascade = store.cascade_set(id);
        let users = store.referrers(id, &cascade);
        if let Some(u) = users.first() {
            return Err(ArmError::bad_request(
                in_use_code(spec.rtype),
                format!(
                    "{} is in use by {u} and cannot be deleted.",
                    super::ids::name_of(id)
                ),
            ));
        }
    }
    let failure = cloud
        .faults
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .failure_for(spec.rtype, super::ids::name_of(id), OpKind::Delete);
    let op = ops::new_op(
        OpKind::Delete,
        id,
        spec.rtype,
        now,
        cloud.latency.duration(&spec.lower(), true),
        failure,
    );
    if let Some(r) = store.get_mut(id) {
        set_state(&mut r.body, Phase::Deleting);
        types::on_settled(r, Phase::Deleting);
        r.pending_op = Some(op.id.clone());
        // Deleting one VM of a Flexible scale set lowers the set's capacity.
        if let Some(owner) = r
            .owner
            .clone()
            .filter(|_| r.rtype == "Microsoft.Compute/virtualMachines")
            && let Some(vmss) = store.get_mut(&owner)
            && let Some(c) = vmss.body.pointer("/sku/capacity").and_then(Value::as_u64)
        {
            vmss.body["sku"]["capacity"] = c.saturating_sub(1).into();
        }
    } else if let Some(c) = store.inline_child_mut(id) {
        set_state(c, Phase::Deleting);
    }
    let resp = delete_accepted(cloud, sub, &op, &location, spec);
    store.ops.insert(op.id.clone(), op);
    *dirty = true;
    Ok(resp)
}

fn delete_accepted(
    cloud: &Cloud,
    sub: &str,
    op: &super::store::Operation,
    location: &str,
    spec: &TypeSpec,
) -> Response {
    let mut resp = StatusCode::ACCEPTED.into_response();
    let urls = ops::poll_urls(&cloud.endpoint, sub, op, location);
    let async_op = matches!(
        spec.namespace(),
        "Microsoft.Network" | "Microsoft.DBforPostgreSQL"
    );
    ops::add_poll_headers(
        resp.headers_mut(),
        &urls,
        async_op,
        true,
        cloud.latency.retry_after(),
    );
    resp
}

#[allow(clippy::too_many_arguments)] // one call site; the parts come from the parsed path
pub(super) fn vm_action(
    cloud: &Cloud,
    store: &mut Store,
    sub: &str,
    gname: &str,
    spec: &TypeSpec,
    id: &str,
    action: &str,
    m: &Method,
    now: u64,
    dirty: &mut bool,
) -> Result<Response, ArmError> {
    group(store, sub, gname)?;
    let unknown = || {
        ArmError::not_found(
            "InvalidResourceType",
            format!(
                "The resource type '{}/{action}' could not be found.",
                spec.rtype
            ),
        )
    };
    if spec.rtype != "Microsoft.Compute/virtualMachines" {
        return Err(unknown());
    }
    let vm = store
        .visible(id)
        .ok_or_else(|| ArmError::resource_not_found(spec.rtype, super::ids::name_of(id), gname))?;
    if action.eq_ignore_ascii_case("instanceView") && *m == Method::GET {
        return Ok(json(StatusCode::OK, types::instance_view(vm)));
    }
    if *m != Method::POST {
        return Err(unknown());
    }
    let (during, after) = match action.to_ascii_lowercase().as_str() {
        "start" => ("starting", "running"),
        "restart" => ("starting", "running"),
        "poweroff" => ("stopping", "stopped"),
        "deallocate" => ("deallocating", "deallocated"),
        _ => return Err(unknown()),
    };
    let location = vm.location().unwrap_or("global").to_string();
    let mut op = ops::new_op(
        OpKind::Action,
        id,
        spec.rtype,
        now,
        cloud
            .latency
            .duration("microsoft.compute/virtualmachines/power", false),
        None,
    );
    op.action = Some(after.to_string());
    if let Some(r) = store.get_mut(id) {
        r.power_state = Some(during.to_string());
        r.pending_op = Some(op.id.clone());
    }
    let urls = ops::poll_urls(&cloud.endpoint, sub, &op, &location);
    store.ops.insert(op.id.clone(), op);
    *dirty = true;
    let mut resp = StatusCode::ACCEPTED.into_response();
    ops::add_poll_headers(
        resp.headers_mut(),
        &urls,
        true,
        true,
        cloud.latency.retry_after(),
    );
    Ok(resp)
}

/// Sets a VM's power state at once (control API). Returns the VM id.
pub fn set_power(store: &mut Store, name: &str, state: &str) -> Result<String, ArmError> {
    let found: Vec<&Res> = store
        .of_type("Microsoft.Compute/virtualMachines")
        .filter(|r| r.name().eq_ignore_ascii_case(name))
        .collect();
    match found.as_slice() {
        [one] => {
            let key = one.key();
            let id = one.id.clone();
            if let Some(r) = store.resources.get_mut(&key) {
                r.power_state = Some(state.to_string());
            }
            Ok(id)
        }
        [] => Err(ArmError::not_found(
            "ResourceNotFound",
            format!("No VM named '{name}'."),
        )),
        _ => Err(ArmError::conflict(
            "Ambiguous",
            format!("Several VMs are named '{name}'."),
        )),
    }
}
