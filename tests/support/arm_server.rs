//! A scripted ARM server over real HTTPS (own rcgen CA) for the ARM client's protocol tests.
//!
//! Each `(method, path)` gets a queue of replies; the last one repeats. Every request is
//! logged so tests can check what the client sent and in which order.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use platform::azure::{ArmClient, ArmClientOptions, PollConfig, RetryConfig};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

/// A reply with this status, no headers, no body.
pub fn reply(status: u16) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: None,
    }
}

impl Reply {
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub body: Option<Value>,
}

#[derive(Default)]
struct State {
    script: HashMap<String, VecDeque<Reply>>,
    log: Vec<Seen>,
}

/// A running scripted server.
pub struct Scripted {
    pub base: Url,
    pub ca_pem: String,
    state: Arc<Mutex<State>>,
}

/// A CA and a leaf certificate for 127.0.0.1/localhost signed by it: (ca, cert, key) PEMs.
pub fn test_pki() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    (ca.pem(), leaf.pem(), leaf_key.serialize_pem())
}

async fn handle(
    state: Arc<Mutex<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let mut st = state.lock().unwrap();
    st.log.push(Seen {
        method: method.to_string(),
        path: path.clone(),
        query: uri.query().unwrap_or("").to_string(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(String::from),
        body: serde_json::from_slice(&body).ok(),
    });
    let key = format!("{method} {path}");
    let next = st.script.get_mut(&key).and_then(|q| {
        if q.len() > 1 {
            q.pop_front()
        } else {
            q.front().cloned()
        }
    });
    let Some(r) = next else {
        let body = serde_json::json!({"error":{"code":"NotScripted","message":key}});
        return (StatusCode::IM_A_TEAPOT, axum::Json(body)).into_response();
    };
    let mut resp = match r.body {
        Some(b) => axum::Json(b).into_response(),
        None => ().into_response(),
    };
    *resp.status_mut() = StatusCode::from_u16(r.status).unwrap();
    for (k, v) in r.headers {
        resp.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    resp
}

impl Scripted {
    /// Starts the server on a free loopback port.
    pub async fn start() -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let (ca_pem, cert, key) = test_pki();
        let config =
            axum_server::tls_rustls::RustlsConfig::from_pem(cert.into_bytes(), key.into_bytes())
                .await
                .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let st = Arc::clone(&state);
        let app = axum::Router::new().fallback(move |m: Method, u: Uri, h: HeaderMap, b: Bytes| {
            handle(Arc::clone(&st), m, u, h, b)
        });
        tokio::spawn(async move {
            axum_server::from_tcp_rustls(listener, config)
                .serve(app.into_make_service())
                .await
                .unwrap();
        });
        let base = Url::parse(&format!("https://127.0.0.1:{port}")).unwrap();
        Self {
            base,
            ca_pem,
            state,
        }
    }

    /// Scripts the replies to `method path` (the last one repeats).
    pub fn on(&self, method: &str, path: &str, replies: Vec<Reply>) {
        let key = format!("{method} {path}");
        self.state
            .lock()
            .unwrap()
            .script
            .insert(key, replies.into());
    }

    /// An absolute URL on this server.
    pub fn url(&self, path_and_query: &str) -> String {
        format!(
            "{}{}",
            self.base.as_str().trim_end_matches('/'),
            path_and_query
        )
    }

    /// Requests received so far.
    pub fn log(&self) -> Vec<Seen> {
        self.state.lock().unwrap().log.clone()
    }

    /// `METHOD path` of every request received, in order.
    pub fn calls(&self) -> Vec<String> {
        self.log()
            .iter()
            .map(|s| format!("{} {}", s.method, s.path))
            .collect()
    }

    /// Client options with time scaled down so protocol waits take milliseconds.
    pub fn options(&self) -> ArmClientOptions {
        let mut o = ArmClientOptions::local(
            self.base.clone(),
            "sub1",
            self.ca_pem.clone(),
            platform::azure::Secret::new("scripted"),
        );
        o.retry = RetryConfig {
            initial_delay: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            max_retry_after: Duration::from_millis(20),
            budget: Duration::from_secs(2),
            max_retries: 5,
            ratelimit_low_watermark: 0,
        };
        o.poll = PollConfig {
            default_interval: Duration::from_millis(5),
            min_interval: Duration::ZERO,
            max_interval: Duration::from_millis(20),
            deadline: Duration::from_secs(5),
            max_status_read_failures: 3,
        };
        o
    }

    /// A client for this server with [`Scripted::options`].
    pub fn client(&self) -> ArmClient {
        ArmClient::new(self.options()).unwrap()
    }
}
