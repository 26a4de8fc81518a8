//! HTTP plumbing: lenient query parsing, response builders (JSON, Status, streams, text),
//! `Warning` headers, and Accept negotiation for Tables and metadata-only answers.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::error::ApiError;

/// Every response body.
pub type Body = BoxBody<Bytes, Infallible>;

/// Query parameters, parsed leniently: empty pairs (`?&watch=true`) are skipped, `+` is a
/// space, unknown parameters are kept but ignored by handlers.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        let mut out = Vec::new();
        for pair in q.unwrap_or("").split('&') {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            out.push((dec(k), dec(v)));
        }
        Self(out)
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `name` is present at all (`?verbose`).
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// A boolean parameter: `true`, `True`, `1` (Python sends `True`).
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None => Ok(false),
            Some(v) => parse_bool(v)
                .ok_or_else(|| ApiError::bad_request(format!("invalid value for {name}: {v}"))),
        }
    }

    /// An optional boolean parameter.
    pub fn opt_flag(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.get(name)
            .map(|v| {
                parse_bool(v)
                    .ok_or_else(|| ApiError::bad_request(format!("invalid value for {name}: {v}")))
            })
            .transpose()
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "True" | "TRUE" | "1" | "t" | "T" | "" => Some(true),
        "false" | "False" | "FALSE" | "0" | "f" | "F" => Some(false),
        _ => None,
    }
}

/// `Warning: 299 - "<text>"` as apimachinery formats it.
pub fn warning_value(text: &str) -> Option<HeaderValue> {
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"");
    HeaderValue::from_str(&format!("299 - \"{escaped}\"")).ok()
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A JSON response (compact, `application/json`) with optional warnings.
pub fn json(code: u16, v: &Value, warnings: &[String]) -> Response<Body> {
    json_typed(code, v, warnings, "application/json")
}

/// A JSON response with another content type (aggregated discovery).
pub fn json_typed(code: u16, v: &Value, warnings: &[String], content_type: &str) -> Response<Body> {
    let body = crate::objects::meta::to_bytes(v);
    let mut r = Response::new(full(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/json")),
    );
    let mut seen = Vec::new();
    for w in warnings {
        if seen.contains(w) {
            continue;
        }
        seen.push(w.clone());
        if let Some(h) = warning_value(w) {
            r.headers_mut().append(header::WARNING, h);
        }
    }
    r
}

/// Any body with its status code and content type (a [`crate::Front`]'s answer).
pub fn raw(code: u16, content_type: &str, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// An error as a `Status` body with its code.
pub fn error(e: &ApiError) -> Response<Body> {
    let mut r = json(e.code, &e.status(), &[]);
    if let Some(s) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// A plain-text response.
pub fn text(code: u16, body: impl Into<Bytes>, content_type: &'static str) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// A streamed `application/json` body (watches): each chunk is sent as it comes.
pub fn stream(rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    let s = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let mut r = Response::new(StreamBody::new(s).boxed());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    r
}

/// One media range of an Accept header with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRange {
    pub mime: String,
    pub params: Vec<(String, String)>,
}

impl MediaRange {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses `Accept` into media ranges in the client's order.
pub fn accept(header: Option<&str>) -> Vec<MediaRange> {
    header
        .unwrap_or("")
        .split(',')
        .filter_map(|part| {
            let mut it = part.split(';');
            let mime = it.next()?.trim().to_ascii_lowercase();
            if mime.is_empty() {
                return None;
            }
            let params = it
                .filter_map(|p| {
                    p.split_once('=').map(|(k, v)| {
                        (k.trim().to_string(), v.trim().trim_matches('"').to_string())
                    })
                })
                .collect();
            Some(MediaRange { mime, params })
        })
        .collect()
}

/// How an object answer is rendered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Representation {
    Full,
    /// `meta.k8s.io` Table of the given version (`v1` or `v1beta1`).
    Table(&'static str),
    /// PartialObjectMetadata(List).
    Metadata,
}

/// The first representation the client asks for that the server can give.
pub fn representation(accept_header: Option<&str>) -> Representation {
    for m in accept(accept_header) {
        if m.mime != "application/json" && m.mime != "*/*" && m.mime != "application/*" {
            continue;
        }
        match (m.param("as"), m.param("g"), m.param("v")) {
            (None, _, _) => return Representation::Full,
            (Some("Table"), Some("meta.k8s.io"), Some("v1")) => return Representation::Table("v1"),
            (Some("Table"), Some("meta.k8s.io"), Some("v1beta1")) => {
                return Representation::Table("v1beta1");
            }
            (
                Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
                Some("meta.k8s.io"),
                Some("v1"),
            ) => {
                return Representation::Metadata;
            }
            _ => continue,
        }
    }
    Representation::Full
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_lenient() {
        let q = Query::parse(Some(
            "&watch=True&fieldSelector=metadata.name%3Dweb&timeout=32s&verbose",
        ));
        assert!(q.flag("watch").unwrap());
        assert_eq!(q.get("fieldSelector"), Some("metadata.name=web"));
        assert!(q.has("verbose"));
        assert!(!q.flag("allowWatchBookmarks").unwrap());
    }

    #[test]
    fn tables_are_negotiated() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(representation(Some(kubectl)), Representation::Table("v1"));
        assert_eq!(representation(None), Representation::Full);
        assert_eq!(
            representation(Some(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
            )),
            Representation::Metadata
        );
    }

    #[test]
    fn warnings_are_quoted() {
        assert_eq!(warning_value("a \"b\"").unwrap(), "299 - \"a \\\"b\\\"\"");
    }
}
