//! Files over plain HTTP, like a release download site, for the tests of `get_url` through
//! `platform play` and `ansible-playbook` (on 127.0.0.1) and of the k3s install's download
//! paths (on every address, which the local cloud's hosts reach at their subnet gateway): a
//! fixed set of paths (others get 404), HEAD as GET without the body, and a log of `METHOD path` for every request, so
//! a test can see whether a tool downloaded a file or only its checksum list.

use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A running server; it stops when the test process ends.
pub struct FileServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The port it listens on.
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl FileServer {
    /// Serves `files` (raw request path, as clients percent-encode it, and content) on
    /// 127.0.0.1, on a thread of its own, so that synchronous tests can use it.
    pub fn start(files: Vec<(String, Vec<u8>)>) -> FileServer {
        FileServer::start_on("127.0.0.1", files)
    }

    /// [`FileServer::start`] on a free port of `ip` (`0.0.0.0`: every address of this
    /// machine, the local cloud's subnet gateways included).
    pub fn start_on(ip: &str, files: Vec<(String, Vec<u8>)>) -> FileServer {
        let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}");
        let files: Arc<HashMap<String, Bytes>> = Arc::new(
            files
                .into_iter()
                .map(|(p, b)| (p, Bytes::from(b)))
                .collect(),
        );
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = log.clone();
        let app = axum::Router::new().fallback(move |m: Method, u: Uri| {
            let files = files.clone();
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(format!("{m} {}", u.path()));
                match files.get(u.path()) {
                    Some(b) => b.clone().into_response(),
                    None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
                }
            }
        });
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        FileServer { base, port, log }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `METHOD path` of every request since the last call.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}
