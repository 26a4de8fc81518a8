//! Watches: initial events or a start revision, selector transitions (ADDED/DELETED when an
//! object moves in or out), bookmarks, `timeoutSeconds`, and the in-stream 410 ERROR.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::list::{ListRequest, list, parse_rv};
use super::{ServerState, present};
use crate::error::ApiError;
use crate::kinds::ResourceType;
use crate::objects::meta;
use crate::selectors::Selectors;
use crate::store::{Event, EventKind, StoreError};

/// How event objects are rendered (full object, Table row, metadata only), set by the
/// HTTP layer from the Accept header.
#[derive(Clone)]
pub struct Render(pub Arc<dyn Fn(Value) -> Value + Send + Sync>);

impl std::fmt::Debug for Render {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Render")
    }
}

impl Default for Render {
    fn default() -> Self {
        Render(Arc::new(|v| v))
    }
}

/// A watch request's parameters.
#[derive(Debug, Clone, Default)]
pub struct WatchRequest {
    pub namespace: Option<String>,
    pub selectors: Selectors,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub allow_bookmarks: bool,
    pub send_initial_events: Option<bool>,
    pub timeout: Option<Duration>,
    pub render: Render,
}

/// One newline-terminated watch event.
pub fn line(kind: &str, object: &Value) -> Bytes {
    let mut v = crate::objects::meta::to_bytes(&json!({"type": kind, "object": object}));
    v.push(b'\n');
    Bytes::from(v)
}

fn bookmark(rt: &ResourceType, rev: i64, initial_end: bool) -> Bytes {
    let mut md = serde_json::Map::new();
    md.insert("resourceVersion".into(), json!(rev.to_string()));
    if initial_end {
        md.insert(
            "annotations".into(),
            json!({"k8s.io/initial-events-end": "true"}),
        );
    }
    line(
        "BOOKMARK",
        &json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": md}),
    )
}

/// Validates the request and starts streaming; the receiver yields the body's chunks.
pub async fn start(
    state: Arc<ServerState>,
    rt: Arc<ResourceType>,
    req: WatchRequest,
) -> Result<mpsc::Receiver<Bytes>, ApiError> {
    let rv = req.resource_version.clone().filter(|s| !s.is_empty());
    let sie = req.send_initial_events;
    if sie.is_some() && req.resource_version_match.as_deref() != Some("NotOlderThan") {
        return Err(ApiError::bad_request(
            "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan",
        ));
    }
    if req.resource_version_match.is_some() && sie.is_none() {
        return Err(ApiError::bad_request(
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        ));
    }
    let legacy_initial = sie.is_none() && rv.as_deref().is_none_or(|r| r == "0");
    let initial = sie == Some(true) || legacy_initial;
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let mut start_rev = match rv.as_deref() {
        Some(r) if !initial || sie == Some(true) => parse_rv(r)?,
        _ => 0,
    };
    let mut initial_lines = Vec::new();
    if initial {
        let lreq = ListRequest {
            namespace: req.namespace.clone(),
            selectors: req.selectors.clone(),
            ..Default::default()
        };
        let page = list(&state, &rt, &lreq).await?;
        start_rev = page.revision;
        initial_lines.extend(
            page.items
                .into_iter()
                .map(|o| line("ADDED", &(req.render.0)(o))),
        );
        if sie == Some(true) {
            initial_lines.push(bookmark(&rt, start_rev, true));
        }
    }
    let prefix = rt.prefix(req.namespace.as_deref());
    let watch = match state.store.watch(&prefix, start_rev).await {
        Ok(w) => w,
        Err(StoreError::Compacted {
            requested,
            compacted,
        }) => {
            let _ = tx
                .send(line(
                    "ERROR",
                    &ApiError::too_old(requested, compacted).status(),
                ))
                .await;
            return Ok(rx);
        }
        Err(e) => return Err(e.into()),
    };
    let interval = state.config.bookmark_interval;
    tokio::spawn(async move {
        for l in initial_lines {
            if tx.send(l).await.is_err() {
                return;
            }
        }
        run(rt, req, watch, tx, start_rev, interval).await;
    });
    Ok(rx)
}

/// Converts a store event into the watch event this watcher sees (if any).
fn convert(rt: &ResourceType, req: &WatchRequest, ev: &Event) -> Option<Bytes> {
    let sel = &req.selectors;
    let now = present(rt, meta::decode(&ev.kv));
    let line = |kind: &str, obj: &Value| line(kind, &(req.render.0)(obj.clone()));
    match ev.kind {
        EventKind::Delete => sel.matches(&now).then(|| line("DELETED", &now)),
        EventKind::Put => {
            let was = ev
                .prev
                .as_ref()
                .map(|p| sel.matches(&meta::decode(p)))
                .unwrap_or(false);
            let is = sel.matches(&now);
            match (ev.prev.is_some() && was, is) {
                (false, true) => Some(line("ADDED", &now)),
                (true, true) => Some(line("MODIFIED", &now)),
                (true, false) => Some(line("DELETED", &now)),
                (false, false) => None,
            }
        }
    }
}

async fn run(
    rt: Arc<ResourceType>,
    req: WatchRequest,
    mut watch: crate::store::Watch,
    tx: mpsc::Sender<Bytes>,
    start_rev: i64,
    interval: Duration,
) {
    // The real server closes a watch after a random 30-60 min when the client sets no timeout.
    let deadline = tokio::time::sleep(req.timeout.unwrap_or(Duration::from_secs(1800)));
    tokio::pin!(deadline);
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    let mut last = start_rev;
    loop {
        tokio::select! {
            ev = watch.events.recv() => {
                let Some(ev) = ev else { return };
                last = ev.kv.mod_revision;
                if let Some(l) = convert(&rt, &req, &ev)
                    && tx.send(l).await.is_err() {
                        return;
                    }
            }
            _ = ticker.tick(), if req.allow_bookmarks => {
                let progress = watch.progress.load(Ordering::Acquire);
                // Everything up to `progress` is queued: deliver it before promising it.
                while let Ok(ev) = watch.events.try_recv() {
                    last = ev.kv.mod_revision;
                    if let Some(l) = convert(&rt, &req, &ev)
                        && tx.send(l).await.is_err() {
                            return;
                        }
                }
                last = last.max(progress);
                if tx.send(bookmark(&rt, last, false)).await.is_err() {
                    return;
                }
            }
            _ = &mut deadline => return,
            _ = tx.closed() => return,
        }
    }
}
