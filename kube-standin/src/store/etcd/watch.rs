//! Watches over the gateway's streaming `/v3/watch`: one HTTP request per watch (HTTP/1.1
//! cannot carry more requests once the answer streams), `prev_kv` for updates and deletes,
//! progress notifications for bookmarks, and "require leader" as kube-apiserver's watches
//! ask for it. A stream that breaks (member stopped, or it lost its leader) is opened again
//! on the next endpoint from the revision after the last event delivered; when that is not
//! possible within the request timeout, or the revision was compacted, the events channel
//! closes and the API watch ends, so clients watch again (and get their 410 or error).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::client::{Attempt, CallError, Shared, UNAVAILABLE, pause_after};
use super::wire::{WatchLine, WatchResponse, b64, prefix_end};
use crate::store::{Event, Revision, Watch};

/// The longest line accepted from the stream (etcd's default request limit is 1.5 MiB; a
/// batch of events with previous values can be several of those).
const MAX_LINE: usize = 64 * 1024 * 1024;

/// One open `/v3/watch` answer, read line by line.
struct Stream {
    body: Incoming,
    buf: BytesMut,
}

impl Stream {
    /// The next message; `Err` when the stream broke, ended or sent something unreadable.
    async fn next(&mut self) -> Result<WatchLine, String> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line = self.buf.split_to(pos + 1);
                let text = &line[..pos];
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return serde_json::from_slice(text).map_err(|e| format!("watch stream: {e}"));
            }
            if self.buf.len() > MAX_LINE {
                return Err("watch stream: message too large".into());
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => return Err(format!("watch stream: {e}")),
                None => return Err("watch stream ended".into()),
            }
        }
    }
}

/// Why a watch could not be (re)opened.
enum OpenError {
    Compacted,
    Call(CallError),
}

/// The state of one store watch.
struct Watcher {
    transport: Shared,
    key: String,
    range_end: String,
    /// The revision the next (re)opened stream starts at.
    next: Revision,
    tx: mpsc::UnboundedSender<Event>,
    progress: Arc<AtomicI64>,
}

/// Starts a watch of `prefix` after revision `after`; returns once etcd has created it.
pub async fn start(transport: Shared, prefix: &str, after: Revision) -> Result<Watch, CallError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let progress = Arc::new(AtomicI64::new(after));
    let mut w = Watcher {
        transport,
        key: b64(prefix.as_bytes()),
        range_end: b64(&prefix_end(prefix)),
        next: after + 1,
        tx,
        progress: progress.clone(),
    };
    match w.open().await {
        Ok(stream) => {
            tokio::spawn(w.run(stream));
        }
        // Compacted between the caller's check and now: a closed channel ends the API watch,
        // and the client's next watch gets its 410.
        Err(OpenError::Compacted) => {}
        Err(OpenError::Call(e)) => return Err(e),
    }
    Ok(Watch {
        events: rx,
        progress,
    })
}

impl Watcher {
    /// Opens the stream on the first endpoint that creates the watch, within the timeout.
    async fn open(&mut self) -> Result<Stream, OpenError> {
        let t = &self.transport;
        let body = json!({"create_request": {"key": self.key, "range_end": self.range_end,
            "start_revision": self.next.to_string(), "prev_kv": true, "progress_notify": true}});
        let body = Bytes::from(body.to_string());
        let deadline = Instant::now() + t.request_timeout;
        let mut last = String::from("nothing tried");
        let mut failures = 0usize;
        loop {
            let idx = t.preferred();
            let attempt = tokio::time::timeout_at(deadline, self.attempt(idx, body.clone()));
            match attempt.await {
                Err(_) => {
                    return Err(OpenError::Call(CallError::Timeout {
                        after: t.request_timeout,
                        last,
                    }));
                }
                Ok(Ok(Some(stream))) => return Ok(stream),
                Ok(Ok(None)) => return Err(OpenError::Compacted),
                Ok(Err(Attempt::Etcd { code, message })) if code != UNAVAILABLE => {
                    return Err(OpenError::Call(CallError::Etcd { code, message }));
                }
                Ok(Err(Attempt::Etcd { message, .. })) => last = message,
                Ok(Err(Attempt::Unsent(m) | Attempt::Lost(m))) => last = m,
            }
            t.rotate(idx);
            failures += 1;
            if let Some(pause) = pause_after(failures, t.endpoints().len()) {
                tokio::time::sleep_until(deadline.min(Instant::now() + pause)).await;
            }
        }
    }

    /// One try on one endpoint: the stream once etcd says "created", `None` if it says the
    /// start revision was compacted.
    async fn attempt(&self, idx: usize, body: Bytes) -> Result<Option<Stream>, Attempt> {
        let resp = self.transport.send(idx, "/v3/watch", body, true).await?;
        let mut stream = Stream {
            body: resp.into_body(),
            buf: BytesMut::new(),
        };
        loop {
            let line = stream.next().await.map_err(Attempt::Lost)?;
            if let Some(e) = line.error {
                return Err(Attempt::Etcd {
                    code: e.grpc_code,
                    message: e.message,
                });
            }
            let Some(r) = line.result else { continue };
            if r.canceled {
                return if r.compact_revision > 0 {
                    Ok(None)
                } else {
                    Err(Attempt::Lost(format!(
                        "watch canceled: {}",
                        r.cancel_reason
                    )))
                };
            }
            if r.created {
                return Ok(Some(stream));
            }
        }
    }

    /// Delivers events until the receiver goes away, reopening the stream when it breaks.
    async fn run(mut self, mut stream: Stream) {
        loop {
            let line = tokio::select! {
                line = stream.next() => line,
                _ = self.tx.closed() => return,
            };
            let broken = match line {
                Ok(WatchLine {
                    result: Some(r), ..
                }) => match self.deliver(r) {
                    Delivery::Continue => continue,
                    Delivery::Stop => return,
                    Delivery::Reopen => true,
                },
                Ok(WatchLine { error: Some(e), .. }) => {
                    tracing::debug!(error = %e.message, "etcd watch stream error; reopening");
                    true
                }
                Ok(_) => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "etcd watch stream broke; reopening");
                    true
                }
            };
            if broken {
                match self.open().await {
                    Ok(s) => stream = s,
                    Err(OpenError::Compacted) => return,
                    Err(OpenError::Call(e)) => {
                        tracing::warn!(error = %e, "etcd watch could not be reopened; ending it");
                        return;
                    }
                }
            }
        }
    }

    fn deliver(&mut self, r: WatchResponse) -> Delivery {
        if r.canceled {
            return if r.compact_revision > 0 {
                Delivery::Stop
            } else {
                Delivery::Reopen
            };
        }
        if r.events.is_empty() {
            if !r.created {
                // A progress notification: etcd sends one only to a watcher that has seen
                // every event up to the header's revision.
                self.progress.fetch_max(r.header.revision, Ordering::AcqRel);
            }
            return Delivery::Continue;
        }
        for e in &r.events {
            let ev = match e.decode() {
                Ok(ev) => ev,
                Err(err) => {
                    tracing::warn!(error = %err, "etcd watch event not understood; ending the watch");
                    return Delivery::Stop;
                }
            };
            let rev = ev.kv.mod_revision;
            if self.tx.send(ev).is_err() {
                return Delivery::Stop;
            }
            self.next = self.next.max(rev + 1);
            self.progress.fetch_max(rev, Ordering::AcqRel);
        }
        Delivery::Continue
    }
}

enum Delivery {
    Continue,
    Stop,
    Reopen,
}
