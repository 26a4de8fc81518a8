//! Issue 3 under faults: random 429/500 answers are retried until `up --only infra` converges;
//! a Postgres operation that fails ends the run with exit 1 and an error naming the resource
//! and the ARM code, is recorded as failed, and converges once the fault is gone. Without a
//! usable Azure credential, `plan` and `up` stop at one error before writing anything.

use serde_json::json;
use support::Cluster;
use support::cloud::{LocalCloud, client_stats, serial, shared};

#[test]
fn throttled_and_failing_requests_are_retried_until_converged() {
    // Its own server: the random faults apply to every request it answers.
    let cloud = LocalCloud::start(json!({
        "throttle_rate": 0.2,
        "server_error_rate": 0.05,
        "retry_after_secs": 0,
        "seed": 7,
    }));
    let c = Cluster::on(&cloud, "flaky").build();
    let up = c.run(&["-v", "up", "--only", "infra"]);
    assert_eq!(up.code, 0, "{up:?}");
    let (requests, puts, retries, throttled) =
        client_stats(&up.stderr).expect("client stats at -v");
    let server = cloud.stats();
    assert!(server["throttled"].as_u64().unwrap() > 0, "{server}");
    assert!(server["server_errors"].as_u64().unwrap() > 0, "{server}");
    assert!(throttled > 0, "the client saw no 429: {requests} requests");
    assert!(
        retries >= throttled,
        "every 429 was retried: retries {retries}, throttled {throttled}"
    );
    assert!(puts >= 13, "{puts}");
    for r in cloud.resources_in(&c.rg()) {
        assert_eq!(r["provisioningState"], "Succeeded", "{r}");
    }
    // Reads under faults agree that nothing is left to do.
    let plan = c.run(&["plan", "--only", "infra", "-o", "json"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    for o in plan["infra"].as_array().unwrap() {
        assert_eq!(o["action"], "unchanged", "{o}");
    }
    let down = c.run(&["down", "--yes"]);
    assert_eq!(down.code, 0, "{down:?}");
    assert!(cloud.resources_in(&c.rg()).is_empty());
}

#[test]
fn a_failed_postgres_operation_is_reported_recorded_and_recovered() {
    let _g = serial();
    let cloud = shared();
    let c = Cluster::on(cloud, "pgfail").build();
    cloud.set_faults(json!({"fail_operations": [{
        "resource_type": "Microsoft.DBforPostgreSQL/flexibleServers",
        "code": "QuotaExceeded",
        "message": "Operation could not be completed as it results in exceeding approved quota.",
    }]}));
    let up = c.run(&["up", "--only", "infra"]);
    cloud.set_faults(json!({}));
    assert_eq!(up.code, 1, "{up:?}");
    assert!(up.stderr.contains("QuotaExceeded"), "{up:?}");
    assert!(up.stderr.contains("pgfail-pg"), "names the server: {up:?}");
    // The database depends on the server: reported as skipped, not attempted.
    assert!(up.stderr.contains("postgres-database:app"), "{up:?}");
    assert_eq!(c.phase_status("infra").as_deref(), Some("failed"));
    // Independent resources were still created.
    let made = cloud.resources_in(&c.rg());
    let state_of = |suffix: &str| {
        made.iter()
            .find(|r| r["id"].as_str().unwrap().ends_with(suffix))
            .map(|r| r["provisioningState"].clone())
    };
    assert_eq!(state_of("/pgfail-agents"), Some(json!("Succeeded")));
    assert_eq!(state_of("/pgfail-pg"), Some(json!("Failed")));

    let plan = c.run(&["plan", "--only", "infra"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(plan.stdout.contains("last run failed"), "{plan:?}");

    // The fault is gone: a re-run converges and PUTs only what failed or was skipped.
    cloud.reset_stats();
    let again = c.run(&["up", "--only", "infra"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(c.phase_status("infra").as_deref(), Some("succeeded"));
    assert_eq!(
        cloud.stats()["puts_by_type"],
        json!({
            "Microsoft.DBforPostgreSQL/flexibleServers": 1,
            "Microsoft.DBforPostgreSQL/flexibleServers/databases": 1,
        })
    );
    let down = c.run(&["down", "--yes"]);
    assert_eq!(down.code, 0, "{down:?}");
    assert!(cloud.resources_in(&c.rg()).is_empty());
}

/// Azure's hints reach the user from every command, not only from `up`: here a `down`
/// whose delete is refused by a policy.
#[test]
fn down_shows_azures_hint_for_a_refused_delete() {
    let _g = serial();
    let cloud = shared();
    let c = Cluster::on(cloud, "policy")
        .yaml("postgres:\n  enabled: false\n")
        .build();
    assert_eq!(c.run(&["up", "--only", "infra"]).code, 0);
    cloud.set_faults(json!({"fail_operations": [{
        "resource_type": "Microsoft.Network/virtualNetworks",
        "operation": "delete",
        "code": "RequestDisallowedByPolicy",
        "message": "Resource 'policy-vnet' was disallowed by policy.",
    }]}));
    let down = c.run(&["down", "--yes"]);
    cloud.set_faults(json!({}));
    assert_eq!(down.code, 1, "{down:?}");
    assert!(
        down.stderr.contains("RequestDisallowedByPolicy"),
        "{down:?}"
    );
    assert!(
        down.stderr
            .contains("hint: an Azure Policy assignment blocks this request"),
        "{down:?}"
    );
    assert_eq!(c.run(&["down", "--yes"]).code, 0);
    assert!(cloud.resources_in(&c.rg()).is_empty());
}

/// `platform ARGS` with none of the variables a credential source reads, and `PATH` an empty
/// directory (no `az`, no `azd`).
fn run_without_credentials(c: &Cluster, args: &[&str]) -> support::Run {
    let empty_path = c.path().join("empty-bin");
    std::fs::create_dir_all(&empty_path).unwrap();
    let mut cmd = c.command();
    for var in [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE",
        "IDENTITY_ENDPOINT",
        "MSI_ENDPOINT",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("PATH", &empty_path).env("HOME", c.path());
    support::finish(cmd.args(args).output().unwrap())
}

/// A first try on a laptop: no credential. `plan` and `up` each end with exit 1 and one
/// error listing every credential source tried (one line each) plus a `hint:`; no row per
/// resource, no state file, no lock, no secrets.
#[test]
fn without_a_credential_plan_and_up_fail_once_and_write_nothing() {
    for (credential, expected) in [
        (
            "service-principal",
            "  service principal: cannot be used: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET not set",
        ),
        ("azure-cli", "  Azure CLI (az login): failed: "),
    ] {
        // An Azure config whose credential cannot work on this machine (no Azure needed:
        // the token request fails before any ARM request is made).
        let c = Cluster::azure("nocred").credential(credential).build();
        for cmd in ["plan", "up"] {
            let r = run_without_credentials(&c, &[cmd]);
            assert_eq!(r.code, 1, "{credential} {cmd}: {r:?}");
            assert_eq!(r.stdout, "", "{credential} {cmd}: no table: {r:?}");
            let starting = |p: &str| -> Vec<String> {
                r.stderr
                    .lines()
                    .filter(|l| l.starts_with(p))
                    .map(str::to_owned)
                    .collect()
            };
            let errors = starting("error:");
            assert_eq!(errors.len(), 1, "{credential} {cmd}: one error: {r:?}");
            assert!(errors[0].contains("Azure credentials"), "{r:?}");
            assert_eq!(starting(expected).len(), 1, "{credential} {cmd}: {r:?}");
            let hints = starting("hint:");
            assert_eq!(hints.len(), 1, "{r:?}");
            assert!(hints[0].contains("az login") && hints[0].contains("AZURE_CLIENT_SECRET"));
            assert!(r.stderr.lines().count() <= 8, "short: {r:?}");
            let left: Vec<_> = std::fs::read_dir(c.state_dir())
                .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
                .unwrap_or_default();
            assert!(left.is_empty(), "{credential} {cmd} wrote {left:?}");
        }
    }
}
