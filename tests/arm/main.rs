//! The ARM client and the local cloud over HTTPS, in this process: the client's protocol
//! against a scripted server (`arm_client_http`, `arm_client_lro`) and against a local cloud
//! (`arm_client_local_cloud`), and the local cloud's own ARM behaviour driven by raw requests
//! (`local_cloud_*`). Every test serves its own cloud or server (decision 0006).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod arm_client_http;
mod arm_client_local_cloud;
mod arm_client_lro;
mod local_cloud_arm;
mod local_cloud_faults;
mod local_cloud_lifecycle;
mod local_cloud_network;
