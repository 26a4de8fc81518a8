//! Fault injection: seeded random 429/500 answers, failing operations, ARM token buckets.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::{Bucket, FaultConfig, OpKind};
use crate::error::ErrorDetail;

/// Which ARM budget a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Budget {
    Reads,
    Writes,
    Deletes,
}

impl Budget {
    pub fn of_method(m: &axum::http::Method) -> Self {
        match *m {
            axum::http::Method::GET | axum::http::Method::HEAD => Budget::Reads,
            axum::http::Method::DELETE => Budget::Deletes,
            _ => Budget::Writes,
        }
    }
    pub fn header(self) -> &'static str {
        match self {
            Budget::Reads => "x-ms-ratelimit-remaining-subscription-reads",
            Budget::Writes => "x-ms-ratelimit-remaining-subscription-writes",
            Budget::Deletes => "x-ms-ratelimit-remaining-subscription-deletes",
        }
    }
}

/// A random fault decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    Throttle,
    ServerError,
}

#[derive(Debug, Clone, Copy)]
struct Level {
    tokens: f64,
    at_ms: u64,
}

/// Mutable fault state: the config, its random generator and the token buckets.
pub struct FaultState {
    pub config: FaultConfig,
    rng: StdRng,
    buckets: HashMap<(String, Budget), Level>,
}

impl FaultState {
    pub fn new(config: FaultConfig) -> Self {
        let rng = match config.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        Self {
            config,
            rng,
            buckets: HashMap::new(),
        }
    }

    /// Replaces the config; a new seed restarts the random sequence.
    pub fn set(&mut self, config: FaultConfig) {
        *self = Self {
            buckets: std::mem::take(&mut self.buckets),
            ..Self::new(config)
        };
    }

    /// Draws the random faults for one request.
    pub fn draw(&mut self) -> Option<Injected> {
        let (t, e) = (self.config.throttle_rate, self.config.server_error_rate);
        if t <= 0.0 && e <= 0.0 {
            return None;
        }
        let x: f64 = self.rng.random();
        if x < t {
            Some(Injected::Throttle)
        } else if x < t + e {
            Some(Injected::ServerError)
        } else {
            None
        }
    }

    /// Takes one token from the subscription's bucket. Returns the remaining count, or
    /// `Err(seconds until a token is back)` when buckets are enforced and empty.
    pub fn take(&mut self, sub: &str, budget: Budget, now_ms: u64) -> Result<u64, u64> {
        let limits = self.config.rate_limits.clone();
        let enforce = limits.is_some();
        let limits = limits.unwrap_or_default();
        let b: Bucket = match budget {
            Budget::Reads => limits.reads,
            Budget::Writes => limits.writes,
            Budget::Deletes => limits.deletes,
        };
        let level = self
            .buckets
            .entry((sub.to_ascii_lowercase(), budget))
            .or_insert(Level {
                tokens: b.size,
                at_ms: now_ms,
            });
        let elapsed = now_ms.saturating_sub(level.at_ms) as f64 / 1000.0;
        level.tokens = (level.tokens + elapsed * b.refill_per_sec).min(b.size);
        level.at_ms = now_ms;
        if level.tokens >= 1.0 {
            level.tokens -= 1.0;
            Ok(level.tokens.floor() as u64)
        } else if enforce {
            let wait = if b.refill_per_sec > 0.0 {
                ((1.0 - level.tokens) / b.refill_per_sec).ceil() as u64
            } else {
                60
            };
            Err(wait.max(1))
        } else {
            Ok(0)
        }
    }

    /// Tokens left in the subscription's bucket, without taking one (for answers refused
    /// before they reach the budget, such as 401).
    pub fn peek(&self, sub: &str, budget: Budget, now_ms: u64) -> u64 {
        let limits = self.config.rate_limits.clone().unwrap_or_default();
        let b = match budget {
            Budget::Reads => limits.reads,
            Budget::Writes => limits.writes,
            Budget::Deletes => limits.deletes,
        };
        let tokens = match self.buckets.get(&(sub.to_ascii_lowercase(), budget)) {
            Some(l) => {
                let elapsed = now_ms.saturating_sub(l.at_ms) as f64 / 1000.0;
                (l.tokens + elapsed * b.refill_per_sec).min(b.size)
            }
            None => b.size,
        };
        tokens.floor() as u64
    }

