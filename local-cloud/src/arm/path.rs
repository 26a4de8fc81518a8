//! Parsing ARM request paths into what they address.

use super::types::{self, TypeSpec};

/// What an ARM URL path addresses.
#[derive(Debug, Clone, PartialEq)]
pub enum ArmPath {
    /// `/subscriptions/{s}/resourcegroups`
    ResourceGroups { sub: String },
    /// `/subscriptions/{s}/resourcegroups/{rg}`
    ResourceGroup { sub: String, group: String },
    /// `/subscriptions/{s}/resourcegroups/{rg}/resources`
    GroupResources { sub: String, group: String },
    /// `/subscriptions/{s}/providers/{ns}/locations/{loc}/{azureAsyncOperation|operationResults}/{id}`
    Operation {
        status: bool,
        /// The provider namespace in the URL (its versions are accepted).
        namespace: String,
        id: String,
    },
    /// A collection of a known type: `.../providers/{ns}/{type}` or `{parent}/{child}`.
    Collection {
        sub: String,
        group: String,
        spec: &'static TypeSpec,
        parent: Option<String>,
    },
    /// One resource of a known type; `id` uses canonical type casing.
    Resource {
        sub: String,
        group: String,
        spec: &'static TypeSpec,
        id: String,
        name: String,
        parent: Option<String>,
    },
    /// `{resource}/{action}` such as `.../virtualMachines/{vm}/start` or `/instanceView`.
    Action {
        sub: String,
        group: String,
        spec: &'static TypeSpec,
        id: String,
        action: String,
    },
}

/// Why a path is not served.
#[derive(Debug, Clone, PartialEq)]
pub enum PathError {
    /// Not an ARM path at all.
    NotFound,
    /// A `providers/...` path of a type the local cloud does not emulate.
    UnknownType { namespace: String, rtype: String },
}

impl ArmPath {
    /// The canonical resource type this path is about, for stats and api-version checks.
    pub fn rtype(&self) -> &'static str {
        match self {
            ArmPath::ResourceGroups { .. } | ArmPath::ResourceGroup { .. } => types::RESOURCE_GROUP,
            ArmPath::GroupResources { .. } => "Microsoft.Resources/resources",
            ArmPath::Operation { .. } => "operations",
            ArmPath::Collection { spec, .. }
            | ArmPath::Resource { spec, .. }
            | ArmPath::Action { spec, .. } => spec.rtype,
        }
    }
}

