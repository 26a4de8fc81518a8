//! Microsoft.DBforPostgreSQL flexible servers, their databases and firewall rules.

use serde_json::{Value, json};

use super::super::store::{Phase, Res};
use super::{PutCtx, envelope, find_subnet, require_ref, str_at};
use crate::error::ArmError;

const RESERVED_LOGINS: [&str; 7] = [
    "azure_superuser",
    "azure_pg_admin",
    "admin",
    "administrator",
    "root",
    "guest",
    "public",
];
const TIERS: [&str; 3] = ["Burstable", "GeneralPurpose", "MemoryOptimized"];
const VERSIONS: [&str; 8] = ["11", "12", "13", "14", "15", "16", "17", "18"];
const DELEGATION: &str = "Microsoft.DBforPostgreSQL/flexibleServers";

fn invalid(code: &str, msg: impl Into<String>) -> ArmError {
    ArmError::bad_request(code, msg)
}

/// Validates a flexible server PUT; the admin password is checked and never stored.
pub fn server(ctx: &PutCtx, input: &Value) -> Result<Value, ArmError> {
    let name = ctx.name;
    let name_ok = (3..=63).contains(&name.len())
        && name.split('-').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if !name_ok {
        return Err(invalid(
            "InvalidServerName",
            format!(
                "Server name '{name}' must be 3-63 lower-case letters, digits and inner hyphens."
            ),
        ));
    }
    let mut body = Value::Object(envelope(
        ctx,
        input,
        &["fullyQualifiedDomainName", "state", "minorVersion"],
    )?);
    let sku_name = str_at(input, "/sku/name")
        .ok_or_else(|| invalid("InvalidParameterValue", "sku.name is required."))?;
    let tier = str_at(input, "/sku/tier")
        .ok_or_else(|| invalid("InvalidParameterValue", "sku.tier is required."))?;
    if !TIERS.iter().any(|t| t.eq_ignore_ascii_case(tier)) {
        return Err(invalid(
            "InvalidSkuTier",
            format!("sku.tier '{tier}' is not one of {TIERS:?}."),
        ));
    }
    if !sku_name.starts_with("Standard_") {
        return Err(invalid(
            "InvalidSkuName",
            format!("sku.name '{sku_name}' is not a valid compute size."),
        ));
    }
    let props = super::props_of(body.get_mut("properties"))?;
    props.remove("resourceGuid");
    // Only the local cloud writes it (`realized`), from what it runs.
    props.remove("localCloud");
    if let Some(lc) = ctx
        .existing
        .and_then(|e| e.body.pointer("/properties/localCloud"))
    {
        props.insert("localCloud".into(), lc.clone());
    }
    let existing_props = ctx.existing.map(|e| &e.body["properties"]);
    let login = props
        .get("administratorLogin")
        .and_then(Value::as_str)
        .or_else(|| existing_props.and_then(|p| p["administratorLogin"].as_str()))
        .ok_or_else(|| {
            invalid(
                "InvalidParameterValue",
                "properties.administratorLogin is required.",
            )
        })?
        .to_string();
    let login_ok = (1..=63).contains(&login.len())
        && login.chars().all(|c| c.is_ascii_alphanumeric())
        && !login.to_ascii_lowercase().starts_with("pg_")
        && !RESERVED_LOGINS.contains(&login.to_ascii_lowercase().as_str());
    if !login_ok {
        return Err(invalid(
            "InvalidAdministratorLogin",
            format!("administratorLogin '{login}' is not allowed."),
        ));
    }
    if let Some(old) = existing_props.and_then(|p| p["administratorLogin"].as_str())
        && old != login
    {
        return Err(invalid(
            "PropertyChangeNotAllowed",
            "administratorLogin cannot be changed.",
        ));
    }
    props.insert("administratorLogin".into(), login.into());
    if ctx.existing.is_none() {
        let pw = props
            .get("administratorLoginPassword")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if pw.len() < 8 {
            return Err(invalid(
                "InvalidParameterValue",
                "properties.administratorLoginPassword is required on create (8 characters or more).",
            ));
        }
    }
    props.remove("administratorLoginPassword");
    let version = props
        .get("version")
        .and_then(Value::as_str)
        .or_else(|| existing_props.and_then(|p| p["version"].as_str()))
        .ok_or_else(|| invalid("InvalidParameterValue", "properties.version is required."))?
        .to_string();
    if !VERSIONS.contains(&version.as_str()) {
        return Err(invalid(
            "InvalidServerVersion",
            format!("version '{version}' is not one of {VERSIONS:?}."),
        ));
    }
    props.insert("version".into(), version.into());
    let mut network = props.get("network").cloned().unwrap_or_else(|| json!({}));
    if let Some(sid) = str_at(&network, "/delegatedSubnetResourceId").map(str::to_string) {
        let (_, subnet) = find_subnet(
            ctx.store,
            &sid,
            "properties.network.delegatedSubnetResourceId",
        )?;
        let delegated = subnet
            .pointer("/properties/delegations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|d| {
                str_at(d, "/properties/serviceName")
                    .is_some_and(|s| s.eq_ignore_ascii_case(DELEGATION))
            });
        if !delegated {
            return Err(invalid(
                "SubnetNotDelegated",
                format!("Subnet {sid} must be delegated to {DELEGATION}."),
            ));
        }
        let zone = str_at(&network, "/privateDnsZoneArmResourceId").map(str::to_string).ok_or_else(|| {
            invalid("PrivateDnsZoneRequired", "properties.network.privateDnsZoneArmResourceId is required with a delegated subnet.")
        })?;
        require_ref(
            ctx.store,
            &zone,
            "Microsoft.Network/privateDnsZones",
            "properties.network.privateDnsZoneArmResourceId",
        )?;
        if !zone
            .to_ascii_lowercase()
            .ends_with(".postgres.database.azure.com")
        {
            return Err(invalid(
                "InvalidPrivateDnsZone",
                "The private DNS zone name must end with .postgres.database.azure.com.",
            ));
        }
        network["publicNetworkAccess"] = "Disabled".into();
    } else if network.get("publicNetworkAccess").is_none() {
        network["publicNetworkAccess"] = "Enabled".into();
    }
    props.insert("network".into(), network);
    props
        .entry("storage")
        .or_insert(json!({"storageSizeGB": 32, "autoGrow": "Disabled"}));
    props
        .entry("backup")
        .or_insert(json!({"backupRetentionDays": 7, "geoRedundantBackup": "Disabled"}));
    let ha = props
        .entry("highAvailability")
        .or_insert(json!({"mode": "Disabled"}));
    if ha.get("state").is_none() {
        ha["state"] = "NotEnabled".into();
    }
    props.insert(
        "fullyQualifiedDomainName".into(),
        format!("{name}.postgres.database.azure.com").into(),
    );
    props.insert(
        "state".into(),
        if ctx.existing.is_some() {
            "Updating"
        } else {
            "Provisioning"
        }
        .into(),
    );
    Ok(body)
}

