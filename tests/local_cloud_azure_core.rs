//! The azure_core pipeline (the production transport of the ARM client) against the local
//! cloud: TLS with the local CA, retries of injected 429/500, ARM error codes parsed.

mod local_cloud_support;

use std::sync::Arc;

use azure_core::error::ErrorKind;
use azure_core::http::{
    ClientOptions, Context, ExponentialRetryOptions, Method, Pipeline, Request, RetryOptions,
    Transport,
};
use local_cloud_support::{Env, client, rg_path, start};
use platform::local_cloud::FaultConfig;

fn pipeline(env: &Env) -> Pipeline {
    let opts = ClientOptions {
        transport: Some(Transport::new(Arc::new(client(&env.cloud.ca_pem)))),
        retry: RetryOptions::exponential(ExponentialRetryOptions {
            initial_delay: azure_core::time::Duration::milliseconds(5),
            max_retries: 12,
            max_total_elapsed: azure_core::time::Duration::seconds(30),
            max_delay: azure_core::time::Duration::milliseconds(50),
        }),
        ..ClientOptions::default()
    };
    Pipeline::new(
        Some("platform-test"),
        Some("0"),
        opts,
        Vec::new(),
        Vec::new(),
        None,
    )
}

fn put_request(env: &Env, path: &str, body: &str) -> Request {
    let mut req = Request::new(env.url(path).parse().unwrap(), Method::Put);
    req.insert_header("authorization", "Bearer test-token");
    req.insert_header("content-type", "application/json");
    req.set_body(body.as_bytes().to_vec());
    req
}

#[tokio::test]
async fn azure_core_retries_injected_faults_and_reads_arm_error_codes() {
    let env = start(100).await;
    let p = pipeline(&env);
    env.cloud.set_faults(FaultConfig {
        throttle_rate: 0.4,
        server_error_rate: 0.2,
        retry_after_secs: 0,
        seed: Some(3),
        ..Default::default()
    });
    for i in 0..5 {
        let mut req = put_request(
            &env,
            &rg_path(&format!("rg{i}")),
            r#"{"location":"eastus"}"#,
        );
        let resp = p
            .send(&Context::new(), &mut req, None)
            .await
            .expect("retries get through");
        assert_eq!(u16::from(resp.status()), 201);
    }
    let stats = env.cloud.stats();
    assert!(
        stats.throttled + stats.server_errors > 0,
        "faults were injected and retried: {stats:?}"
    );
    assert_eq!(stats.puts, 5 + stats.throttled + stats.server_errors);

    env.cloud.set_faults(FaultConfig::default());
    let mut req = put_request(&env, &rg_path("bad"), r#"{"tags":{}}"#);
    let err = p
        .send(&Context::new(), &mut req, None)
        .await
        .expect_err("no location");
    match err.kind() {
        ErrorKind::HttpResponse {
            status, error_code, ..
        } => {
            assert_eq!(u16::from(*status), 400);
            assert_eq!(error_code.as_deref(), Some("LocationRequired"));
        }
        other => panic!("unexpected error kind {other:?}"),
    }
    env.cloud.shutdown().await;
}
