//! Request counters, so tests can assert what a client did (for example zero PUTs).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Counts of ARM requests received since start or the last reset.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RequestStats {
    /// ARM requests received (the control API is not counted).
    pub total: u64,
    /// By HTTP method (`GET`, `PUT`, ...).
    pub by_method: BTreeMap<String, u64>,
    /// By canonical resource type; operation polls count under `operations`.
    pub by_type: BTreeMap<String, u64>,
    /// PUTs by resource type.
    pub puts_by_type: BTreeMap<String, u64>,
    /// All PUT requests, whatever they were answered.
    pub puts: u64,
    /// 429 answers (random throttling and empty token buckets).
    pub throttled: u64,
    /// Injected 500 answers.
    pub server_errors: u64,
    /// 401 answers.
    pub unauthorized: u64,
    /// `"METHOD type"` -> api-version -> requests (operation polls under `operations`), as
    /// received, also when the version was refused.
    #[serde(default)]
    pub api_versions: BTreeMap<String, BTreeMap<String, u64>>,
}

impl RequestStats {
    /// Counts one request.
    pub fn record(&mut self, method: &str, rtype: &str) {
        self.total += 1;
        *self.by_method.entry(method.to_string()).or_default() += 1;
        *self.by_type.entry(rtype.to_string()).or_default() += 1;
        if method == "PUT" {
            self.puts += 1;
            *self.puts_by_type.entry(rtype.to_string()).or_default() += 1;
        }
    }

    /// Counts the api-version of one request about `rtype`.
    pub fn record_api_version(&mut self, method: &str, rtype: &str, version: &str) {
        *self
            .api_versions
            .entry(format!("{method} {rtype}"))
            .or_default()
            .entry(version.to_string())
            .or_default() += 1;
    }

    /// Requests with this method.
    pub fn method(&self, method: &str) -> u64 {
        self.by_method.get(method).copied().unwrap_or(0)
    }
}