/// With real servers (hosts on), `properties.localCloud` says where and what runs:
/// `address`, the server's address in its delegated subnet (kept once given: the first
/// free from `.4`, as Azure reserves the first four), and `runningVersion`, the
/// PostgreSQL this machine runs for it (`None`: none installed), which may differ from the
/// `version` asked for. A server without a delegated subnet is not realized.
pub fn realized(
    store: &super::super::store::Store,
    id: &str,
    body: &mut Value,
    running_version: Option<String>,
) -> Result<(), ArmError> {
    let Some(sid) = str_at(body, "/properties/network/delegatedSubnetResourceId") else {
        return Ok(());
    };
    let mut lc = body
        .pointer("/properties/localCloud")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if lc.get("address").is_none() {
        let (_, subnet) = find_subnet(store, sid, "properties.network.delegatedSubnetResourceId")?;
        let prefix = super::subnet_prefix(subnet).ok_or_else(|| {
            invalid(
                "InvalidParameterValue",
                format!("Subnet {sid} has no IPv4 prefix."),
            )
        })?;
        let taken: Vec<&str> = store
            .of_type("Microsoft.DBforPostgreSQL/flexibleServers")
            .chain(store.resources.values().filter(|r| r.hidden))
            .filter(|r| !r.id.eq_ignore_ascii_case(id))
            .filter_map(|r| str_at(&r.body, "/properties/localCloud/address"))
            .collect();
        let used = super::ipam::used_private(store, sid, id);
        let free = prefix
            .hosts()
            .skip(3)
            .take_while(|a| *a != prefix.broadcast())
            .find(|a| !used.contains(a) && !taken.contains(&a.to_string().as_str()))
            .ok_or_else(|| {
                invalid(
                    "SubnetIsFull",
                    format!("Subnet {sid} has no free address left."),
                )
            })?;
        lc["address"] = free.to_string().into();
    }
    match running_version {
        Some(v) => lc["runningVersion"] = v.into(),
        None => lc["runningVersion"] = Value::Null,
    }
    body["properties"]["localCloud"] = lc;
    Ok(())
}

/// Server `state` follows the operation: Ready when it succeeds.
pub fn settled(res: &mut Res, phase: Phase) {
    let state = match phase {
        Phase::Succeeded => "Ready",
        Phase::Failed => "Disabled",
        Phase::Deleting => "Dropping",
        _ => return,
    };
    res.body["properties"]["state"] = state.into();
}

fn parent_ready(ctx: &PutCtx) -> Result<(), ArmError> {
    match ctx.parent {
        Some(p) if str_at(&p.body, "/properties/state") == Some("Ready") => Ok(()),
        Some(p) => Err(ArmError::conflict(
            "ServerIsBusy",
            format!("Server {} is not ready for this operation.", p.name()),
        )),
        None => Err(ArmError::not_found(
            "ParentResourceNotFound",
            "The parent server was not found.",
        )),
    }
}

/// `.../flexibleServers/{s}/databases/{db}`: optional `charset` and `collation`.
pub fn database(ctx: &PutCtx, input: &Value) -> Result<Value, ArmError> {
    parent_ready(ctx)?;
    let mut body = Value::Object(envelope(ctx, input, &[])?);
    let props = super::props_of(body.get_mut("properties"))?;
    props.remove("resourceGuid");
    props.entry("charset").or_insert("UTF8".into());
    props.entry("collation").or_insert("en_US.utf8".into());
    Ok(body)
}

fn ipv4(v: Option<&str>, field: &str) -> Result<String, ArmError> {
    v.filter(|s| s.parse::<std::net::Ipv4Addr>().is_ok())
        .map(str::to_string)
        .ok_or_else(|| {
            invalid(
                "InvalidParameterValue",
                format!("properties.{field} must be an IPv4 address."),
            )
        })
}

/// `.../flexibleServers/{s}/firewallRules/{rule}`: both addresses required.
pub fn firewall_rule(ctx: &PutCtx, input: &Value) -> Result<Value, ArmError> {
    parent_ready(ctx)?;
    ipv4(
        str_at(input, "/properties/startIpAddress"),
        "startIpAddress",
    )?;
    ipv4(str_at(input, "/properties/endIpAddress"), "endIpAddress")?;
    let mut body = Value::Object(envelope(ctx, input, &[])?);
    super::props_of(body.get_mut("properties"))?.remove("resourceGuid");
    Ok(body)
}
