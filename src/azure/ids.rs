//! ARM resource ids: building them and reading their parts.

/// `/subscriptions/{sub}/resourceGroups/{rg}`.
pub fn resource_group(subscription: &str, group: &str) -> String {
    format!("/subscriptions/{subscription}/resourceGroups/{group}")
}

/// `/subscriptions/{sub}/resourceGroups/{rg}/providers/{type}/{name}`, where `type` is
/// `Namespace/typeName` (for example `Microsoft.Network/virtualNetworks`).
pub fn resource(subscription: &str, group: &str, resource_type: &str, name: &str) -> String {
    format!(
        "{}/providers/{resource_type}/{name}",
        resource_group(subscription, group)
    )
}

/// A child resource id: `{parent}/{child_type}/{name}` (for example a subnet of a VNet).
pub fn child(parent: &str, child_type: &str, name: &str) -> String {
    format!("{parent}/{child_type}/{name}")
}

/// The last segment of an id (the resource name).
pub fn name_of(id: &str) -> &str {
    id.trim_end_matches('/').rsplit('/').next().unwrap_or(id)
}

/// The full resource type of an id, such as `Microsoft.Network/virtualNetworks/subnets`.
/// Returns `None` for ids without a `providers` segment (subscriptions, resource groups).
pub fn type_of(id: &str) -> Option<String> {
    let segs: Vec<&str> = id.trim_matches('/').split('/').collect();
    let p = segs
        .iter()
        .rposition(|s| s.eq_ignore_ascii_case("providers"))?;
    let rest = &segs[p + 1..];
    if rest.len() < 3 {
        return None;
    }
    let mut t = vec![rest[0], rest[1]];
    // After namespace/type/name come pairs of child type/name.
    let mut i = 3;
    while i + 1 < rest.len() {
        t.push(rest[i]);
        i += 2;
    }
    Some(t.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_reads_ids() {
        let vnet = resource("s1", "rg", "Microsoft.Network/virtualNetworks", "v");
        assert_eq!(
            vnet,
            "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"
        );
        let subnet = child(&vnet, "subnets", "nodes");
        assert_eq!(name_of(&subnet), "nodes");
        assert_eq!(
            type_of(&subnet).as_deref(),
            Some("Microsoft.Network/virtualNetworks/subnets")
        );
        assert_eq!(type_of(&resource_group("s1", "rg")), None);
    }
}
