//! The JSON shapes of etcd's v3 gRPC gateway: proto3 JSON, so 64-bit integers arrive as
//! strings (`"revision":"7"`), bytes as standard base64, and default values are omitted
//! (`"kvs"` is absent from an empty range, an event's `"type"` from a PUT).

use std::str::FromStr;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Deserializer};

use super::super::{Event, EventKind, KeyValue};

/// Base64 of a key or value, as the gateway wants bytes.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The end of etcd's range for every key starting with `prefix` (clientv3's
/// `GetPrefixRangeEnd`): the prefix with its last byte below 0xff incremented.
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte was 0xff (or the prefix was empty): "\0" means "to the end of the keyspace".
    vec![0]
}

/// A number that proto3 JSON writes as a string (int64, uint64) or as a number (int32).
pub fn num<'de, D: Deserializer<'de>, T: FromStr + Default>(d: D) -> Result<T, D::Error>
where
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Int(i64),
        Uint(u64),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(T::default()),
        Some(Raw::Text(s)) => s.parse().map_err(serde::de::Error::custom),
        Some(Raw::Int(i)) => i.to_string().parse().map_err(serde::de::Error::custom),
        Some(Raw::Uint(u)) => u.to_string().parse().map_err(serde::de::Error::custom),
    }
}

/// `etcdserverpb.ResponseHeader`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Header {
    #[serde(default, deserialize_with = "num")]
    pub revision: i64,
    #[serde(default, deserialize_with = "num")]
    pub member_id: u64,
}

/// `mvccpb.KeyValue`, still encoded.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Kv {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: String,
    #[serde(default, deserialize_with = "num")]
    pub create_revision: i64,
    #[serde(default, deserialize_with = "num")]
    pub mod_revision: i64,
    /// Writes since the key's creation (1 for a new key).
    #[serde(default, deserialize_with = "num")]
    pub version: i64,
}

/// The gateway sent something that is not what etcd's API defines.
#[derive(Debug, Clone, thiserror::Error)]
#[error("etcd gateway answer not understood: {0}")]
pub struct WireError(pub String);

fn unb64(field: &str, s: &str) -> Result<Vec<u8>, WireError> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| WireError(format!("{field} is not base64: {e}")))
}

impl Kv {
    /// The decoded key-value.
    pub fn decode(&self) -> Result<KeyValue, WireError> {
        let key = String::from_utf8(unb64("key", &self.key)?)
            .map_err(|_| WireError("a key is not UTF-8".into()))?;
        Ok(KeyValue {
            key: Arc::from(key),
            value: Bytes::from(unb64("value", &self.value)?),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
        })
    }
}

/// `RangeResponse`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RangeResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub kvs: Vec<Kv>,
    #[serde(default)]
    pub more: bool,
}

/// `PutResponse` (with `prev_kv` when asked for).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PutResponse {
    #[serde(default)]
    pub prev_kv: Option<Kv>,
}

/// `DeleteRangeResponse` (with `prev_kvs` when asked for).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeleteRangeResponse {
    #[serde(default)]
    pub prev_kvs: Vec<Kv>,
}

/// One `ResponseOp` of a transaction.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResponseOp {
    pub response_range: Option<RangeResponse>,
    pub response_put: Option<PutResponse>,
    pub response_delete_range: Option<DeleteRangeResponse>,
}

/// `TxnResponse`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TxnResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub succeeded: bool,
    #[serde(default)]
    pub responses: Vec<ResponseOp>,
}

impl TxnResponse {
    /// The keys the transaction's (failure-branch) range read.
    pub fn range_kvs(&self) -> &[Kv] {
        self.responses
            .iter()
            .find_map(|r| r.response_range.as_ref())
            .map(|r| r.kvs.as_slice())
            .unwrap_or(&[])
    }
}

