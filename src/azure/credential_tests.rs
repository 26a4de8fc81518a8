//! Tests of the credential chain: which source wins, and the one error listing every source.

use super::*;

fn local() -> LocalCredential {
    LocalCredential::new(Secret::new("local-token"))
}

fn env(pairs: &[(&str, &str)]) -> EnvLookup {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Arc::new(move |k| map.get(k).cloned())
}

#[derive(Debug)]
struct Failing;
#[async_trait]
impl TokenCredential for Failing {
    async fn get_token(
        &self,
        _: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Err(CoreError::with_message(
            ErrorKind::Credential,
            "invalid_client",
        ))
    }
}

fn src(
    name: &'static str,
    decisive: bool,
    cred: Result<Arc<dyn TokenCredential>, String>,
) -> Source {
    Source {
        name,
        decisive,
        cred,
    }
}

/// A closed local port stands in for an unreachable IMDS.
fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn service_principal_env_reports_missing_variables() {
    let e = sp_env(&env(&[("AZURE_CLIENT_ID", "c")])).unwrap_err();
    assert_eq!(e, "AZURE_TENANT_ID, AZURE_CLIENT_SECRET not set");
    assert!(
        sp_env(&env(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s")
        ]))
        .is_ok()
    );
    assert_eq!(
        managed_identity_env(&env(&[("MSI_ENDPOINT", "http://x")])),
        Some("MSI_ENDPOINT")
    );
    assert_eq!(managed_identity_env(&env(&[])), None);
}

#[test]
fn kinds_use_kebab_case_names() {
    let k: CredentialKind = serde_json::from_str("\"managed-identity\"").unwrap();
    assert_eq!(k, CredentialKind::ManagedIdentity);
    for k in [
        CredentialKind::Auto,
        CredentialKind::ServicePrincipal,
        CredentialKind::WorkloadIdentity,
        CredentialKind::ManagedIdentity,
        CredentialKind::AzureCli,
    ] {
        assert_eq!(
            serde_json::to_string(&k).unwrap(),
            format!("\"{}\"", k.as_str())
        );
    }
}

#[tokio::test]
async fn chain_skips_unavailable_and_lists_every_reason_on_its_own_line() {
    let sources = vec![
        src(
            "service principal",
            false,
            Err("AZURE_CLIENT_SECRET not set".into()),
        ),
        src("managed identity", false, Ok(Arc::new(Failing))),
        src("local", false, Ok(Arc::new(local()))),
    ];
    let (name, _, token) = first_working(sources, &["s/.default"]).await.unwrap();
    assert_eq!((name, token.token.secret()), ("local", "local-token"));
    let sources = vec![
        src(
            "service principal",
            false,
            Err("AZURE_CLIENT_SECRET not set".into()),
        ),
        src("Azure CLI (az login)", false, Ok(Arc::new(Failing))),
    ];
    let tried = first_working(sources, &["s/.default"]).await.unwrap_err();
    assert_eq!(
        tried_message(CredentialKind::Auto, &tried),
        "no credential worked (cloud.credential: auto); tried:\n  service principal: skipped: AZURE_CLIENT_SECRET not set\n  Azure CLI (az login): failed: invalid_client"
    );
}

#[tokio::test]
async fn configured_source_failure_ends_the_chain() {
    let sources = vec![
        src("service principal", true, Ok(Arc::new(Failing))),
        src("local", false, Ok(Arc::new(local()))),
    ];
    let tried = first_working(sources, &["s/.default"]).await.unwrap_err();
    assert_eq!(tried, ["service principal: failed: invalid_client"]);
}

#[test]
fn reasons_lose_troubleshooting_links_and_repeats_and_stay_short() {
    let raw = "AzureCliCredential authentication failed. az not found on PATH; To troubleshoot, visit https://aka.ms/azsdk/rust/identity/troubleshoot#azure-cli - az not found on PATH; AzureCliCredential authentication failed. az not found on PATH";
    assert_eq!(
        tidy(raw),
        "AzureCliCredential authentication failed. az not found on PATH"
    );
    let long = "x".repeat(1000);
    assert_eq!(tidy(&long).chars().count(), MAX_REASON + 3);
}

#[tokio::test]
async fn auto_without_any_source_explains_each_one() {
    let auto = ChainCredential::new(
        CredentialKind::Auto,
        env(&[("AZURE_CLIENT_ID", "c")]),
        Some(closed_port()),
    );
    let sources = auto.sources().await;
    let names: Vec<_> = sources.iter().map(|s| (s.name, s.cred.is_ok())).collect();
    assert_eq!(names[0], ("service principal", false));
    assert_eq!(names[1], ("workload identity", false));
    assert_eq!(names[2], ("managed identity", false));
    assert_eq!(names[3].0, "Azure CLI (az login)");
    assert_eq!(names[4].0, "Azure Developer CLI (azd auth login)");
    let mi = sources[2].cred.as_ref().err().unwrap();
    assert!(mi.contains("IMDS"), "{mi}");
}

#[tokio::test]
async fn an_explicit_choice_is_the_only_source_and_names_itself() {
    let sp = ChainCredential::new(CredentialKind::ServicePrincipal, env(&[]), None);
    let err = sp.get_token(&["s/.default"], None).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "cloud.credential: service-principal did not work; tried:\n  service principal: cannot be used: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET not set"
    );
    assert!(matches!(err.kind(), ErrorKind::Credential));
}

#[tokio::test]
async fn local_credential_gives_the_fixed_token() {
    let t = local().get_token(&["x"], None).await.unwrap();
    assert_eq!(t.token.secret(), "local-token");
    assert!(!format!("{:?}", local()).contains("local-token"));
    assert!(t.expires_on > time::OffsetDateTime::now_utc());
}

#[tokio::test]
async fn preview_names_the_source_and_never_a_value() {
    let sp = env(&[
        ("AZURE_TENANT_ID", "tenant-value"),
        ("AZURE_CLIENT_ID", "client-value"),
        ("AZURE_CLIENT_SECRET", "secret-value"),
    ]);
    let p = preview_with(CredentialKind::Auto, &sp, None).await;
    assert_eq!(p[0].name, "service principal");
    assert!(p[0].configured);
    assert_eq!(
        p[0].available.as_deref(),
        Ok("AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET set (values not shown)")
    );
    // A configured service principal means no managed identity probe.
    assert!(p[2].available.as_ref().unwrap_err().contains("not probed"));
    let all = format!("{p:?}");
    assert!(!all.contains("-value"), "{all}");

    let explicit = preview_with(CredentialKind::ServicePrincipal, &env(&[]), None).await;
    assert_eq!(explicit.len(), 1);
    assert_eq!(
        explicit[0].available.as_ref().unwrap_err(),
        "AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET not set"
    );
    let mi = env(&[("IDENTITY_ENDPOINT", "http://127.0.0.1:1/x")]);
    let p = preview_with(CredentialKind::Auto, &mi, None).await;
    assert_eq!(p[2].available.as_deref(), Ok("IDENTITY_ENDPOINT set"));
}
