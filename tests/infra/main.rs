//! The infra and inventory phases end to end: the real binary against `platform local-cloud
//! serve` processes, as a deployment meets Azure. Tests share one cloud
//! (`support::cloud::shared()`, serialized by `serial()` where they read its counters or set
//! its faults) unless they need a cloud of their own: random faults on every request, another
//! time factor or page size, or two minutes of kills that would hold the others up
//! (decision 0006).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod infra_crash;
mod infra_faults;
mod infra_lifecycle;
mod inventory_ansible;
mod inventory_cloud;
