//! Microsoft.Compute: Flexible scale sets that create VMs, NICs and public IPs, VM listing
//! filters and instance views.

use std::collections::HashSet;

use base64::Engine;
use serde_json::{Value, json};

use super::super::store::{Res, Store};
use super::{PutCtx, envelope, find_subnet, ipam, require_ref, str_at};
use crate::error::ArmError;

const VM: &str = "Microsoft.Compute/virtualMachines";
const NIC: &str = "Microsoft.Network/networkInterfaces";
const PIP: &str = "Microsoft.Network/publicIPAddresses";
/// ARM's customData limit: "The maximum length of the binary array is 65535 bytes".
const CUSTOM_DATA_MAX: usize = 65535;

fn missing(field: &str) -> ArmError {
    let mut e = ArmError::bad_request(
        "InvalidParameter",
        format!("Required parameter '{field}' is missing (null)."),
    );
    e.detail.message.push_str(&format!(" Target: '{field}'."));
    e
}

fn invalid(field: &str, why: &str) -> ArmError {
    ArmError::bad_request(
        "InvalidParameter",
        format!("The value of parameter {field} is invalid: {why}. Target: '{field}'."),
    )
}

/// `Microsoft.Compute/virtualMachineScaleSets`, Flexible orchestration only.
pub fn scale_set(ctx: &PutCtx, input: &Value) -> Result<Value, ArmError> {
    let mut body = Value::Object(envelope(ctx, input, &["uniqueId", "timeCreated"])?);
    str_at(input, "/sku/name").ok_or_else(|| missing("sku.name"))?;
    let capacity = match input.pointer("/sku/capacity") {
        None | Some(Value::Null) => ctx
            .existing
            .and_then(|e| e.body.pointer("/sku/capacity"))
            .and_then(Value::as_u64)
            .unwrap_or(0),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| invalid("sku.capacity", "must be a non-negative integer"))?,
    };
    if capacity > 1000 {
        return Err(invalid("sku.capacity", "at most 1000 instances"));
    }
    body["sku"]["capacity"] = capacity.into();
    let mode = str_at(input, "/properties/orchestrationMode")
        .ok_or_else(|| missing("orchestrationMode"))?;
    if !mode.eq_ignore_ascii_case("Flexible") {
        return Err(invalid(
            "orchestrationMode",
            "the local cloud emulates Flexible orchestration only",
        ));
    }
    if let Some(old) = ctx
        .existing
        .and_then(|e| str_at(&e.body, "/properties/orchestrationMode"))
        && !old.eq_ignore_ascii_case(mode)
    {
        return Err(ArmError::bad_request(
            "PropertyChangeNotAllowed",
            "Changing property 'orchestrationMode' is not allowed.",
        ));
    }
    input
        .pointer("/properties/platformFaultDomainCount")
        .and_then(Value::as_u64)
        .ok_or_else(|| missing("platformFaultDomainCount"))?;
    let profile = input
        .pointer("/properties/virtualMachineProfile")
        .ok_or_else(|| missing("virtualMachineProfile"))?;
    profile
        .pointer("/storageProfile/imageReference")
        .ok_or_else(|| missing("virtualMachineProfile.storageProfile.imageReference"))?;
    str_at(profile, "/osProfile/adminUsername")
        .ok_or_else(|| missing("virtualMachineProfile.osProfile.adminUsername"))?;
    let keys = profile
        .pointer("/osProfile/linuxConfiguration/ssh/publicKeys")
        .and_then(Value::as_array)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            missing("virtualMachineProfile.osProfile.linuxConfiguration.ssh.publicKeys")
        })?;
    for k in keys {
        let data = k["keyData"].as_str().unwrap_or_default();
        if !(data.starts_with("ssh-") || data.starts_with("ecdsa-")) {
            return Err(ArmError::bad_request(
                "InvalidParameter",
                "The value of parameter linuxConfiguration.ssh.publicKeys.keyData is invalid.",
            ));
        }
        k["path"]
            .as_str()
            .ok_or_else(|| missing("linuxConfiguration.ssh.publicKeys.path"))?;
    }
    if let Some(cd) = str_at(profile, "/osProfile/customData") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(cd)
            .map_err(|_| invalid("customData", "not base64"))?;
        if raw.len() > CUSTOM_DATA_MAX {
            return Err(invalid("customData", "longer than 65535 bytes"));
        }
    }
    str_at(profile, "/networkProfile/networkApiVersion")
        .ok_or_else(|| missing("virtualMachineProfile.networkProfile.networkApiVersion"))?;
    let nics = profile
        .pointer("/networkProfile/networkInterfaceConfigurations")
        .and_then(Value::as_array)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            missing("virtualMachineProfile.networkProfile.networkInterfaceConfigurations")
        })?;
    for nic in nics {
        nic["name"]
            .as_str()
            .ok_or_else(|| missing("networkInterfaceConfigurations.name"))?;
        if let Some(nsg) = str_at(nic, "/properties/networkSecurityGroup/id") {
            require_ref(
                ctx.store,
                nsg,
                "Microsoft.Network/networkSecurityGroups",
                "networkInterfaceConfigurations.networkSecurityGroup",
            )?;
        }
        let cfgs = nic
            .pointer("/properties/ipConfigurations")
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty());
        for cfg in cfgs
            .ok_or_else(|| missing("networkInterfaceConfigurations.properties.ipConfigurations"))?
        {
            cfg["name"]
                .as_str()
                .ok_or_else(|| missing("ipConfigurations.name"))?;
            let sid = str_at(cfg, "/properties/subnet/id")
                .ok_or_else(|| missing("ipConfigurations.properties.subnet.id"))?;
            find_subnet(ctx.store, sid, "ipConfigurations.subnet")?;
            for pool in cfg
                .pointer("/properties/loadBalancerBackendAddressPools")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let id = pool["id"].as_str().unwrap_or_default();
                let lb_id = id.split("/backendAddressPools/").next().unwrap_or_default();
                let lb = require_ref(
                    ctx.store,
                    lb_id,
                    "Microsoft.Network/loadBalancers",
                    "loadBalancerBackendAddressPools",
                )?;
                let known = lb
                    .body
                    .pointer("/properties/backendAddressPools")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|p| p["id"].as_str().is_some_and(|p| p.eq_ignore_ascii_case(id)));
                if !known {
                    return Err(ArmError::bad_request(
                        "InvalidResourceReference",
                        format!(
                            "Resource {id} referenced by loadBalancerBackendAddressPools was not found."
                        ),
                    ));
                }
            }
        }
    }
    // Secrets and write-only fields are not returned by GET.
    if let Some(os) = body
        .pointer_mut("/properties/virtualMachineProfile/osProfile")
        .and_then(Value::as_object_mut)
    {
        os.remove("customData");
        os.remove("adminPassword");
    }
    let props = super::props_of(body.get_mut("properties"))?;
    props.remove("resourceGuid");
    let (uid, created) = match ctx.existing {
        Some(e) => (
            e.body["properties"]["uniqueId"].clone(),
            e.body["properties"]["timeCreated"].clone(),
        ),
        None => (
            uuid::Uuid::new_v4().to_string().into(),
            super::super::ops::rfc3339(super::super::ops::now_ms()).into(),
        ),
    };
    props.insert("uniqueId".into(), uid);
    props.insert("timeCreated".into(), created);
    Ok(body)
}

