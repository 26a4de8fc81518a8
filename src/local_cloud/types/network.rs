//! Microsoft.Network types: VNet with subnets, NSG, public IP, load balancer, NAT gateway,
//! NIC, private DNS zone and its VNet links.

use std::collections::HashSet;

use ipnet::IpNet;
use serde_json::{Map, Value, json};

use super::super::error::ArmError;
use super::{PutCtx, envelope, find_subnet, ipam, require_ref, str_at};

const PG_DELEGATION: &str = "Microsoft.DBforPostgreSQL/flexibleServers";

/// Gives each inline child under `properties.{key}` its id, type and etag; names required.
fn normalize_children(
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
    let props = body
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .expect("envelope has properties");
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
    let props = body
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .expect("envelope has properties");
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

/// `Microsoft.Network/publicIPAddresses`: Static ones get an address from TEST-NET at once.
pub fn public_ip(ctx: &PutCtx, input: &Value) -> Result<Value, ArmError> {
    let mut body = envelope(ctx, input, &["ipAddress", "ipConfiguration"])?;
    let standard = str_at(input, "/sku/name").is_some_and(|s| s.eq_ignore_ascii_case("Standard"));
    if !body.contains_key("sku") {
        body.insert("sku".into(), json!({"name": "Basic", "tier": "Regional"}));
    }
    let location = body["location"].as_str().unwrap_or_default().to_string();
    let props = body
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .expect("envelope has properties");
    let method = props
        .get("publicIPAllocationMethod")
        .and_then(Value::as_str)
        .unwrap_or("Dynamic")
        .to_string();
    if standard && !method.eq_ignore_ascii_case("Static") {
        return Err(ArmError::bad_request(
            "StandardSkuPublicIPAddressesMustBeStatic",
            "Standard sku publicIp addresses must have the allocation method Static.",
        ));
    }
    props.insert("publicIPAllocationMethod".into(), method.clone().into());
    props
        .entry("publicIPAddressVersion")
        .or_insert_with(|| "IPv4".into());
    props
        .entry("idleTimeoutInMinutes")
        .or_insert_with(|| 4.into());
    if let Some(label) = props.get_mut("dnsSettings").and_then(|d| d.as_object_mut()) {
        if let Some(l) = label
            .get("domainNameLabel")
            .and_then(Value::as_str)
            .map(str::to_string)
        {
            label.insert(
                "fqdn".into(),
                format!("{l}.{location}.cloudapp.azure.com").into(),
            );
        }
    }
    let old = ctx
        .existing
        .and_then(|e| str_at(&e.body, "/properties/ipAddress"));
    let ip = match old {
        Some(ip) => Some(ip.to_string()),
        None if method.eq_ignore_ascii_case("Static") => {
            Some(ipam::allocate_public(ctx.store, &HashSet::new())?.to_string())
        }
        None => None,
    };
    if let Some(ip) = ip {
        props.insert("ipAddress".into(), ip.into());
    }
    if let Some(cfg) = ctx
        .existing
        .and_then(|e| e.body.pointer("/properties/ipConfiguration"))
    {
        props.insert("ipConfiguration".into(), cfg.clone());
    }
    Ok(Value::Object(body))
}

const LB_CHILDREN: [&str; 6] = [
    "frontendIPConfigurations",
    "backendAddressPools",
    "probes",
    "loadBalancingRules",
    "inboundNatRules",
    "outboundRules",
];

/// `Microsoft.Network/loadBalancers`: children reference each other by id inside one body.
pub fn load_balancer(ctx: &PutCtx, input: &Value) -> Result<Value, ArmError> {
    let mut body = envelope(ctx, input, &["inboundNatPools"])?;
    let props = body
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .expect("envelope has properties");
    let mut own_ids = HashSet::new();
    for key in LB_CHILDREN {
        normalize_children(ctx.id, ctx.spec.rtype, key, props)?;
        for c in props
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            own_ids.insert(c["id"].as_str().unwrap_or_default().to_ascii_lowercase());
        }
    }
    for fe in props
        .get("frontendIPConfigurations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(pip) = str_at(fe, "/properties/publicIPAddress/id") {
            require_ref(
                ctx.store,
                pip,
                "Microsoft.Network/publicIPAddresses",
                "frontendIPConfigurations.publicIPAddress",
            )?;
        }
        if let Some(sn) = str_at(fe, "/properties/subnet/id") {
            find_subnet(ctx.store, sn, "frontendIPConfigurations.subnet")?;
        }
    }
    // Every reference from a rule into this load balancer must name one of its children.
    let self_prefix = format!("{}/", ctx.id.to_ascii_lowercase());
    let mut refs = Vec::new();
    for key in &LB_CHILDREN[3..] {
        for c in props
            .get(*key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect_ref_ids(&c["properties"], &mut refs);
        }
    }
    for r in refs {
        let l = r.to_ascii_lowercase();
        if l.starts_with(&self_prefix) && !own_ids.contains(&l) {
            return Err(ArmError::bad_request(
                "InvalidResourceReference",
                format!(
                    "Resource {r} referenced by resource {} was not found.",
                    ctx.id
                ),
            ));
        }
    }
    Ok(Value::Object(body))
}

