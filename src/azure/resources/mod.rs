//! Desired state of every Azure resource the `infra` phase manages: pure, typed specs whose
//! `body()` is the ARM PUT body exactly as the official REST specs shape it, plus the generic
//! comparison that decides create / update / unchanged. No HTTP here.

pub mod cloud_init;
pub mod diff;
pub mod dns;
pub mod graph;
pub mod group;
pub mod infra;
pub mod lb;
pub mod lro;
pub mod network;
pub mod postgres;
pub mod public_ip;
pub mod validate;
pub mod vmss;

#[cfg(test)]
mod spec_check;

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub use diff::{Plan, diff, plan};
pub use infra::{DesiredResource, InfraInput, ResourceKey, desired_infra};
pub use validate::InfraError;

/// Tag that marks every resource this tool owns (`down` deletes only what carries it).
pub const TAG_MANAGED_BY: &str = "managed-by";
/// Value of [`TAG_MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "platform";
/// Tag naming the cluster a resource belongs to.
pub const TAG_CLUSTER: &str = "platform-cluster";
/// Tag holding a hash of write-only inputs (VMSS `customData`, Postgres password) that a GET
/// never returns, so that a change to them still shows up as a difference in `tags`.
pub const TAG_INPUT_HASH: &str = "platform-input-hash";

/// The id of a top-level resource of type `S` named `name` in resource group `group`.
pub fn top_level_id<S: ArmResource>(subscription: &str, group: &str, name: &str) -> String {
    crate::azure::ids::resource(subscription, group, S::RESOURCE_TYPE, name)
}

/// An ARM resource kind this tool creates: where it lives and what its PUT body is.
pub trait ArmResource {
    /// Full ARM resource type, such as `Microsoft.Network/virtualNetworks`.
    const RESOURCE_TYPE: &'static str;
    /// Pinned api-version for this type (from [`crate::azure::api_versions`]).
    const API_VERSION: &'static str;

    /// The ARM resource type (same as [`Self::RESOURCE_TYPE`]).
    fn resource_type() -> &'static str {
        Self::RESOURCE_TYPE
    }
    /// The full resource id in `subscription`.
    fn id(&self, subscription: &str) -> String;
    /// The PUT body: only what we set, with the spec's field names and nesting.
    fn body(&self) -> Value;
    /// Dotted paths in `body()` that ARM accepts on PUT but never returns on GET. They are
    /// removed before comparing; their change is visible through [`TAG_INPUT_HASH`].
    fn write_only_paths() -> &'static [&'static str] {
        &[]
    }
    /// Those write-only paths whose values are secrets (redacted from Debug and snapshots).
    fn secret_paths() -> &'static [&'static str] {
        &[]
    }
}

/// A secret string (a password): its Debug output never shows the value and it is not
/// serializable, so it cannot reach logs or the state file by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret value, for the one place that must send it (the PUT body).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The ownership tags every resource of `cluster` carries.
pub fn owner_tags(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (TAG_MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (TAG_CLUSTER.to_string(), cluster.to_string()),
    ])
}

/// Tags as a JSON object (sorted keys, so bodies are deterministic).
pub(crate) fn tags_value(tags: &BTreeMap<String, String>) -> Value {
    Value::Object(
        tags.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<String, Value>>(),
    )
}

/// Number of SHA-256 rounds in [`input_hash`]. The hash sits in a tag readable by anyone with
/// Reader on the group; iterating makes guessing a weak password from it expensive.
const INPUT_HASH_ROUNDS: u32 = 20_000;

/// Hash of write-only inputs for [`TAG_INPUT_HASH`]: iterated SHA-256 over a domain tag, the
/// resource id as salt and the length-prefixed parts; hex, 64 chars (tag values allow 256).
pub fn input_hash(salt: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(b"platform-input-hash/v1\0");
    h.update((salt.len() as u64).to_be_bytes());
    h.update(salt.as_bytes());
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    let mut digest = h.finalize();
    for _ in 1..INPUT_HASH_ROUNDS {
        let mut h = Sha256::new();
        h.update(digest);
        h.update(salt.as_bytes());
        digest = h.finalize();
    }
    hex::encode(digest)
}

/// Removes the dotted `paths` (object keys only) from a copy of `body`.
pub fn without_paths(body: &Value, paths: &[&str]) -> Value {
    let mut out = body.clone();
    for path in paths {
        let keys: Vec<&str> = path.split('.').collect();
        remove_path(&mut out, &keys);
    }
    out
}

fn remove_path(v: &mut Value, keys: &[&str]) {
    let Some((first, rest)) = keys.split_first() else {
        return;
    };
    let Some(obj) = v.as_object_mut() else {
        return;
    };
    if rest.is_empty() {
        obj.remove(*first);
    } else if let Some(child) = obj.get_mut(*first) {
        remove_path(child, rest);
    }
}

/// Replaces the dotted `paths` in a copy of `body` with `"<redacted>"` (for Debug/snapshots).
pub fn redacted(body: &Value, paths: &[&str]) -> Value {
    let mut out = body.clone();
    for path in paths {
        let keys: Vec<&str> = path.split('.').collect();
        redact_path(&mut out, &keys);
    }
    out
}

fn redact_path(v: &mut Value, keys: &[&str]) {
    let Some((first, rest)) = keys.split_first() else {
        return;
    };
    let Some(obj) = v.as_object_mut() else {
        return;
    };
    if let Some(child) = obj.get_mut(*first) {
        if rest.is_empty() {
            *child = Value::String("<redacted>".into());
        } else {
            redact_path(child, rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_debug_never_shows_value() {
        let s = Secret::new("hunter2-very-secret");
        let dbg = format!("{s:?} {:?}", Some(&s));
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert_eq!(s.expose(), "hunter2-very-secret");
    }

    #[test]
    fn input_hash_depends_on_every_part_and_salt() {
        let a = input_hash("/id/a", &["x", "y"]);
        assert_eq!(a.len(), 64);
        assert_eq!(a, input_hash("/id/a", &["x", "y"]));
        assert_ne!(a, input_hash("/id/b", &["x", "y"]));
        assert_ne!(a, input_hash("/id/a", &["x", "z"]));
        // Length prefixes keep part boundaries apart.
        assert_ne!(a, input_hash("/id/a", &["xy", ""]));
    }

    #[test]
    fn paths_are_removed_and_redacted() {
        let body = json!({"properties": {"a": 1, "secret": "pw"}, "tags": {}});
        assert_eq!(
            without_paths(&body, &["properties.secret", "missing.path"]),
            json!({"properties": {"a": 1}, "tags": {}})
        );
        assert_eq!(
            redacted(&body, &["properties.secret"]),
            json!({"properties": {"a": 1, "secret": "<redacted>"}, "tags": {}})
        );
    }
}
