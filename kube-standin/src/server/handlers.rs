//! Request dispatch: authentication result in, response out; meta endpoints (`/version`,
//! health checks), discovery and OpenAPI here, resource verbs in `resources.rs`.

use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use serde_json::json;

use super::http::{self as h, Body, Query};
use super::resources;
use super::routes::{Target, route};
use crate::api::State;
use crate::config::UserInfo;
use crate::discovery;
use crate::error::ApiError;
use crate::openapi;

/// A request with its body read and its user authenticated.
#[derive(Debug)]
pub struct Req {
    pub method: Method,
    pub path: String,
    pub query: Query,
    pub headers: HeaderMap,
    pub user: UserInfo,
    pub body: Bytes,
}

impl Req {
    /// The request's media type (`Content-Type` without parameters, lower case).
    pub fn mime(&self, default: &str) -> String {
        let ct = self.header("content-type").unwrap_or(default);
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

const CHECKS: &[&str] = &[
    "ping",
    "log",
    "etcd",
    "poststarthook/start-apiserver-admission-initializer",
    "poststarthook/generic-apiserver-start-informers",
    "poststarthook/start-apiextensions-informers",
    "poststarthook/start-apiextensions-controllers",
    "poststarthook/crd-informer-synced",
    "poststarthook/bootstrap-controller",
    "poststarthook/scheduling/bootstrap-system-priority-classes",
];

fn health(kind: &str, path: &str, query: &Query) -> Response<Body> {
    let mut checks: Vec<&str> = CHECKS.to_vec();
    if kind == "readyz" {
        checks.insert(3, "etcd-readiness");
        checks.insert(4, "informer-sync");
        checks.push("shutdown");
    }
    let sub = path.trim_start_matches('/').split_once('/').map(|(_, s)| s);
    if let Some(check) = sub {
        return if checks.contains(&check) {
            h::text(200, "ok", "text/plain; charset=utf-8")
        } else {
            h::text(404, "404 page not found\n", "text/plain; charset=utf-8")
        };
    }
    if query.has("verbose") {
        let mut out: String = checks.iter().map(|c| format!("[+]{c} ok\n")).collect();
        out.push_str(&format!("{kind} check passed\n"));
        return h::text(200, out, "text/plain; charset=utf-8");
    }
    h::text(200, "ok", "text/plain; charset=utf-8")
}

fn version(state: &State) -> serde_json::Value {
    let v = &state.config.version;
    json!({"major": v.major, "minor": v.minor, "emulationMajor": v.major, "emulationMinor": v.minor,
        "minCompatibilityMajor": v.major, "minCompatibilityMinor": v.minor,
        "gitVersion": v.git_version, "gitCommit": v.git_commit, "gitTreeState": "clean",
        "buildDate": v.build_date, "goVersion": v.go_version, "compiler": "gc", "platform": v.platform})
}

fn server_address(state: &State, headers: &HeaderMap) -> String {
    state
        .config
        .advertise_address
        .clone()
        .or_else(|| {
            headers
                .get("host")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_else(|| state.config.listen.to_string())
}

/// Handles one authenticated request.
pub async fn dispatch(state: &State, req: Req) -> Response<Body> {
    let reg = &state.registry;
    let get_only = |r: Response<Body>| {
        if req.method == Method::GET || req.method == Method::HEAD {
            r
        } else {
            h::error(&ApiError::method_not_allowed(req.method.as_str(), ""))
        }
    };
    match route(reg, &req.path) {
        Target::Version => get_only(h::json(200, &version(state), &[])),
        Target::Health(kind) => get_only(health(kind, &req.path, &req.query)),
        Target::CoreVersions | Target::Groups => {
            let core = matches!(route(reg, &req.path), Target::CoreVersions);
            match discovery::aggregated_version(req.header("accept")) {
                Some(v) => get_only(h::json_typed(
                    200,
                    &discovery::aggregated(reg, core, v),
                    &[],
                    &discovery::aggregated_content_type(v),
                )),
                None if core => get_only(h::json(
                    200,
                    &discovery::api_versions(&server_address(state, &req.headers)),
                    &[],
                )),
                None => get_only(h::json(200, &discovery::api_group_list(reg), &[])),
            }
        }
        Target::Group(g) => match discovery::api_group(reg, &g) {
            Some(doc) => get_only(h::json(200, &doc, &[])),
            None => h::error(&ApiError::no_route()),
        },
        Target::ResourceList(g, v) => {
            get_only(h::json(200, &discovery::resource_list(reg, &g, &v), &[]))
        }
        Target::OpenApiV2 => {
            let wants_json = req
                .header("accept")
                .is_some_and(|a| a.contains("application/json") && !a.contains("protobuf"));
            if wants_json {
                get_only(h::json(
                    200,
                    &openapi::v2_json(&state.config.version.git_version),
                    &[],
                ))
            } else {
                get_only(h::text(200, Bytes::new(), openapi::V2_PROTOBUF))
            }
        }
        Target::OpenApiV3Root => get_only(h::json(
            200,
            &openapi::v3_root(reg, &state.config.version.git_version),
            &[],
        )),
        Target::OpenApiV3(g, v) => get_only(h::json(
            200,
            &openapi::v3_group_version(reg, &g, &v, &state.config.version.git_version),
            &[],
        )),
        Target::Resource(rp) => match resources::handle(state, &req, rp).await {
            Ok(r) => r,
            Err(e) => h::error(&e),
        },
        Target::NotFound => {
            if req.path.starts_with("/api") {
                h::error(&ApiError::no_route())
            } else {
                h::text(404, "404 page not found\n", "text/plain; charset=utf-8")
            }
        }
    }
}
