//! One-line `hint:`s for well-known ARM errors: what the user can do next.

use super::error::{ArmError, ArmErrorDetail, HttpError};
use super::ids;

/// What to do when no credential produced a token.
pub const CREDENTIAL_HINT: &str = "log in with `az login` (and `az account set --subscription <id>`), or export AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a service principal, or set `cloud.credential` to the one source you mean";

impl ArmError {
    /// A one-line hint for the user for well-known ARM error codes (top level or nested).
    pub fn hint(&self) -> Option<String> {
        let (code, details): (&str, &[ArmErrorDetail]) = match self {
            ArmError::Http(e) => {
                if e.code.as_deref() == Some("NoRegisteredProviderFound") {
                    return Some(unregistered_version_hint(e));
                }
                (e.code.as_deref().unwrap_or(""), &e.details)
            }
            ArmError::OperationFailed { code, details, .. } => (code, details),
            ArmError::Credential(_) => return Some(CREDENTIAL_HINT.to_owned()),
            _ => return None,
        };
        std::iter::once(code)
            .chain(details.iter().flat_map(ArmErrorDetail::codes))
            .find_map(hint_for_code)
            .map(str::to_owned)
    }
}

/// `NoRegisteredProviderFound`: ARM has no registration of this resource provider for this
/// (region, api-version) pair. New api-versions reach regions and sovereign clouds weeks
/// apart, so the fix is another region or an older version, not `az provider register`.
fn unregistered_version_hint(e: &HttpError) -> String {
    let (namespace, rtype) = match ids::type_of(&e.resource) {
        Some(t) => match t.split_once('/') {
            Some((ns, rest)) => (ns.to_owned(), rest.to_owned()),
            None => (t, String::new()),
        },
        None => (
            "Microsoft.Resources".to_owned(),
            "resourceGroups".to_owned(),
        ),
    };
    let region = e
        .region
        .as_deref()
        .map_or_else(|| "this region".to_owned(), |r| format!("region {r}"));
    let version = e.api_version.as_deref().unwrap_or("(unknown)");
    format!(
        "{region} (cloud.location) does not offer api-version {version} of {namespace}/{rtype} yet; see the versions it has with `az provider show --namespace {namespace} --query \"resourceTypes[?resourceType=='{rtype}'].apiVersions\"`, then choose a region that offers this one or a platform release pinned to one it offers"
    )
}

/// The hint for one ARM error code.
pub fn hint_for_code(code: &str) -> Option<&'static str> {
    Some(match code {
        "SkuNotAvailable" => {
            "this VM size is not offered in the region or zone for your subscription; pick another size or region (az vm list-skus --location <region>)"
        }
        "QuotaExceeded" | "OperationNotAllowed" | "ResourceQuotaExceeded" => {
            "a subscription quota is exhausted (often regional vCPUs); request a quota increase or use fewer/smaller nodes"
        }
        "AllocationFailed" | "ZonalAllocationFailed" => {
            "Azure has no capacity for this size right now; retry later or choose another size, zone or region"
        }
        "Conflict" => {
            "the resource is in a state that does not allow this change; wait for running operations or check what changed it"
        }
        "AnotherOperationInProgress" | "RetryableErrorDueToAnotherOperation" => {
            "another operation on this resource is still running; wait for it and re-run"
        }
        "ResourceGroupBeingDeleted" => {
            "the resource group is still being deleted; wait until the deletion finishes, then re-run"
        }
        "MissingSubscriptionRegistration" => {
            "the resource provider is not registered for this subscription; run `az provider register --namespace <Namespace>`"
        }
        "AuthorizationFailed" => {
            "the identity lacks permission for this action; grant it a role such as Contributor on the subscription or resource group"
        }
        "RequestDisallowedByPolicy" => {
            "an Azure Policy assignment blocks this request; see the policy named in the error details or ask your subscription admin"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::error::sample_http_error as http;

    #[test]
    fn hints_cover_top_level_and_nested_codes() {
        let h = |e: ArmError| e.hint().unwrap_or_default();
        assert!(h(http("SkuNotAvailable", vec![])).contains("size"));
        assert!(http("ResourceGroupBeingDeleted", vec![]).hint().is_some());
        let nested = ArmErrorDetail {
            code: "QuotaExceeded".into(),
            ..Default::default()
        };
        assert!(h(http("InvalidTemplateDeployment", vec![nested])).contains("quota"));
        assert_eq!(http("SomethingElse", vec![]).hint(), None);
        for c in [
            "OperationNotAllowed",
            "ResourceQuotaExceeded",
            "AllocationFailed",
            "Conflict",
            "AnotherOperationInProgress",
            "MissingSubscriptionRegistration",
            "AuthorizationFailed",
            "RequestDisallowedByPolicy",
        ] {
            assert!(hint_for_code(c).is_some(), "{c}");
        }
    }

    #[test]
    fn unregistered_version_names_region_version_and_type() {
        let e = ArmError::Http(Box::new(HttpError {
            method: "PUT",
            resource: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/demo-servers".into(),
            status: 400,
            code: Some("NoRegisteredProviderFound".into()),
            message: "No registered resource provider found for location 'usgovvirginia' and API version '2025-04-01' for type 'virtualMachineScaleSets'.".into(),
            details: vec![],
            request_id: None,
            api_version: Some("2025-04-01".into()),
            region: Some("usgovvirginia".into()),
        }));
        let h = e.hint().unwrap_or_default();
        assert!(h.contains("region usgovvirginia"), "{h}");
        assert!(h.contains("api-version 2025-04-01"), "{h}");
        assert!(
            h.contains("Microsoft.Compute/virtualMachineScaleSets"),
            "{h}"
        );
        assert!(!h.contains("az provider register"), "{h}");
        // Without a region or version the hint still says what to do.
        let bare = http("NoRegisteredProviderFound", vec![])
            .hint()
            .unwrap_or_default();
        assert!(
            bare.contains("this region") && bare.contains("resourceGroups"),
            "{bare}"
        );
    }
}
