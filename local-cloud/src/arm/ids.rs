//! The few ARM resource-id helpers the local cloud needs (its own, not the client's: the
//! server must not borrow what it is meant to check).

/// `/subscriptions/{sub}/resourceGroups/{rg}`.
pub fn resource_group(subscription: &str, group: &str) -> String {
    format!("/subscriptions/{subscription}/resourceGroups/{group}")
}

/// The last segment of an id (the resource name).
pub fn name_of(id: &str) -> &str {
    id.trim_end_matches('/').rsplit('/').next().unwrap_or(id)
}

/// The full resource type of an id, such as `Microsoft.Network/virtualNetworks/subnets`:
/// namespace and type after the last `providers`, then every child type. `None` for ids
/// without a `providers` segment (subscriptions, resource groups).
pub fn type_of(id: &str) -> Option<String> {
    let segs: Vec<&str> = id.trim_matches('/').split('/').collect();
    let p = segs
        .iter()
        .rposition(|s| s.eq_ignore_ascii_case("providers"))?;
    let rest = &segs[p + 1..];
    if rest.len() < 3 {
        return None;
    }
    // After namespace/type/name come pairs of child type/name (a trailing type is no id).
    let children = rest[3..].chunks_exact(2).map(|pair| pair[0]);
    let parts: Vec<&str> = [rest[0], rest[1]].into_iter().chain(children).collect();
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_and_types() {
        let rg = resource_group("s1", "rg");
        assert_eq!(rg, "/subscriptions/s1/resourceGroups/rg");
        let subnet = format!("{rg}/providers/Microsoft.Network/virtualNetworks/v/subnets/nodes");
        assert_eq!(name_of(&subnet), "nodes");
        assert_eq!(
            type_of(&subnet).as_deref(),
            Some("Microsoft.Network/virtualNetworks/subnets")
        );
        assert_eq!(
            type_of(&format!("{rg}/providers/Microsoft.Compute/disks/d")).as_deref(),
            Some("Microsoft.Compute/disks")
        );
        assert_eq!(type_of(&rg), None);
    }
}
