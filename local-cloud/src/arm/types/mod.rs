//! Per-resource-type knowledge: which types exist, how their PUT answers, request
//! validation and the side effects of creating them (scale set -> VMs and NICs).

mod compute;
mod disk;
mod ipam;
mod network;
mod network_edge;
mod postgres;

use serde_json::{Map, Value, json};

use super::store::{Phase, Res, Store};
use crate::error::ArmError;

pub use compute::{instance_view, reconcile_scale_set, vm_matches_filter};
pub use ipam::subnet_prefix;
pub use postgres::realized as postgres_realized;

/// Canonical type of resource groups.
pub const RESOURCE_GROUP: &str = "Microsoft.Resources/resourceGroups";
/// Flexible servers: realized as PostgreSQL servers when hosts are on.
pub const PG_SERVER: &str = "Microsoft.DBforPostgreSQL/flexibleServers";

/// How a PUT of a type answers (ARM async-api-reference plus each type's spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutStyle {
    /// Done at once: 201/200 with `Succeeded`.
    Sync,
    /// 201/200 with a transient `provisioningState`, plus the named poll headers.
    Created { async_op: bool, location: bool },
    /// 202 with `Location` and `Azure-AsyncOperation`; invisible until done.
    Accepted,
    /// PUT is not offered (VMs are made by scale sets).
    NotAllowed,
}

/// What the local cloud knows about one resource type.
#[derive(Debug, PartialEq)]
pub struct TypeSpec {
    pub rtype: &'static str,
    /// Has a `location` and shows up in a group's resource list.
    pub tracked: bool,
    pub put: PutStyle,
    /// The transient `provisioningState` word this provider uses while creating.
    pub creating: &'static str,
    /// Location must be `global` (private DNS).
    pub global: bool,
}

impl TypeSpec {
    pub fn lower(&self) -> String {
        self.rtype.to_ascii_lowercase()
    }
    /// Transient state written while an operation of `kind` runs.
    pub fn transient(&self, create: bool) -> &'static str {
        if create { self.creating } else { "Updating" }
    }
    /// The provider namespace, such as `Microsoft.Network`.
    pub fn namespace(&self) -> &'static str {
        self.rtype.split('/').next().unwrap_or(self.rtype)
    }
}

const NET: PutStyle = PutStyle::Created {
    async_op: true,
    location: false,
};

const COMPUTE_DISK: PutStyle = PutStyle::Created {
    async_op: false,
    location: true,
};

macro_rules! spec {
    ($t:expr, $tracked:expr, $put:expr, $creating:expr) => {
        TypeSpec {
            rtype: $t,
            tracked: $tracked,
            put: $put,
            creating: $creating,
            global: false,
        }
    };
}