    /// The failure a new operation on this resource should end with, if a rule matches.
    pub fn failure_for(&mut self, rtype: &str, name: &str, kind: OpKind) -> Option<ErrorDetail> {
        let rule = self.config.fail_operations.iter_mut().find(|r| {
            r.resource_type
                .as_deref()
                .is_none_or(|t| t.eq_ignore_ascii_case(rtype))
                && r.name.as_deref().is_none_or(|p| glob(p, name))
                && r.operation.is_none_or(|k| k == kind)
                && r.times != Some(0)
        })?;
        if let Some(n) = rule.times.as_mut() {
            *n -= 1;
        }
        Some(ErrorDetail {
            code: rule.code.clone(),
            message: rule.message.clone(),
        })
    }
}

/// Case-insensitive glob with `*` only.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.to_ascii_lowercase(), text.to_ascii_lowercase());
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == t;
    }
    let mut rest = t.as_str();
    if !rest.starts_with(parts[0]) {
        return false;
    }
    rest = &rest[parts[0].len()..];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(parts[parts.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FailRule, RateLimits};

    #[test]
    fn seeded_draws_repeat() {
        let cfg = FaultConfig {
            throttle_rate: 0.3,
            server_error_rate: 0.2,
            seed: Some(7),
            ..Default::default()
        };
        let a: Vec<_> = {
            let mut f = FaultState::new(cfg.clone());
            (0..50).map(|_| f.draw()).collect()
        };
        let b: Vec<_> = {
            let mut f = FaultState::new(cfg);
            (0..50).map(|_| f.draw()).collect()
        };
        assert_eq!(a, b);
        assert!(
            a.contains(&Some(Injected::Throttle))
                && a.contains(&Some(Injected::ServerError))
                && a.contains(&None)
        );
    }

    #[test]
    fn buckets_empty_and_refill() {
        let limits = RateLimits {
            writes: Bucket {
                size: 2.0,
                refill_per_sec: 1.0,
            },
            ..Default::default()
        };
        let mut f = FaultState::new(FaultConfig {
            rate_limits: Some(limits),
            ..Default::default()
        });
        assert_eq!(f.take("s", Budget::Writes, 0), Ok(1));
        assert_eq!(f.take("s", Budget::Writes, 0), Ok(0));
        assert_eq!(f.take("s", Budget::Writes, 0), Err(1));
        assert_eq!(f.take("s", Budget::Writes, 1000), Ok(0));
        assert_eq!(f.take("s", Budget::Reads, 0), Ok(249));
    }

    #[test]
    fn fail_rules_match_and_expire() {
        let rule = FailRule {
            resource_type: Some("microsoft.dbforpostgresql/flexibleServers".into()),
            name: Some("pg-*".into()),
            operation: Some(OpKind::Create),
            code: "InternalServerError".into(),
            message: "boom".into(),
            times: Some(1),
        };
        let mut f = FaultState::new(FaultConfig {
            fail_operations: vec![rule],
            ..Default::default()
        });
        assert!(
            f.failure_for(
                "Microsoft.DBforPostgreSQL/flexibleServers",
                "other",
                OpKind::Create
            )
            .is_none()
        );
        assert!(
            f.failure_for(
                "Microsoft.DBforPostgreSQL/flexibleServers",
                "pg-1",
                OpKind::Delete
            )
            .is_none()
        );
        assert_eq!(
            f.failure_for(
                "Microsoft.DBforPostgreSQL/flexibleServers",
                "pg-1",
                OpKind::Create
            )
            .unwrap()
            .code,
            "InternalServerError"
        );
        assert!(
            f.failure_for(
                "Microsoft.DBforPostgreSQL/flexibleServers",
                "pg-1",
                OpKind::Create
            )
            .is_none()
        );
        assert!(
            glob("*", "x") && glob("a*c", "abc") && !glob("a*c", "abd") && glob("vm_*", "VM_1")
        );
    }
}