fn collect_ref_ids(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, x)| match x {
            Value::String(s) if k == "id" => out.push(s.clone()),
            _ => collect_ref_ids(x, out),
        }),
        Value::Array(a) => a.iter().for_each(|x| collect_ref_ids(x, out)),
        _ => {}
    }
}

/// `Microsoft.Network/natGateways`.
pub fn nat_gateway(ctx: &PutCtx, input: &Value) -> Result<Value, ArmError> {
    let mut body = envelope(ctx, input, &["subnets"])?;
    if !body.contains_key("sku") {
        body.insert("sku".into(), json!({"name": "Standard"}));
    }
    for p in input
        .pointer("/properties/publicIpAddresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = p["id"]
            .as_str()
            .ok_or_else(|| ArmError::invalid("properties.publicIpAddresses[].id", "is required"))?;
        require_ref(
            ctx.store,
            id,
            "Microsoft.Network/publicIPAddresses",
            "properties.publicIpAddresses",
        )?;
    }
    Ok(Value::Object(body))
}

/// `Microsoft.Network/networkInterfaces` (scale sets make most of them).
pub fn network_interface(ctx: &PutCtx, input: &Value) -> Result<Value, ArmError> {
    let mut body = envelope(ctx, input, &["virtualMachine", "macAddress"])?;
    let props = body
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .expect("envelope has properties");
    normalize_children(ctx.id, ctx.spec.rtype, "ipConfigurations", props)?;
    let cfgs = props
        .get_mut("ipConfigurations")
        .and_then(Value::as_array_mut);
    let Some(cfgs) = cfgs.filter(|c| !c.is_empty()) else {
        return Err(ArmError::invalid(
            "properties.ipConfigurations",
            "is required",
        ));
    };
    let mut taken = HashSet::new();
    for cfg in cfgs.iter_mut() {
        let sid = str_at(cfg, "/properties/subnet/id")
            .ok_or_else(|| {
                ArmError::invalid("ipConfigurations[].properties.subnet.id", "is required")
            })?
            .to_string();
        let (_, subnet) = find_subnet(ctx.store, &sid, "ipConfigurations.subnet")?;
        if let Some(pip) = str_at(cfg, "/properties/publicIPAddress/id") {
            require_ref(
                ctx.store,
                pip,
                "Microsoft.Network/publicIPAddresses",
                "ipConfigurations.publicIPAddress",
            )?;
        }
        let static_ip = str_at(cfg, "/properties/privateIPAllocationMethod")
            .is_some_and(|m| m.eq_ignore_ascii_case("Static"));
        let ip = match str_at(cfg, "/properties/privateIPAddress") {
            Some(ip) if static_ip => ip.to_string(),
            _ => {
                let prefix = ipam::subnet_prefix(subnet)
                    .ok_or_else(|| ArmError::invalid("subnet", "has no IPv4 prefix"))?;
                ipam::allocate_private(ctx.store, &sid, prefix, ctx.id, &taken)?.to_string()
            }
        };
        if let Ok(a) = ip.parse() {
            taken.insert(a);
        }
        cfg["properties"]["privateIPAddress"] = ip.into();
        cfg["properties"]["privateIPAddressVersion"] = "IPv4".into();
        if !static_ip {
            cfg["properties"]["privateIPAllocationMethod"] = "Dynamic".into();
        }
    }
    if let Some(vm) = ctx
        .existing
        .and_then(|e| e.body.pointer("/properties/virtualMachine"))
    {
        props.insert("virtualMachine".into(), vm.clone());
    }
    Ok(Value::Object(body))
}

/// `Microsoft.Network/privateDnsZones` (location `global`).
pub fn private_dns_zone(ctx: &PutCtx, input: &Value) -> Result<Value, ArmError> {
    if !ctx.name.contains('.') {
        return Err(ArmError::bad_request(
            "InvalidPrivateDnsZoneName",
            format!("'{}' is not a valid DNS zone name.", ctx.name),
        ));
    }
    let mut body = envelope(
        ctx,
        input,
        &[
            "numberOfRecordSets",
            "maxNumberOfRecordSets",
            "numberOfVirtualNetworkLinks",
        ],
    )?;
    let props = body
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .expect("envelope has properties");
    props.remove("resourceGuid");
    props.insert("maxNumberOfRecordSets".into(), 25000.into());
    props.insert("numberOfRecordSets".into(), 1.into());
    props.insert("maxNumberOfVirtualNetworkLinks".into(), 1000.into());
    Ok(Value::Object(body))
}

/// `Microsoft.Network/privateDnsZones/virtualNetworkLinks` (location `global`).
pub fn dns_link(ctx: &PutCtx, input: &Value) -> Result<Value, ArmError> {
    let mut body = envelope(ctx, input, &["virtualNetworkLinkState"])?;
    let vnet = str_at(input, "/properties/virtualNetwork/id")
        .ok_or_else(|| ArmError::invalid("properties.virtualNetwork.id", "is required"))?;
    require_ref(
        ctx.store,
        vnet,
        "Microsoft.Network/virtualNetworks",
        "properties.virtualNetwork",
    )?;
    let props = body
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .expect("envelope has properties");
    props.remove("resourceGuid");
    props.entry("registrationEnabled").or_insert(false.into());
    props.insert("virtualNetworkLinkState".into(), "Completed".into());
    Ok(Value::Object(body))
}
