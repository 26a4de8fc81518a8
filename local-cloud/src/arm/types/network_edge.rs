//! Microsoft.Network resources at the edges of the VNet: public IPs, load balancers, NAT
//! gateways, NICs, private DNS zones and their VNet links.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::network::normalize_children;
use super::{PutCtx, envelope, find_subnet, ipam, require_ref, str_at};
use crate::error::ArmError;

/// `Microsoft.Network/publicIPAddresses`: Static ones get an address from TEST-NET at once.
pub fn public_ip(ctx: &PutCtx, input: &Value) -> Result<Value, ArmError> {
    let mut body = envelope(ctx, input, &["ipAddress", "ipConfiguration"])?;
    let standard = str_at(input, "/sku/name").is_some_and(|s| s.eq_ignore_ascii_case("Standard"));
    if !body.contains_key("sku") {
        body.insert("sku".into(), json!({"name": "Basic", "tier": "Regional"}));
    }
    let location = body["location"].as_str().unwrap_or_default().to_string();
    let props = super::props_of(body.get_mut("properties"))?;
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
    if let Some(dns) = props.get_mut("dnsSettings").and_then(|d| d.as_object_mut())
        && let Some(l) = dns
            .get("domainNameLabel")
            .and_then(Value::as_str)
            .map(str::to_string)
    {
        dns.insert(
            "fqdn".into(),
            format!("{l}.{location}.cloudapp.azure.com").into(),
        );
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
    let props = super::props_of(body.get_mut("properties"))?;
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
    let mut taken = HashSet::new();
    for fe in props
        .get_mut("frontendIPConfigurations")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let fe_id = fe["id"].as_str().unwrap_or_default().to_string();
        let pip = str_at(fe, "/properties/publicIPAddress/id").map(str::to_string);
        let subnet = str_at(fe, "/properties/subnet/id").map(str::to_string);
        match (pip, subnet) {
            (Some(_), Some(_)) => {
                return Err(ArmError::bad_request(
                    "FrontendIPConfigHasBothSubnetAndPublicIP",
                    format!(
                        "Frontend IP Configuration {fe_id} must not reference both a Subnet and a Public IP Address."
                    ),
                ));
            }
            (None, None) => {
                return Err(ArmError::bad_request(
                    "FrontendIPConfigHasNoSubnetOrPublicIP",
                    format!(
                        "Frontend IP Configuration {fe_id} must reference either a Subnet or a Public IP Address."
                    ),
                ));
            }
            (Some(pip), None) => {
                require_ref(
                    ctx.store,
                    &pip,
                    "Microsoft.Network/publicIPAddresses",
                    "frontendIPConfigurations.publicIPAddress",
                )?;
            }
            (None, Some(sn)) => {
                let ip = private_frontend(ctx, fe, &sn, &taken)?;
                taken.insert(ip);
            }
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

/// A private frontend's address in subnet `sid`: the `Static` one asked for, checked as
/// Azure checks it, or the lowest free one (`Dynamic`, the default). Written into `fe`.
fn private_frontend(
    ctx: &PutCtx,
    fe: &mut Value,
    sid: &str,
    taken: &HashSet<std::net::Ipv4Addr>,
) -> Result<std::net::Ipv4Addr, ArmError> {
    let (_, subnet) = find_subnet(ctx.store, sid, "frontendIPConfigurations.subnet")?;
    let prefix = ipam::subnet_prefix(subnet)
        .ok_or_else(|| ArmError::invalid("subnet", "has no IPv4 prefix"))?;
    let fixed = str_at(fe, "/properties/privateIPAllocationMethod")
        .is_some_and(|m| m.eq_ignore_ascii_case("Static"));
    let ip = match str_at(fe, "/properties/privateIPAddress") {
        Some(asked) if fixed => {
            let ip: std::net::Ipv4Addr = asked.parse().map_err(|_| {
                ArmError::invalid(
                    "frontendIPConfigurations.properties.privateIPAddress",
                    "is not an IPv4 address",
                )
            })?;
            ipam::check_static(ctx.store, sid, prefix, ip, ctx.id, taken)?;
            ip
        }
        _ => ipam::allocate_private(ctx.store, sid, prefix, ctx.id, taken)?,
    };
    let props = &mut fe["properties"];
    props["privateIPAddress"] = ip.to_string().into();
    props["privateIPAddressVersion"] = "IPv4".into();
    if !fixed {
        props["privateIPAllocationMethod"] = "Dynamic".into();
    }
    Ok(ip)
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
    let props = super::props_of(body.get_mut("properties"))?;
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
    let props = super::props_of(body.get_mut("properties"))?;
    props.remove("resourceGuid");
    // Limits and counts as the 2024-06-01 example shows them.
    let links = ctx
        .store
        .resources
        .keys()
        .filter(|k| {
            k.starts_with(&format!(
                "{}/virtualnetworklinks/",
                ctx.id.to_ascii_lowercase()
            ))
        })
        .count();
    for (k, v) in [
        ("maxNumberOfRecordSets", 5000usize),
        ("numberOfRecordSets", 1),
        ("maxNumberOfVirtualNetworkLinks", 100),
        ("numberOfVirtualNetworkLinks", links),
        ("maxNumberOfVirtualNetworkLinksWithRegistration", 50),
        ("numberOfVirtualNetworkLinksWithRegistration", 0),
    ] {
        props.insert(k.into(), v.into());
    }
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
    let props = super::props_of(body.get_mut("properties"))?;
    props.remove("resourceGuid");
    props.entry("registrationEnabled").or_insert(false.into());
    props.insert("virtualNetworkLinkState".into(), "Completed".into());
    Ok(Value::Object(body))
}