/// Every type the local cloud serves.
pub static TYPES: &[TypeSpec] = &[
    spec!(RESOURCE_GROUP, true, PutStyle::Sync, "Succeeded"),
    spec!("Microsoft.Network/virtualNetworks", true, NET, "Updating"),
    spec!(
        "Microsoft.Network/virtualNetworks/subnets",
        false,
        NET,
        "Updating"
    ),
    spec!(
        "Microsoft.Network/networkSecurityGroups",
        true,
        NET,
        "Updating"
    ),
    spec!(
        "Microsoft.Network/networkSecurityGroups/securityRules",
        false,
        NET,
        "Updating"
    ),
    spec!("Microsoft.Network/publicIPAddresses", true, NET, "Updating"),
    spec!("Microsoft.Network/loadBalancers", true, NET, "Updating"),
    spec!("Microsoft.Network/natGateways", true, NET, "Updating"),
    spec!("Microsoft.Network/networkInterfaces", true, NET, "Updating"),
    TypeSpec {
        rtype: "Microsoft.Network/privateDnsZones",
        tracked: true,
        // The Private DNS RP answers the old way: 202 with both poll headers.
        put: PutStyle::Accepted,
        creating: "Creating",
        global: true,
    },
    TypeSpec {
        rtype: "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
        tracked: true,
        // The Private DNS RP answers the old way: 202 with both poll headers.
        put: PutStyle::Accepted,
        creating: "Creating",
        global: true,
    },
    spec!(
        "Microsoft.Compute/virtualMachineScaleSets",
        true,
        PutStyle::Created {
            async_op: true,
            location: true
        },
        "Creating"
    ),
    spec!(
        "Microsoft.Compute/virtualMachines",
        true,
        PutStyle::NotAllowed,
        "Creating"
    ),
    // DiskRP declares 200/202 + Location; a 201 + Location is close enough for the client.
    spec!("Microsoft.Compute/disks", true, COMPUTE_DISK, "Updating"),
    spec!(
        "Microsoft.Compute/snapshots",
        true,
        COMPUTE_DISK,
        "Updating"
    ),
    spec!(
        "Microsoft.DBforPostgreSQL/flexibleServers",
        true,
        PutStyle::Accepted,
        "Creating"
    ),
    spec!(
        "Microsoft.DBforPostgreSQL/flexibleServers/databases",
        false,
        PutStyle::Accepted,
        "Creating"
    ),
    spec!(
        "Microsoft.DBforPostgreSQL/flexibleServers/firewallRules",
        false,
        PutStyle::Accepted,
        "Creating"
    ),
];

/// The spec of a full type name, case-insensitive.
pub fn spec_for(rtype: &str) -> Option<&'static TypeSpec> {
    TYPES.iter().find(|t| t.rtype.eq_ignore_ascii_case(rtype))
}

/// The spec of a stored resource's type. Only known types are ever stored, so a miss is
/// the local cloud's own bug: answered as ARM's 500, not a panic in the server.
pub fn stored_spec(rtype: &str) -> Result<&'static TypeSpec, ArmError> {
    spec_for(rtype).ok_or_else(|| ArmError::internal(format!("stored type {rtype} is unknown")))
}

/// The `properties` object of a body built on `envelope`, which always has one; a 500
/// like `stored_spec` otherwise.
pub fn props_of(properties: Option<&mut Value>) -> Result<&mut Map<String, Value>, ArmError> {
    properties
        .and_then(Value::as_object_mut)
        .ok_or_else(|| ArmError::internal("a resource body has no properties object".into()))
}

/// What a PUT handler knows while validating.
pub struct PutCtx<'a> {
    pub store: &'a Store,
    pub spec: &'static TypeSpec,
    pub id: &'a str,
    pub name: &'a str,
    pub existing: Option<&'a Res>,
    pub parent: Option<&'a Res>,
}

/// Validates a PUT body and returns the body to store (without transient state).
pub fn prepare(ctx: &PutCtx, input: &Value) -> Result<Value, ArmError> {
    if !input.is_object() {
        return Err(ArmError::bad_request(
            "InvalidRequestContent",
            "The request content must be a JSON object.",
        ));
    }
    match ctx.spec.rtype {
        "Microsoft.Network/virtualNetworks" => network::virtual_network(ctx, input),
        "Microsoft.Network/networkSecurityGroups" => network::security_group(ctx, input),
        "Microsoft.Network/publicIPAddresses" => network_edge::public_ip(ctx, input),
        "Microsoft.Network/loadBalancers" => network_edge::load_balancer(ctx, input),
        "Microsoft.Network/natGateways" => network_edge::nat_gateway(ctx, input),
        "Microsoft.Network/networkInterfaces" => network_edge::network_interface(ctx, input),
        "Microsoft.Network/privateDnsZones" => network_edge::private_dns_zone(ctx, input),
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks" => {
            network_edge::dns_link(ctx, input)
        }
        "Microsoft.Compute/virtualMachineScaleSets" => compute::scale_set(ctx, input),
        "Microsoft.Compute/disks" | "Microsoft.Compute/snapshots" => {
            disk::disk_or_snapshot(ctx, input)
        }
        "Microsoft.DBforPostgreSQL/flexibleServers" => postgres::server(ctx, input),
        "Microsoft.DBforPostgreSQL/flexibleServers/databases" => postgres::database(ctx, input),
        "Microsoft.DBforPostgreSQL/flexibleServers/firewallRules" => {
            postgres::firewall_rule(ctx, input)
        }
        other => Err(ArmError::bad_request(
            "OperationNotAllowed",
            format!("PUT is not supported for {other}."),
        )),
    }
}