/// `StatusResponse` of `/v3/maintenance/status` (some fields have camelCase JSON names).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StatusResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub version: String,
    #[serde(default, deserialize_with = "num")]
    pub leader: u64,
    #[serde(default, rename = "raftTerm", deserialize_with = "num")]
    pub raft_term: u64,
    #[serde(default, rename = "raftIndex", deserialize_with = "num")]
    pub raft_index: u64,
    #[serde(default, rename = "isLearner")]
    pub is_learner: bool,
    #[serde(default)]
    pub errors: Vec<String>,
    #[serde(default, rename = "dbSize", deserialize_with = "num")]
    pub db_size: i64,
    #[serde(default, rename = "dbSizeInUse", deserialize_with = "num")]
    pub db_size_in_use: i64,
}

/// An error answer to a unary call: `{"error":..,"message":..,"code":<gRPC code>}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UnaryError {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub code: i32,
}

/// An error inside a watch stream: `{"error":{"grpc_code":14,"message":..,...}}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamError {
    #[serde(default)]
    pub grpc_code: i32,
    #[serde(default)]
    pub message: String,
}

/// `mvccpb.Event`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WireEvent {
    /// `"DELETE"`, or absent for PUT (proto3 omits the zero enum value).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub kv: Kv,
    #[serde(default)]
    pub prev_kv: Option<Kv>,
}

impl WireEvent {
    /// The store event, shaped as the memory backend publishes it: a delete carries the last
    /// value and creation revision of the key (from `prev_kv`) at the delete's revision.
    pub fn decode(&self) -> Result<Event, WireError> {
        let kv = self.kv.decode()?;
        let prev = self.prev_kv.as_ref().map(Kv::decode).transpose()?;
        if self.kind.as_deref() == Some("DELETE") {
            let last = prev.clone();
            return Ok(Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    value: last.as_ref().map(|p| p.value.clone()).unwrap_or_default(),
                    create_revision: last.map(|p| p.create_revision).unwrap_or_default(),
                    ..kv
                },
                prev,
            });
        }
        Ok(Event {
            kind: EventKind::Put,
            kv,
            prev,
        })
    }
}

/// `WatchResponse`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WatchResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub created: bool,
    #[serde(default)]
    pub canceled: bool,
    #[serde(default, deserialize_with = "num")]
    pub compact_revision: i64,
    #[serde(default)]
    pub cancel_reason: String,
    #[serde(default)]
    pub events: Vec<WireEvent>,
}

/// One line of the `/v3/watch` stream.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WatchLine {
    pub result: Option<WatchResponse>,
    pub error: Option<StreamError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte() {
        assert_eq!(prefix_end("/registry/"), b"/registry0".to_vec());
        assert_eq!(prefix_end(""), vec![0]);
    }

    #[test]
    fn decodes_what_etcd_3_4_sends() {
        // Verbatim from etcd 3.4.23's gateway (a txn whose failure branch read the key).
        let txn: TxnResponse = serde_json::from_str(r#"{"header":{"cluster_id":"12692281205296978992","member_id":"15438568911348720167","revision":"2","raft_term":"2"},"responses":[{"response_range":{"header":{"revision":"2"},"kvs":[{"key":"L3IvYQ==","create_revision":"2","mod_revision":"2","version":"1","value":"djE="}],"count":"1"}}]}"#).unwrap();
        assert!(!txn.succeeded);
        assert_eq!(txn.header.member_id, 15438568911348720167);
        let kv = txn.range_kvs()[0].decode().unwrap();
        assert_eq!(
            (&*kv.key, &kv.value[..], kv.mod_revision),
            ("/r/a", &b"v1"[..], 2)
        );
        let w: WatchLine = serde_json::from_str(
            r#"{"result":{"header":{"raft_term":"4"},"canceled":true,"compact_revision":"3"}}"#,
        )
        .unwrap();
        assert_eq!(w.result.unwrap().compact_revision, 3);
        let e: WatchLine = serde_json::from_str(r#"{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}"#).unwrap();
        assert_eq!(e.error.unwrap().message, "etcdserver: no leader");
    }
}
