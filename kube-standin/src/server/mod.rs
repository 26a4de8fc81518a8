//! The HTTPS server: TLS with client identities (tokio-rustls), HTTP/1.1 and HTTP/2
//! (hyper-util), authentication, then dispatch; start-up creates the default objects.

mod bootstrap;
pub mod handlers;
pub mod http;
pub mod resources;
pub mod routes;
pub mod scale;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use self::handlers::Req;
use self::http::{Body, Query};
use crate::api::{ServerState, State};
use crate::auth;
use crate::config::{ServerConfig, UserInfo};
use crate::error::ApiError;
use crate::kinds::Registry;
use crate::store::Store;

/// The largest request body accepted (kube-apiserver's default is 3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("TLS configuration: {0}")]
    Tls(#[from] auth::TlsError),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("creating the default objects: {0}")]
    Bootstrap(ApiError),
}

/// A running API server; dropping it does not stop it, [`RunningServer::shutdown`] does.
pub struct RunningServer {
    addr: SocketAddr,
    state: State,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://<addr>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The store it serves from.
    pub fn store(&self) -> Arc<dyn Store> {
        self.state.store.clone()
    }

    /// Stops accepting, closes every connection (watches end) and stops the controllers.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

/// Starts serving `store` with `config`; returns once the listener is bound and the default
/// namespaces exist, so the API is ready when this returns.
pub async fn start(
    config: ServerConfig,
    store: Arc<dyn Store>,
) -> Result<RunningServer, StartError> {
    let tls = auth::server_tls(&config)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: config.listen,
        source,
    })?;
    let state: State = Arc::new(ServerState {
        config,
        store,
        registry: Registry::new(),
        service_alloc: tokio::sync::Mutex::new(()),
    });
    bootstrap::run(&state, addr)
        .await
        .map_err(StartError::Bootstrap)?;
    bootstrap::load_crds(&state)
        .await
        .map_err(StartError::Bootstrap)?;
    let mut tasks = crate::controllers::spawn(state.clone());
    let (tx, rx) = watch::channel(false);
    tasks.push(tokio::spawn(accept_loop(
        listener,
        TlsAcceptor::from(Arc::new(tls)),
        state.clone(),
        rx,
    )));
    tracing::info!(%addr, "kube-standin API server listening");
    Ok(RunningServer {
        addr,
        state,
        shutdown: tx,
        tasks,
    })
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: State,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, remote)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                conns.spawn(serve_connection(tcp, remote, acceptor.clone(), state.clone()));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = shutdown.changed() => {
                conns.abort_all();
                return;
            }
        }
    }
}

async fn serve_connection(
    tcp: tokio::net::TcpStream,
    remote: SocketAddr,
    acceptor: TlsAcceptor,
    state: State,
) {
    let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
        Ok(Ok(t)) => t,
        _ => return,
    };
    let cert_user = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(auth::user_from_certificate);
    let svc = service_fn(move |req| {
        let state = state.clone();
        let cert_user = cert_user.clone();
        async move { Ok::<_, Infallible>(handle(state, cert_user, remote, req).await) }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), svc)
        .await;
}

async fn handle(
    state: State,
    cert_user: Option<UserInfo>,
    remote: SocketAddr,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Body> {
    let (parts, body) = req.into_parts();
    let body = match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let mut e = ApiError::bad_request("the request body is too large or could not be read");
            e.code = 413;
            e.reason = "RequestEntityTooLarge";
            return http::error(&e);
        }
    };
    if let Some(front) = &state.config.front {
        let freq = crate::config::FrontRequest {
            method: parts.method.clone(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers.clone(),
            cert_user: cert_user.clone(),
            remote,
            body: body.clone(),
        };
        if let Some(r) = front.handle(&freq).await {
            return http::raw(r.status, &r.content_type, r.body);
        }
    }
    let authz = parts
        .headers
        .get(::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(user) = auth::authenticate(cert_user.as_ref(), authz, &state.config.tokens) else {
        return http::error(&ApiError::unauthorized());
    };
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let req = Req {
        method,
        path,
        query: Query::parse(parts.uri.query()),
        headers: parts.headers,
        user,
        body,
    };
    let (m, p, u) = (req.method.clone(), req.path.clone(), req.user.name.clone());
    let resp = handlers::dispatch(&state, req).await;
    tracing::debug!(method = %m, path = %p, user = %u, code = resp.status().as_u16(), "request");
    resp
}