/// Brings the scale set's VM count to `sku.capacity`: new VMs (with NICs and public IPs)
/// settle with `op_id`; surplus VMs are returned to be removed when it succeeds.
pub fn reconcile_scale_set(
    store: &mut Store,
    vmss_id: &str,
    op_id: &str,
) -> Result<(Vec<String>, Vec<String>), ArmError> {
    let Some(vmss) = store.get(vmss_id).cloned() else {
        return Ok((vec![], vec![]));
    };
    let key = vmss.key();
    let capacity = vmss
        .body
        .pointer("/sku/capacity")
        .and_then(Value::as_u64)
        .unwrap_or(0) as usize;
    let mut current: Vec<&Res> = store
        .resources
        .values()
        .filter(|r| {
            r.rtype == VM
                && r.owner.as_deref() == Some(key.as_str())
                && r.provisioning_state() != Some("Deleting")
        })
        .collect();
    current.sort_by_key(|r| r.seq);
    if current.len() > capacity {
        let removes: Vec<String> = current[capacity..].iter().map(|r| r.key()).collect();
        for k in &removes {
            if let Some(r) = store.resources.get_mut(k) {
                super::super::store::set_state(&mut r.body, super::super::store::Phase::Deleting);
                r.pending_op = Some(op_id.to_string());
            }
        }
        return Ok((vec![], removes));
    }
    let mut created = Vec::new();
    for _ in current.len()..capacity {
        created.push(create_vm(store, &vmss, op_id)?);
    }
    Ok((created, vec![]))
}

