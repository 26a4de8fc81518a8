//! Issue 3 under faults: random 429/500 answers are retried until `up --only infra` converges;
//! a Postgres operation that fails ends the run with exit 1 and an error naming the resource
//! and the ARM code, is recorded as failed, and converges once the fault is gone.

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
