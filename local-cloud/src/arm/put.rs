//! PUT: creating and updating resource groups and resources, starting their operations.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::handlers::{json, parent_missing, parse_body, rg_id, writable_group};
use super::ops;
use super::store::{Phase, Res, Store, set_state};
use super::types::{self, PutCtx, PutStyle, RESOURCE_GROUP, TypeSpec};
use crate::Cloud;
use crate::config::OpKind;
use crate::error::ArmError;

pub(super) fn put_group(
    store: &mut Store,
    sub: &str,
    name: &str,
    body: &[u8],
    dirty: &mut bool,
) -> Result<Response, ArmError> {
    let name_ok = !name.is_empty()
        && name.chars().count() <= 90
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.()".contains(c))
        && !name.ends_with('.');
    if !name_ok {
        return Err(ArmError::bad_request(
            "InvalidResourceGroupName",
            format!("Resource group name '{name}' is invalid."),
        ));
    }
    let input = parse_body(body)?;
    let id = rg_id(sub, name);
    let existing = store.get(&id).cloned();
    if existing
        .as_ref()
        .is_some_and(|e| e.provisioning_state() == Some("Deleting"))
    {
        return Err(ArmError::conflict(
            "ResourceGroupBeingDeleted",
            format!(
                "The resource group '{name}' is in deprovisioning state and cannot perform this operation."
            ),
        ));
    }
    let id = existing.as_ref().map(|e| e.id.clone()).unwrap_or(id);
    let gname = super::ids::name_of(&id).to_string();
    let body = types::resource_group(&id, &gname, &input, existing.as_ref())?;
    let res = Res {
        id,
        rtype: RESOURCE_GROUP.into(),
        sub: sub.to_string(),
        group: name.to_ascii_lowercase(),
        body: body.clone(),
        hidden: false,
        pending_op: None,
        power_state: None,
        owner: None,
        seq: existing.as_ref().map_or(0, |e| e.seq),
    };
    store.insert(res);
    *dirty = true;
    Ok(json(
        if existing.is_some() {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        body,
    ))
}

/// What a PUT addresses, from the parsed path.
pub(super) struct Target<'a> {
    pub sub: &'a str,
    pub group: &'a str,
    pub spec: &'static TypeSpec,
    pub id: &'a str,
    pub name: &'a str,
    pub parent: Option<&'a str>,
}

/// The group, parent and existing resource of a PUT, after ARM's precondition checks.
fn preconditions(store: &Store, t: &Target) -> Result<(Res, Option<Res>, Option<Res>), ArmError> {
    let rg = writable_group(store, t.sub, t.group)?.clone();
    if t.spec.put == PutStyle::NotAllowed {
        let msg = format!(
            "The local cloud creates {} only through scale sets.",
            t.spec.rtype
        );
        return Err(ArmError::bad_request("OperationNotAllowed", msg));
    }
    let parent = match t.parent {
        Some(pid) => Some(
            store
                .visible(pid)
                .cloned()
                .ok_or_else(|| parent_missing(pid))?,
        ),
        None => None,
    };
    let busy = |r: &Res| r.provisioning_state() == Some("Deleting");
    if parent.as_ref().is_some_and(busy) {
        let msg = "The parent resource is being deleted.";
        return Err(ArmError::conflict("AnotherOperationInProgress", msg));
    }
    let existing = store.get(t.id).cloned();
    if let Some(e) = &existing {
        // Postgres serializes operations on a server; a 202 create still running is busy too.
        let serialized = t.spec.put == PutStyle::Accepted && e.pending_op.is_some();
        if e.hidden || busy(e) || serialized {
            let msg = format!("Another operation is in progress on {}.", e.name());
            return Err(ArmError::conflict("AnotherOperationInProgress", msg));
        }
    }
    Ok((rg, parent, existing))
}

/// The `properties` array key when `spec` is an inline child of `parent`.
fn inline_key_of(parent: Option<&Res>, spec: &TypeSpec) -> Option<&'static str> {
    let seg = spec.rtype.rsplit('/').next().unwrap_or("");
    parent.and_then(|p| super::store::inline_key(&p.rtype, seg))
}