fn create_vm(store: &mut Store, vmss: &Res, op_id: &str) -> Result<String, ArmError> {
    let vmss_name = vmss.name().to_string();
    let rg_prefix = vmss
        .id
        .split("/providers/")
        .next()
        .unwrap_or_default()
        .to_string();
    let hex = || uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let mut name = format!("{vmss_name}_{}", hex());
    let vm_id = loop {
        let id = format!("{rg_prefix}/providers/{VM}/{name}");
        if store.get(&id).is_none() {
            break id;
        }
        name = format!("{vmss_name}_{}", hex());
    };
    let vm_key = vm_id.to_ascii_lowercase();
    let profile = &vmss.body["properties"]["virtualMachineProfile"];
    let location = vmss.location().unwrap_or_default().to_string();
    let mut nic_refs = Vec::new();
    let nics = profile
        .pointer("/networkProfile/networkInterfaceConfigurations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, nic_cfg) in nics.iter().enumerate() {
        let nic_name = format!("{name}-{}", nic_cfg["name"].as_str().unwrap_or("nic"));
        let nic_id = format!("{rg_prefix}/providers/{NIC}/{nic_name}");
        let mut ip_cfgs = Vec::new();
        for cfg in nic_cfg
            .pointer("/properties/ipConfigurations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let cfg_name = cfg["name"].as_str().unwrap_or("ipconfig");
            let cfg_id = format!("{nic_id}/ipConfigurations/{cfg_name}");
            let sid = str_at(cfg, "/properties/subnet/id")
                .unwrap_or_default()
                .to_string();
            let (_, subnet) = find_subnet(store, &sid, "ipConfigurations.subnet")?;
            let prefix = ipam::subnet_prefix(subnet)
                .ok_or_else(|| invalid("subnet", "has no IPv4 prefix"))?;
            let ip = ipam::allocate_private(store, &sid, prefix, &nic_id, &HashSet::new())?;
            let mut props = json!({"privateIPAddress": ip.to_string(), "privateIPAllocationMethod": "Dynamic",
                "privateIPAddressVersion": "IPv4", "subnet": {"id": sid},
                "primary": cfg.pointer("/properties/primary").cloned().unwrap_or(json!(true)),
                "provisioningState": "Succeeded"});
            if let Some(pools) = cfg.pointer("/properties/loadBalancerBackendAddressPools") {
                props["loadBalancerBackendAddressPools"] = pools.clone();
            }
            if let Some(pcfg) = cfg.pointer("/properties/publicIPAddressConfiguration") {
                let pip_name = format!("{name}-{}", pcfg["name"].as_str().unwrap_or("pip"));
                let pip_id = format!("{rg_prefix}/providers/{PIP}/{pip_name}");
                let addr = ipam::allocate_public(store, &HashSet::new())?;
                let sku = pcfg
                    .get("sku")
                    .cloned()
                    .unwrap_or(json!({"name": "Standard", "tier": "Regional"}));
                let pip_body = json!({"id": pip_id, "name": pip_name, "type": PIP, "location": location, "sku": sku,
                    "etag": format!("W/\"{}\"", uuid::Uuid::new_v4()),
                    "properties": {"provisioningState": "Succeeded", "resourceGuid": uuid::Uuid::new_v4().to_string(),
                        "ipAddress": addr.to_string(), "publicIPAddressVersion": "IPv4", "publicIPAllocationMethod": "Static",
                        "idleTimeoutInMinutes": pcfg.pointer("/properties/idleTimeoutInMinutes").cloned().unwrap_or(json!(4)),
                        "ipConfiguration": {"id": cfg_id}}});
                store.insert(owned(pip_body, vmss, &vm_key));
                props["publicIPAddress"] = json!({"id": pip_id});
            }
            ip_cfgs.push(json!({"name": cfg_name, "id": cfg_id, "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
                "etag": format!("W/\"{}\"", uuid::Uuid::new_v4()), "properties": props}));
        }
        let primary = nic_cfg
            .pointer("/properties/primary")
            .and_then(Value::as_bool)
            .unwrap_or(i == 0);
        let mut nic_props = json!({"provisioningState": "Succeeded", "resourceGuid": uuid::Uuid::new_v4().to_string(),
            "ipConfigurations": ip_cfgs, "primary": primary, "virtualMachine": {"id": vm_id},
            "enableAcceleratedNetworking": nic_cfg.pointer("/properties/enableAcceleratedNetworking").cloned().unwrap_or(json!(false)),
            "macAddress": mac(), "nicType": "Standard"});
        if let Some(nsg) = nic_cfg.pointer("/properties/networkSecurityGroup") {
            nic_props["networkSecurityGroup"] = nsg.clone();
        }
        let nic_body = json!({"id": nic_id, "name": nic_name, "type": NIC, "location": location,
            "etag": format!("W/\"{}\"", uuid::Uuid::new_v4()), "properties": nic_props});
        store.insert(owned(nic_body, vmss, &vm_key));
        nic_refs.push(json!({"id": nic_id, "properties": {"primary": primary}}));
    }
    let mut os = profile["osProfile"].clone();
    let prefix = os["computerNamePrefix"]
        .as_str()
        .unwrap_or(&vmss_name)
        .to_string();
    if let Some(o) = os.as_object_mut() {
        o.remove("computerNamePrefix");
        o.insert(
            "computerName".into(),
            format!("{prefix}{}", &hex()[..6]).into(),
        );
        o.entry("allowExtensionOperations").or_insert(true.into());
        o.entry("secrets").or_insert(json!([]));
    }
    let mut storage = profile["storageProfile"].clone();
    if storage.get("osDisk").is_some() {
        storage["osDisk"]["name"] =
            format!("{name}_OsDisk_1_{}", uuid::Uuid::new_v4().simple()).into();
        storage["osDisk"]["osType"] = "Linux".into();
    }
    let mut body = json!({"id": vm_id, "name": name, "type": VM, "location": location,
        "properties": {"vmId": uuid::Uuid::new_v4().to_string(),
            "hardwareProfile": {"vmSize": vmss.body.pointer("/sku/name").cloned().unwrap_or(Value::Null)},
            "virtualMachineScaleSet": {"id": vmss.id},
            "storageProfile": storage, "osProfile": os,
            "networkProfile": {"networkInterfaces": nic_refs},
            "provisioningState": "Creating",
            "timeCreated": super::super::ops::rfc3339(super::super::ops::now_ms())}});
    if let Some(z) = vmss.body.get("zones") {
        body["zones"] = z.clone();
    }
    let mut res = owned(body, vmss, &vmss.key());
    res.pending_op = Some(op_id.to_string());
    res.power_state = Some("starting".into());
    store.insert(res);
    Ok(vm_key)
}

