//! The local ARM-compatible cloud used by tests and by `cloud.kind: local`.
