//! Microsoft.Network: virtual networks with inline subnets, network security groups.

use std::collections::HashSet;

use ipnet::IpNet;
use serde_json::{Map, Value, json};

use super::{PutCtx, envelope, require_ref, str_at};
use crate::error::ArmError;

const PG_DELEGATION: &str = "Microsoft.DBforPostgreSQL/flexibleServers";

/// Gives each inline child under `properties.{key}` its id, type and etag; names required.
pub(super) fn normalize_children(
    parent_id: &str,
    parent_type: &str,
    key: &str,
    props: &mut Map<String, Value>,
) -> Result<(), ArmError> {
    let Some(arr) = props.get_mut(key) else {
        return Ok(());
    };
    let Some(items) = arr.as_array_mut() else {
        return Err(ArmError::invalid(
            &format!("properties.{key}"),
            "must be an array",
        ));
    };
    let mut seen = HashSet::new();
    for (i, item) in items.iter_mut().enumerate() {
        let Some(name) = item.get("name").and_then(Value::as_str).map(str::to_string) else {
            return Err(ArmError::invalid(
                &format!("properties.{key}[{i}].name"),
                "is required",
            ));
        };
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(ArmError::bad_request(
                "InvalidRequestFormat",
                format!("Duplicate name '{name}' in properties.{key}."),
            ));
        }
        let obj = item.as_object_mut().ok_or_else(|| {
            ArmError::invalid(&format!("properties.{key}[{i}]"), "must be an object")
        })?;
        obj.insert("id".into(), format!("{parent_id}/{key}/{name}").into());
        obj.insert("type".into(), format!("{parent_type}/{key}").into());
        obj.insert(
            "etag".into(),
            format!("W/\"{}\"", uuid::Uuid::new_v4()).into(),
        );
        let p = obj.entry("properties").or_insert_with(|| json!({}));
        if let Some(p) = p.as_object_mut() {
            p.insert("provisioningState".into(), "Succeeded".into());
        }
    }
    Ok(())
}

fn parse_prefix(s: &str, path: &str) -> Result<IpNet, ArmError> {
    s.parse::<IpNet>().map_err(|_| {
        ArmError::bad_request(
            "InvalidAddressPrefixFormat",
            format!("{path}: '{s}' is not a valid CIDR prefix."),
        )
    })
}

/// `Microsoft.Network/virtualNetworks` with inline subnets (PUT replaces the subnet list).
pub fn virtual_network(ctx: &PutCtx, input: &Value) -> Result<Value, ArmError> {
    let mut body = envelope(ctx, input, &[])?;
    let props = super::props_of(body.get_mut("properties"))?;
    let space: Vec<IpNet> = match props.pointer_addr_prefixes() {
        Some(list) if !list.is_empty() => list
            .iter()
            .enumerate()
            .map(|(i, p)| parse_prefix(p, &format!("properties.addressSpace.addressPrefixes[{i}]")))
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ArmError::invalid(
                "properties.addressSpace.addressPrefixes",
                "is required",
            ));
        }
    };
    normalize_children(ctx.id, ctx.spec.rtype, "subnets", props)?;
    let subnets = props
        .get("subnets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut prefixes: Vec<(String, IpNet)> = Vec::new();
    for s in &subnets {
        let name = s["name"].as_str().unwrap_or_default();
        let path = format!("properties.subnets[{name}]");
        let p = str_at(s, "/properties/addressPrefix")
            .or_else(|| str_at(s, "/properties/addressPrefixes/0"))
            .ok_or_else(|| {
                ArmError::invalid(&format!("{path}.properties.addressPrefix"), "is required")
            })?;
        let net = parse_prefix(p, &path)?;
        if !space.iter().any(|v| v.contains(&net)) {
            return Err(ArmError::bad_request(
                "NetcfgSubnetRangeOutsideVnet",
                format!(
                    "Subnet '{name}' is not valid because its IP address range {net} is outside the range of the virtual network."
                ),
            ));
        }
        if let Some((other, _)) = prefixes
            .iter()
            .find(|(_, o)| o.contains(&net) || net.contains(o))
        {
            return Err(ArmError::bad_request(
                "NetcfgSubnetRangesOverlap",
                format!(
                    "Subnet '{name}' is not valid because its IP address range overlaps with that of subnet '{other}'."
                ),
            ));
        }
        prefixes.push((name.to_string(), net));
        if let Some(nsg) = str_at(s, "/properties/networkSecurityGroup/id") {
            require_ref(
                ctx.store,
                nsg,
                "Microsoft.Network/networkSecurityGroups",
                &format!("{path}.networkSecurityGroup"),
            )?;
        }
        if let Some(nat) = str_at(s, "/properties/natGateway/id") {
            require_ref(
                ctx.store,
                nat,
                "Microsoft.Network/natGateways",
                &format!("{path}.natGateway"),
            )?;
        }
    }
    // Delegations carry their own ids and the actions the service gets.
    if let Some(arr) = props.get_mut("subnets").and_then(Value::as_array_mut) {
        for s in arr {
            let sid = s["id"].as_str().unwrap_or_default().to_string();
            let Some(dels) = s
                .pointer_mut("/properties/delegations")
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for d in dels {
                let service = str_at(d, "/properties/serviceName")
                    .ok_or_else(|| {
                        ArmError::invalid(
                            "subnet.properties.delegations[].properties.serviceName",
                            "is required",
                        )
                    })?
                    .to_string();
                let name = d["name"].as_str().unwrap_or(&service).to_string();
                let actions = if service.eq_ignore_ascii_case(PG_DELEGATION) {
                    json!(["Microsoft.Network/virtualNetworks/subnets/join/action"])
                } else {
                    json!([])
                };
                *d = json!({"name": name, "id": format!("{sid}/delegations/{name}"),
                    "type": "Microsoft.Network/virtualNetworks/subnets/delegations",
                    "properties": {"serviceName": service, "actions": actions, "provisioningState": "Succeeded"}});
            }
        }
    }
    // Subnets left out of the PUT are deleted, which ARM refuses while something uses them.
    if let Some(old) = ctx.existing {
        let keep: HashSet<String> = subnets
            .iter()
            .filter_map(|s| s["name"].as_str())
            .map(str::to_ascii_lowercase)
            .collect();
        for s in old.body["properties"]["subnets"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let (Some(name), Some(id)) = (s["name"].as_str(), s["id"].as_str()) else {
                continue;
            };
            if !keep.contains(&name.to_ascii_lowercase())
                && !ctx.store.referrers(id, &HashSet::new()).is_empty()
            {
                return Err(ArmError::bad_request(
                    "InUseSubnetCannotBeDeleted",
                    format!("Subnet {name} is in use and cannot be deleted."),
                ));
            }
        }
    }
    Ok(Value::Object(body))
}