/// Parses a URL path (without query).
pub fn parse(path: &str) -> Result<ArmPath, PathError> {
    // Names travel percent-encoded (a resource group may be named in any script); ids and
    // names in the store are the decoded text, as ARM returns them.
    let decoded = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(std::borrow::Cow::into_owned)
        })
        .collect::<Result<Vec<String>, _>>()
        .map_err(|_| PathError::NotFound)?;
    let segs: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let is = |i: usize, word: &str| segs.get(i).is_some_and(|s| s.eq_ignore_ascii_case(word));
    if !is(0, "subscriptions") || segs.len() < 3 {
        return Err(PathError::NotFound);
    }
    let sub = segs[1].to_string();
    if is(2, "providers") {
        // Operation status URLs we hand out ourselves.
        if segs.len() == 8 && is(4, "locations") {
            let status = segs[6].eq_ignore_ascii_case("azureAsyncOperation");
            if status || segs[6].eq_ignore_ascii_case("operationResults") {
                return Ok(ArmPath::Operation {
                    status,
                    namespace: segs[3].to_string(),
                    id: segs[7].to_string(),
                });
            }
        }
        return Err(PathError::NotFound);
    }
    if !is(2, "resourcegroups") {
        return Err(PathError::NotFound);
    }
    match segs.len() {
        3 => return Ok(ArmPath::ResourceGroups { sub }),
        4 => {
            return Ok(ArmPath::ResourceGroup {
                sub,
                group: segs[3].to_string(),
            });
        }
        5 if is(4, "resources") => {
            return Ok(ArmPath::GroupResources {
                sub,
                group: segs[3].to_string(),
            });
        }
        _ => {}
    }
    let group = segs[3].to_string();
    if !is(4, "providers") || segs.len() < 7 {
        return Err(PathError::NotFound);
    }
    let rest = &segs[5..];
    let namespace = rest[0];
    // rest = ns, type, name, (child, name)*, [child-collection | action]
    let mut type_parts = vec![rest[1]];
    let mut i = 3;
    while i < rest.len() {
        type_parts.push(rest[i]);
        i += 2;
    }
    let full = format!("{namespace}/{}", type_parts.join("/"));
    let unknown = || PathError::UnknownType {
        namespace: namespace.to_string(),
        rtype: full.clone(),
    };
    let spec = types::spec_for(&full);
    let rg_id = super::ids::resource_group(&sub, &group);
    // Builds the canonical id of the first `n` type segments of `spec` with request names.
    let id_of = |spec: &TypeSpec, names: &[&str]| {
        let canon: Vec<&str> = spec.rtype.split('/').collect();
        let mut id = format!("{rg_id}/providers/{}/{}/{}", canon[0], canon[1], names[0]);
        for (t, n) in canon[2..].iter().zip(names[1..].iter()) {
            id.push_str(&format!("/{t}/{n}"));
        }
        id
    };
    let names: Vec<&str> = rest.iter().skip(2).step_by(2).copied().collect();
    if rest.len() % 2 == 1 {
        // Ends with a name: a resource.
        let spec = spec.ok_or_else(unknown)?;
        let id = id_of(spec, &names);
        let parent =
            (names.len() > 1).then(|| id.rsplitn(3, '/').nth(2).unwrap_or_default().to_string());
        return Ok(ArmPath::Resource {
            sub,
            group,
            spec,
            id,
            name: names[names.len() - 1].to_string(),
            parent,
        });
    }
    // Ends with a type word: a collection, or an action on the resource before it.
    if let Some(spec) = spec {
        let parent = (!names.is_empty()).then(|| {
            let pspec = types::spec_for(
                &full
                    .rsplit_once('/')
                    .map(|(p, _)| p.to_string())
                    .unwrap_or_default(),
            );
            pspec.map(|p| id_of(p, &names)).unwrap_or_default()
        });
        return Ok(ArmPath::Collection {
            sub,
            group,
            spec,
            parent,
        });
    }
    let action = rest[rest.len() - 1].to_string();
    let owner_type = full
        .rsplit_once('/')
        .map(|(p, _)| p.to_string())
        .unwrap_or_default();
    match (names.is_empty(), types::spec_for(&owner_type)) {
        (false, Some(spec)) => Ok(ArmPath::Action {
            sub,
            group,
            id: id_of(spec, &names),
            spec,
            action,
        }),
        _ => Err(unknown()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_resources_collections_and_actions() {
        let p = parse("/subscriptions/s/resourceGroups/rg/providers/microsoft.network/VIRTUALNETWORKS/v/subnets/a").unwrap();
        match p {
            ArmPath::Resource {
                id,
                name,
                parent,
                spec,
                ..
            } => {
                assert_eq!(
                    id,
                    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a"
                );
                assert_eq!(name, "a");
                assert_eq!(spec.rtype, "Microsoft.Network/virtualNetworks/subnets");
                assert_eq!(
                    parent.unwrap(),
                    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines")
                .unwrap(),
            ArmPath::Collection { parent: None, .. }
        ));
        assert!(matches!(
            parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1/start").unwrap(),
            ArmPath::Action { action, .. } if action == "start"
        ));
        assert_eq!(
            parse("/subscriptions/s/resourcegroups/rg").unwrap(),
            ArmPath::ResourceGroup {
                sub: "s".into(),
                group: "rg".into()
            }
        );
        assert!(matches!(
            parse(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x"
            ),
            Err(PathError::UnknownType { .. })
        ));
        assert!(matches!(
            parse("/subscriptions/s/providers/Microsoft.Network/locations/eastus/azureAsyncOperation/abc").unwrap(),
            ArmPath::Operation { status: true, namespace, .. } if namespace == "Microsoft.Network"
        ));
    }
}