/// PUT of a resource (or inline child): validate, store with a transient state, start the
/// operation and answer 201/200 or 202 with the poll headers of the type.
pub(super) fn put(
    cloud: &Cloud,
    store: &mut Store,
    t: &Target,
    body: &[u8],
    now: u64,
    dirty: &mut bool,
) -> Result<Response, ArmError> {
    let (rg, parent, existing) = preconditions(store, t)?;
    let input = parse_body(body)?;
    // Resources keep the id casing they were created with.
    let id = existing
        .as_ref()
        .map_or_else(|| t.id.to_string(), |e| e.id.clone());
    let inline = inline_key_of(parent.as_ref(), t.spec);
    let exists = match (inline, &parent) {
        (Some(key), Some(p)) => p.body["properties"][key]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| {
                c["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(t.name))
            }),
        _ => existing.is_some(),
    };
    let kind = if exists {
        OpKind::Update
    } else {
        OpKind::Create
    };
    let ctx = PutCtx {
        store,
        spec: t.spec,
        id: &id,
        name: t.name,
        existing: existing.as_ref(),
        parent: parent.as_ref(),
    };
    let mut prepared = match (inline, &parent) {
        (Some(_), Some(p)) => types::prepare_inline(&ctx, p, &input)?.0,
        _ => types::prepare(&ctx, &input)?,
    };
    if t.spec.rtype == types::PG_SERVER
        && let Some(hosts) = &cloud.hosts
    {
        let version = prepared["properties"]["version"]
            .as_str()
            .unwrap_or_default();
        let running = hosts.postgres_version(version);
        types::postgres_realized(store, &id, &mut prepared, running)?;
        // The password goes to the server only: never into the store or a log.
        if prepared.pointer("/properties/localCloud").is_some()
            && let Some(pw) = input
                .pointer("/properties/administratorLoginPassword")
                .and_then(Value::as_str)
        {
            hosts
                .stash_password(t.name, pw)
                .map_err(|e| ArmError::internal(e.to_string()))?;
        }
    }
    let failure = (cloud.faults.lock().unwrap_or_else(|p| p.into_inner())).failure_for(
        t.spec.rtype,
        t.name,
        kind,
    );
    let duration = cloud.latency.duration(&t.spec.lower(), false);
    let mut op = ops::new_op(kind, &id, t.spec.rtype, now, duration, failure);
    let location = prepared["location"]
        .as_str()
        .or(parent.as_ref().and_then(Res::location))
        .or(rg.location())
        .unwrap_or("global")
        .to_string();

    let response_body = match (inline, parent) {
        (Some(_), Some(mut p)) => {
            p.body = prepared;
            store.insert(p);
            let child = store.inline_child_mut(&id).map(|c| {
                set_state(c, Phase::Updating);
                c.clone()
            });
            child.unwrap_or(Value::Null)
        }
        _ => {
            let mut body = prepared;
            let create = kind == OpKind::Create;
            let phase = match t.spec.transient(create) {
                "Updating" => Phase::Updating,
                _ => Phase::Creating,
            };
            set_state(&mut body, phase);
            let res = Res {
                id: id.clone(),
                rtype: t.spec.rtype.to_string(),
                sub: t.sub.to_string(),
                group: t.group.to_ascii_lowercase(),
                body: body.clone(),
                hidden: t.spec.put == PutStyle::Accepted && existing.is_none(),
                pending_op: Some(op.id.clone()),
                power_state: existing.as_ref().and_then(|e| e.power_state.clone()),
                owner: existing.as_ref().and_then(|e| e.owner.clone()),
                seq: existing.as_ref().map_or(0, |e| e.seq),
            };
            if t.spec.rtype == "Microsoft.Compute/virtualMachineScaleSets" {
                // Creating VMs can fail midway (subnet full): leave nothing half-made.
                let before = store.resources.clone();
                store.insert(res);
                match types::reconcile_scale_set(store, &id, &op.id) {
                    Ok((also, removes)) => (op.also, op.removes) = (also, removes),
                    Err(e) => {
                        store.resources = before;
                        return Err(e);
                    }
                }
            } else {
                store.insert(res);
            }
            body
        }
    };
    let urls = ops::poll_urls(&cloud.endpoint, t.sub, &op, &location);
    store.ops.insert(op.id.clone(), op);
    *dirty = true;
    let mut resp = match t.spec.put {
        PutStyle::Accepted => StatusCode::ACCEPTED.into_response(),
        _ if kind == OpKind::Create => json(StatusCode::CREATED, response_body),
        _ => json(StatusCode::OK, response_body),
    };
    let (async_op, loc) = match t.spec.put {
        PutStyle::Created { async_op, location } => (async_op, location),
        _ => (true, true),
    };
    let retry = cloud.latency.retry_after();
    ops::add_poll_headers(resp.headers_mut(), &urls, async_op, loc, retry);
    Ok(resp)
}
