//! The `hosts` feature decides whether this build can realize VMs as hosts: without it the
//! ARM stand-in still serves, and asking for hosts fails saying the build has none.

use local_cloud::HostError;

#[cfg(not(feature = "hosts"))]
#[tokio::test]
async fn without_the_feature_hosts_are_refused_and_arm_still_serves() {
    use local_cloud::{LocalCloudError, LocalCloudOptions};
    let dir = tempfile::tempdir().unwrap();
    let mut opts = LocalCloudOptions::new(dir.path());
    opts.realize_hosts = true;
    let err = local_cloud::start(opts).await.unwrap_err();
    assert!(
        matches!(err, LocalCloudError::Hosts(HostError::NotBuilt)),
        "{err:?}"
    );
    assert!(err.to_string().contains("no host support"), "{err}");
    assert!(matches!(
        local_cloud::hosts_preflight(),
        Err(HostError::NotBuilt)
    ));

    let cloud = local_cloud::start(LocalCloudOptions::new(dir.path()))
        .await
        .expect("without hosts the local cloud starts");
    assert!(cloud.hosts().is_empty());
    cloud.shutdown().await;
}

#[cfg(feature = "hosts")]
#[test]
fn with_the_feature_only_the_machine_can_refuse_hosts() {
    // Root and the tools decide (a `Preflight` error names what is missing); the build
    // never says it lacks host support.
    match local_cloud::hosts_preflight() {
        Ok(()) => {}
        Err(HostError::Preflight(why)) => assert!(!why.is_empty()),
        Err(other) => panic!("a build with the feature refused hosts: {other}"),
    }
}
