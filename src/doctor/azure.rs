//! Which credential of the chain (`src/azure/credential.rs`) `cloud.kind: azure` would use,
//! and where it comes from, decided as the chain decides but without requesting a token:
//! variables are named, never shown; the Azure CLI's login is read from its profile file.

use serde::Serialize;

use super::Check;
use crate::azure::credential::{SourcePreview, preview};
use crate::config::CredentialChoice;

/// One source of the credential chain, as the report shows it.
#[derive(Clone, Debug, Serialize)]
pub struct CredentialSource {
    /// The chain's name for it.
    pub name: &'static str,
    /// Configured explicitly: a failure would end the chain.
    pub configured: bool,
    /// Whether the chain would try it.
    pub available: bool,
    /// Where it comes from, or why it is skipped.
    pub detail: String,
}

impl From<&SourcePreview> for CredentialSource {
    fn from(p: &SourcePreview) -> Self {
        CredentialSource {
            name: p.name,
            configured: p.configured,
            available: p.available.is_ok(),
            detail: match &p.available {
                Ok(from) | Err(from) => from.clone(),
            },
        }
    }
}

/// The credential check and the chain behind it.
pub(super) async fn credential(choice: CredentialChoice) -> (Check, Vec<CredentialSource>) {
    let previews = preview(crate::cloud::credential(choice)).await;
    let chain: Vec<CredentialSource> = previews.iter().map(CredentialSource::from).collect();
    let choice_name = serde_json::to_value(choice)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let item = format!("Azure credential ({choice_name})");
    let Some((first, from)) = previews
        .iter()
        .find_map(|p| p.available.as_ref().ok().map(|from| (p, from)))
    else {
        let why: Vec<String> = chain
            .iter()
            .map(|s| format!("{}: {}", s.name, s.detail))
            .collect();
        return (
            Check::missing(&item, true, why.join("; "), fix(choice).into()),
            chain,
        );
    };
    let detail = format!("would use {}: {from}", first.name);
    // The CLI's login is local state: without it, the chain's last resort fails.
    if first.name.contains("az login") && crate::fsutil::find_on_path("az").is_some() {
        return match az_subscriptions() {
            Some(n) => (
                Check::ok(
                    &item,
                    true,
                    format!("{detail}; logged in ({n} subscriptions)"),
                ),
                chain,
            ),
            None => (
                Check::missing(
                    &item,
                    true,
                    format!("{detail}; but az has no login (no subscriptions in its profile)"),
                    "az login".into(),
                ),
                chain,
            ),
        };
    }
    (Check::ok(&item, true, detail), chain)
}

/// What gives each choice a credential.
fn fix(choice: CredentialChoice) -> &'static str {
    match choice {
        CredentialChoice::Auto => {
            "az login (Azure CLI: apt-get install -y azure-cli from Microsoft's repository), or export AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"
        }
        CredentialChoice::ServicePrincipal => {
            "export AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"
        }
        CredentialChoice::WorkloadIdentity => {
            "set AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID and AZURE_CLIENT_ID (Kubernetes workload identity injects them)"
        }
        CredentialChoice::ManagedIdentity => {
            "run on an Azure host with a managed identity (AZURE_CLIENT_ID picks a user-assigned one)"
        }
        CredentialChoice::AzureCli => {
            "apt-get install -y azure-cli (from Microsoft's repository), then az login"
        }
    }
}

/// How many subscriptions the Azure CLI's profile lists (`$AZURE_CONFIG_DIR` or `~/.azure`,
/// `azureProfile.json`): `None` when there is no login. Only the count is kept.
fn az_subscriptions() -> Option<usize> {
    let dir = std::env::var_os("AZURE_CONFIG_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".azure")))?;
    let text =
        crate::fsutil::read_capped(&dir.join("azureProfile.json"), crate::fsutil::caps::CONFIG)
            .ok()?;
    // The CLI writes it with a byte-order mark.
    let v: serde_json::Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).ok()?;
    let n = v["subscriptions"].as_array()?.len();
    (n > 0).then_some(n)
}