trait AddrPrefixes {
    fn pointer_addr_prefixes(&self) -> Option<Vec<String>>;
}

impl AddrPrefixes for Map<String, Value> {
    fn pointer_addr_prefixes(&self) -> Option<Vec<String>> {
        let arr = self
            .get("addressSpace")?
            .get("addressPrefixes")?
            .as_array()?;
        Some(
            arr.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        )
    }
}

fn default_rules(nsg_id: &str) -> Value {
    let rule = |name: &str, prio: u32, dir: &str, access: &str, src: &str, dst: &str| {
        json!({"name": name, "id": format!("{nsg_id}/defaultSecurityRules/{name}"),
            "type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
            "properties": {"protocol": "*", "sourcePortRange": "*", "destinationPortRange": "*",
                "sourceAddressPrefix": src, "destinationAddressPrefix": dst, "access": access,
                "priority": prio, "direction": dir, "provisioningState": "Succeeded"}})
    };
    json!([
        rule(
            "AllowVnetInBound",
            65000,
            "Inbound",
            "Allow",
            "VirtualNetwork",
            "VirtualNetwork"
        ),
        rule(
            "AllowAzureLoadBalancerInBound",
            65001,
            "Inbound",
            "Allow",
            "AzureLoadBalancer",
            "*"
        ),
        rule("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*"),
        rule(
            "AllowVnetOutBound",
            65000,
            "Outbound",
            "Allow",
            "VirtualNetwork",
            "VirtualNetwork"
        ),
        rule(
            "AllowInternetOutBound",
            65001,
            "Outbound",
            "Allow",
            "*",
            "Internet"
        ),
        rule("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*"),
    ])
}

/// `Microsoft.Network/networkSecurityGroups` with inline `securityRules`.
pub fn security_group(ctx: &PutCtx, input: &Value) -> Result<Value, ArmError> {
    let mut body = envelope(
        ctx,
        input,
        &["defaultSecurityRules", "subnets", "networkInterfaces"],
    )?;
    let props = super::props_of(body.get_mut("properties"))?;
    normalize_children(ctx.id, ctx.spec.rtype, "securityRules", props)?;
    let mut seen: HashSet<(String, u64)> = HashSet::new();
    for r in props
        .get("securityRules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = r["name"].as_str().unwrap_or_default();
        let p = &r["properties"];
        let field = |f: &str| format!("securityRules[{name}].properties.{f}");
        let one_of = |f: &str, allowed: &[&str]| -> Result<String, ArmError> {
            let v = p[f]
                .as_str()
                .ok_or_else(|| ArmError::invalid(&field(f), "is required"))?;
            allowed
                .iter()
                .find(|a| a.eq_ignore_ascii_case(v))
                .map(|a| a.to_string())
                .ok_or_else(|| {
                    ArmError::bad_request(
                        "SecurityRuleParameterContainsUnsupportedValue",
                        format!("{} '{v}' is not one of {allowed:?}.", field(f)),
                    )
                })
        };
        one_of("access", &["Allow", "Deny"])?;
        let dir = one_of("direction", &["Inbound", "Outbound"])?;
        one_of("protocol", &["Tcp", "Udp", "Icmp", "Esp", "Ah", "*"])?;
        let prio = p["priority"]
            .as_u64()
            .ok_or_else(|| ArmError::invalid(&field("priority"), "is required"))?;
        if !(100..=4096).contains(&prio) {
            return Err(ArmError::bad_request(
                "SecurityRuleInvalidPriority",
                format!("{} {prio} is outside 100-4096.", field("priority")),
            ));
        }
        if !seen.insert((dir.clone(), prio)) {
            return Err(ArmError::bad_request(
                "SecurityRuleConflict",
                format!(
                    "Security rule {name} has the same priority {prio} and direction {dir} as another rule."
                ),
            ));
        }
    }
    props.insert("defaultSecurityRules".into(), default_rules(ctx.id));
    Ok(Value::Object(body))
}
