//! Lists: selectors, `limit`/`continue` over one consistent revision, and the
//! `resourceVersion`/`resourceVersionMatch` rules of the real server.

use base64::Engine;
use serde_json::{Value, json};

use super::{ServerState, present};
use crate::error::ApiError;
use crate::kinds::ResourceType;
use crate::objects::meta;
use crate::selectors::Selectors;
use crate::store::{Revision, StoreError};

/// A list request's parameters.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    pub namespace: Option<String>,
    pub selectors: Selectors,
    /// 0: no limit.
    pub limit: usize,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

/// One page of a list.
#[derive(Debug)]
pub struct ListPage {
    pub revision: Revision,
    pub items: Vec<Value>,
    pub continue_token: Option<String>,
}

const EXPIRED_CONTINUE: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

fn encode_continue(rev: Revision, start: &str) -> String {
    let v = json!({"v": "meta.k8s.io/v1", "rv": rev, "start": start});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn decode_continue(token: &str) -> Result<(Revision, String), ApiError> {
    let bad = |why: &str| ApiError::bad_request(format!("continue key is not valid: {why}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad("illegal base64 data"))?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad("invalid JSON"))?;
    if v.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return Err(bad(
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        ));
    }
    let rev = v
        .get("rv")
        .and_then(Value::as_i64)
        .filter(|r| *r > 0)
        .ok_or_else(|| bad("incorrect encoded start resourceVersion (version meta.k8s.io/v1)"))?;
    let start = v
        .get("start")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("encoded start key empty"))?;
    if start.contains("..") || start.starts_with('/') {
        return Err(bad("continue key may not contain a relative path"));
    }
    Ok((rev, start.to_string()))
}

/// Parses a resourceVersion parameter.
pub fn parse_rv(rv: &str) -> Result<Revision, ApiError> {
    rv.parse::<Revision>()
        .ok()
        .filter(|r| *r >= 0)
        .ok_or_else(|| ApiError::bad_request(format!("invalid resource version: {rv}")))
}

/// Lists `rt` objects matching the request.
pub async fn list(
    state: &ServerState,
    rt: &ResourceType,
    req: &ListRequest,
) -> Result<ListPage, ApiError> {
    let prefix = rt.prefix(req.namespace.as_deref());
    let rv = req.resource_version.as_deref().filter(|s| !s.is_empty());
    let rv_match = req
        .resource_version_match
        .as_deref()
        .filter(|s| !s.is_empty());
    let (mut revision, mut start) = if let Some(token) = &req.continue_token {
        if rv.is_some_and(|r| r != "0") {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        if rv_match.is_some() {
            return Err(ApiError::bad_request(
                "resourceVersionMatch is forbidden when continue is provided",
            ));
        }
        let (rev, start) = decode_continue(token)?;
        let compacted = state.store.compacted_revision().await?;
        if rev < compacted {
            return Err(ApiError::expired(EXPIRED_CONTINUE));
        }
        (rev, format!("{prefix}{start}"))
    } else {
        let rev = match (rv, rv_match) {
            (None, Some(_)) => {
                return Err(ApiError::bad_request(
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            (Some("0"), Some("Exact")) => {
                return Err(ApiError::bad_request(
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
            (Some(r), Some("Exact")) => parse_rv(r)?,
            (Some(r), None) if r != "0" && req.limit > 0 => parse_rv(r)?,
            (Some(r), _) if r != "0" => {
                let wanted = parse_rv(r)?;
                let current = state.store.current_revision().await?;
                if wanted > current {
                    return Err(ApiError::too_large_resource_version(wanted, current));
                }
                0
            }
            _ => 0,
        };
        (rev, String::new())
    };
    // `metadata.name=<n>` (kubectl wait, kube-rs await_condition) needs one key, not the prefix.
    let scan_prefix = match req.selectors.fields.pinned_name() {
        Some(n) if req.namespace.is_some() || !rt.namespaced => rt.key(req.namespace.as_deref(), n),
        _ => prefix.clone(),
    };
    // resourceVersion=0 means "any version": kube-apiserver serves it from its watch cache,
    // which still answers when etcd has lost quorum; the store's serializable read does.
    let serializable = req.continue_token.is_none() && rv == Some("0");
    let batch = if req.limit > 0 { req.limit.max(50) } else { 0 };
    let mut items = Vec::new();
    loop {
        let page = if serializable {
            state
                .store
                .list_serializable(&scan_prefix, &start, batch, revision)
                .await
        } else {
            state
                .store
                .list(&scan_prefix, &start, batch, revision)
                .await
        };
        let page = match page {
            Err(StoreError::Compacted { .. }) if req.continue_token.is_some() => {
                return Err(ApiError::expired(EXPIRED_CONTINUE));
            }
            other => other?,
        };
        revision = page.revision;
        let n = page.items.len();
        for (i, kv) in page.items.iter().enumerate() {
            let obj = meta::decode(kv);
            if !req.selectors.matches(&obj) {
                continue;
            }
            items.push(present(rt, obj));
            if req.limit > 0 && items.len() == req.limit {
                let more = i + 1 < n || page.more;
                let token = more
                    .then(|| encode_continue(revision, &format!("{}\0", &kv.key[prefix.len()..])));
                return Ok(ListPage {
                    revision,
                    items,
                    continue_token: token,
                });
            }
        }
        match page.items.last() {
            Some(last) if page.more => start = format!("{}\0", last.key),
            _ => break,
        }
    }
    Ok(ListPage {
        revision,
        items,
        continue_token: None,
    })
}

/// The list object: `<Kind>List` with `metadata.resourceVersion` (and `continue`). Built-in
/// items carry no kind/apiVersion, as typed lists are encoded; custom resources keep them.
pub fn list_object(rt: &ResourceType, page: ListPage) -> Value {
    let mut md = serde_json::Map::new();
    md.insert("resourceVersion".into(), json!(page.revision.to_string()));
    if let Some(c) = page.continue_token {
        md.insert("continue".into(), json!(c));
    }
    let items: Vec<Value> = page
        .items
        .into_iter()
        .map(|mut o| {
            if !rt.is_custom()
                && let Some(m) = o.as_object_mut()
            {
                m.remove("kind");
                m.remove("apiVersion");
            }
            o
        })
        .collect();
    json!({"kind": rt.list_kind(), "apiVersion": rt.api_version(), "metadata": md, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let t = encode_continue(42, "default/web\0");
        assert_eq!(
            decode_continue(&t).unwrap(),
            (42, "default/web\0".to_string())
        );
        assert!(decode_continue("not-a-token").is_err());
    }
}