fn owned(body: Value, vmss: &Res, owner: &str) -> Res {
    Res {
        id: body["id"].as_str().unwrap_or_default().to_string(),
        rtype: body["type"].as_str().unwrap_or_default().to_string(),
        sub: vmss.sub.clone(),
        group: vmss.group.clone(),
        body,
        hidden: false,
        pending_op: None,
        power_state: None,
        owner: Some(owner.to_string()),
        seq: 0,
    }
}

fn mac() -> String {
    let b = uuid::Uuid::new_v4();
    let b = b.as_bytes();
    format!("00-0D-3A-{:02X}-{:02X}-{:02X}", b[0], b[1], b[2])
}

/// Whether a VM matches an ARM `$filter`; only `virtualMachineScaleSet/id eq '<id>'` is known.
pub fn vm_matches_filter(vm: &Res, filter: &str) -> Result<bool, ArmError> {
    let f = filter.trim();
    let (lhs, rhs) = f.split_once(" eq ").ok_or_else(|| bad_filter(filter))?;
    if !lhs.trim().eq_ignore_ascii_case("virtualMachineScaleSet/id") {
        return Err(bad_filter(filter));
    }
    let want = rhs.trim().trim_matches('\'');
    Ok(str_at(&vm.body, "/properties/virtualMachineScaleSet/id")
        .is_some_and(|id| id.eq_ignore_ascii_case(want)))
}

fn bad_filter(filter: &str) -> ArmError {
    ArmError::bad_request(
        "InvalidParameter",
        format!(
            "The $filter '{filter}' is not supported; use virtualMachineScaleSet/id eq '<id>'."
        ),
    )
}

/// The instance view of a VM: provisioning and power state statuses.
pub fn instance_view(vm: &Res) -> Value {
    let prov = vm
        .provisioning_state()
        .unwrap_or("Succeeded")
        .to_ascii_lowercase();
    let power = vm.power_state.clone().unwrap_or_else(|| "running".into());
    json!({
        "computerName": str_at(&vm.body, "/properties/osProfile/computerName"),
        "osName": "ubuntu",
        "statuses": [
            {"code": format!("ProvisioningState/{prov}"), "level": "Info", "displayStatus": format!("Provisioning {prov}")},
            {"code": format!("PowerState/{power}"), "level": "Info", "displayStatus": format!("VM {power}")},
        ]
    })
}