/// Builds a new parent body for a PUT of an inline child (subnet, security rule) and
/// validates it as a whole. Returns the parent body and the stored child.
pub fn prepare_inline(
    ctx: &PutCtx,
    parent: &Res,
    input: &Value,
) -> Result<(Value, Value), ArmError> {
    let seg = ctx.spec.rtype.rsplit('/').next().unwrap_or_default();
    let key = super::store::inline_key(&parent.rtype, seg)
        .ok_or_else(|| ArmError::bad_request("InvalidResourceType", "Not an inline child type."))?;
    let mut child = input.clone();
    child["name"] = Value::String(ctx.name.to_string());
    let mut body = parent.body.clone();
    let arr = body["properties"][key]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut arr: Vec<Value> = arr
        .into_iter()
        .filter(|c| {
            !c["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(ctx.name))
        })
        .collect();
    arr.push(child);
    body["properties"][key] = Value::Array(arr);
    let parent_spec = stored_spec(&parent.rtype)?;
    let pctx = PutCtx {
        spec: parent_spec,
        id: &parent.id,
        name: parent.name(),
        existing: Some(parent),
        parent: None,
        ..*ctx
    };
    let new_parent = prepare(&pctx, &body)?;
    let stored = new_parent["properties"][key]
        .as_array()
        .and_then(|a| {
            a.iter().find(|c| {
                c["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(ctx.name))
            })
        })
        .cloned()
        .unwrap_or(Value::Null);
    Ok((new_parent, stored))
}

/// The body of a new or updated resource group.
pub fn resource_group(
    id: &str,
    name: &str,
    input: &Value,
    existing: Option<&Res>,
) -> Result<Value, ArmError> {
    let location = location_of(input, existing)?;
    let mut body = json!({"id": id, "name": name, "type": RESOURCE_GROUP, "location": location,
        "properties": {"provisioningState": "Succeeded"}});
    if let Some(tags) = tags_of(input)? {
        body["tags"] = tags;
    }
    if let Some(m) = input.get("managedBy").and_then(Value::as_str) {
        body["managedBy"] = Value::String(m.into());
    }
    Ok(body)
}

/// Hook run when an operation settles on a resource.
pub fn on_settled(res: &mut Res, phase: Phase) {
    match res.rtype.as_str() {
        "Microsoft.DBforPostgreSQL/flexibleServers" => postgres::settled(res, phase),
        // A VM that finished creating boots; one stopped meanwhile stays stopped.
        "Microsoft.Compute/virtualMachines"
            if phase == Phase::Succeeded
                && matches!(res.power_state.as_deref(), None | Some("starting")) =>
        {
            res.power_state = Some("running".into());
        }
        _ => {}
    }
}

/// `location`, normalized the way ARM does (`East US` -> `eastus`); it cannot change.
pub fn location_of(input: &Value, existing: Option<&Res>) -> Result<String, ArmError> {
    let loc = input
        .get("location")
        .and_then(Value::as_str)
        .filter(|l| !l.trim().is_empty());
    let Some(loc) = loc else {
        return Err(ArmError::bad_request(
            "LocationRequired",
            "The location property is required for this definition.",
        ));
    };
    let loc = loc.to_ascii_lowercase().replace(' ', "");
    if let Some(old) = existing.and_then(Res::location)
        && old != loc
    {
        return Err(ArmError::bad_request(
            "InvalidResourceLocation",
            format!(
                "The resource already exists in location '{old}'; a resource cannot be moved to '{loc}'."
            ),
        ));
    }
    Ok(loc)
}

/// `tags` when given: an object of strings.
pub fn tags_of(input: &Value) -> Result<Option<Value>, ArmError> {
    match input.get("tags") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => {
            Ok(Some(Value::Object(m.clone())))
        }
        Some(_) => Err(ArmError::bad_request(
            "InvalidTag",
            "Tags must be an object of string values.",
        )),
    }
}

/// The common envelope of a tracked resource: id, name, type, location, tags, sku, zones,
/// plus `properties` as sent minus the read-only fields ARM ignores.
pub fn envelope(
    ctx: &PutCtx,
    input: &Value,
    read_only: &[&str],
) -> Result<Map<String, Value>, ArmError> {
    let mut out = Map::new();
    out.insert("id".into(), ctx.id.into());
    out.insert("name".into(), ctx.name.into());
    out.insert("type".into(), ctx.spec.rtype.into());
    if ctx.spec.tracked {
        let loc = location_of(input, ctx.existing)?;
        if ctx.spec.global && loc != "global" {
            return Err(ArmError::bad_request(
                "InvalidLocation",
                format!("Location '{loc}' is not valid; use 'global'."),
            ));
        }
        out.insert("location".into(), loc.into());
    }
    if let Some(tags) = tags_of(input)? {
        out.insert("tags".into(), tags);
    }
    for k in ["sku", "zones", "identity", "kind"] {
        if let Some(v) = input.get(k).filter(|v| !v.is_null()) {
            out.insert(k.into(), v.clone());
        }
    }
    out.insert(
        "etag".into(),
        format!("W/\"{}\"", uuid::Uuid::new_v4()).into(),
    );
    let mut props = match input.get("properties") {
        Some(Value::Object(p)) => p.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(ArmError::invalid("properties", "must be an object")),
    };
    for k in ["provisioningState", "resourceGuid"]
        .iter()
        .chain(read_only)
    {
        props.remove(*k);
    }
    if let Some(guid) = ctx
        .existing
        .and_then(|e| e.body.pointer("/properties/resourceGuid"))
    {
        props.insert("resourceGuid".into(), guid.clone());
    } else if ctx.spec.namespace() == "Microsoft.Network" {
        props.insert(
            "resourceGuid".into(),
            uuid::Uuid::new_v4().to_string().into(),
        );
    }
    out.insert("properties".into(), Value::Object(props));
    Ok(out)
}

/// A string at a JSON pointer.
pub fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// Checks that a referenced resource exists and has the expected type.
pub fn require_ref<'a>(
    store: &'a Store,
    id: &str,
    rtype: &str,
    field: &str,
) -> Result<&'a Res, ArmError> {
    store
        .visible(id)
        .filter(|r| r.rtype.eq_ignore_ascii_case(rtype))
        .ok_or_else(|| {
            ArmError::bad_request(
                "InvalidResourceReference",
                format!("Resource {id} referenced by {field} was not found."),
            )
        })
}

/// The subnet body an id points at, with its VNet.
pub fn find_subnet<'a>(
    store: &'a Store,
    id: &str,
    field: &str,
) -> Result<(&'a Res, &'a Value), ArmError> {
    let missing = || {
        ArmError::bad_request(
            "InvalidResourceReference",
            format!("Subnet {id} referenced by {field} was not found."),
        )
    };
    let (vnet_id, name) = id.rsplit_once("/subnets/").ok_or_else(missing)?;
    let vnet = require_ref(store, vnet_id, "Microsoft.Network/virtualNetworks", field)
        .map_err(|_| missing())?;
    let subnet = vnet.body["properties"]["subnets"]
        .as_array()
        .and_then(|a| {
            a.iter().find(|s| {
                s["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
        })
        .ok_or_else(missing)?;
    Ok((vnet, subnet))
}
