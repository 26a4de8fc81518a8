//! Resource verbs over HTTP: get, list, watch, create, update, patch, delete and
//! deletecollection, with their query parameters and the representations clients ask for.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Response};
use serde_json::{Value, json};

use super::handlers::Req;
use super::http::{self as h, Body, Representation};
use super::routes::ResourcePath;
use crate::api::delete::{self, DeleteOptions, Deleted};
use crate::api::list::{ListRequest, list, list_object};
use crate::api::watch::{self, WatchRequest};
use crate::api::write::{self, Change};
use crate::api::{State, WriteOptions, get_for_read, present};
use crate::error::ApiError;
use crate::kinds::ResourceType;
use crate::objects::meta;
use crate::selectors::Selectors;
use crate::ssa::prune::prune_unknown;
use crate::table;

/// How unknown fields are treated (`fieldValidation`; the server default is Warn).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Validation {
    Ignore,
    Warn,
    Strict,
}

fn validation(req: &Req) -> Result<Validation, ApiError> {
    match req.query.get("fieldValidation").unwrap_or("") {
        "" | "Warn" => Ok(Validation::Warn),
        "Ignore" => Ok(Validation::Ignore),
        "Strict" => Ok(Validation::Strict),
        other => Err(ApiError::bad_request(format!(
            "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
        ))),
    }
}

/// Write options from the query (`dryRun`, `fieldManager`, else the User-Agent's program).
pub fn write_options(req: &Req, subresource: Option<&str>) -> Result<WriteOptions, ApiError> {
    let dry_run = match req.query.get("dryRun") {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
            )));
        }
    };
    let manager = match req.query.get("fieldManager").filter(|m| !m.is_empty()) {
        Some(m) if m.len() > 128 => {
            return Err(ApiError::bad_request(
                "fieldManager: Too long: may not be more than 128 bytes",
            ));
        }
        Some(m) => m.to_string(),
        None => req
            .header("user-agent")
            .unwrap_or("unknown")
            .split('/')
            .next()
            .unwrap_or("unknown")
            .to_string(),
    };
    Ok(WriteOptions {
        manager,
        dry_run,
        subresource: subresource.map(str::to_string),
    })
}

/// Parses a JSON (or YAML) request body into an object.
pub fn decode_body(req: &Req, rt: &ResourceType) -> Result<Value, ApiError> {
    let mime = req.mime("application/json");
    let parsed: Result<Value, String> = match mime.as_str() {
        "application/json" | "" | "*/*" => {
            serde_json::from_slice(&req.body).map_err(|e| e.to_string())
        }
        "application/yaml" | "application/apply-patch+yaml" => {
            let text = String::from_utf8_lossy(&req.body);
            serde_saphyr::from_str::<Value>(&text).map_err(|e| e.to_string())
        }
        _ => {
            return Err(ApiError::unsupported_media_type(
                &mime,
                &["application/json", "application/yaml"],
            ));
        }
    };
    let v = parsed.map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })?;
    if !v.is_object() {
        return Err(ApiError::bad_request(format!(
            "Object '{}' is missing in '{}'",
            "Kind",
            String::from_utf8_lossy(&req.body)
                .chars()
                .take(200)
                .collect::<String>()
        )));
    }
    let _ = rt;
    Ok(v)
}

/// Drops unknown fields; Strict fails, Warn warns.
pub fn check_unknown(
    rt: &ResourceType,
    obj: &mut Value,
    v: Validation,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    let unknown = prune_unknown(obj, &rt.schema);
    if unknown.is_empty() {
        return Ok(());
    }
    let msgs: Vec<String> = unknown
        .iter()
        .map(|u| format!("unknown field \"{u}\""))
        .collect();
    match v {
        Validation::Ignore => Ok(()),
        Validation::Warn => {
            warnings.extend(msgs);
            Ok(())
        }
        Validation::Strict => Err(ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
            rt.kind,
            rt.version,
            rt.kind,
            msgs.join(", ")
        ))),
    }
}

/// An object in the representation the client asked for.
fn render_as(rt: &ResourceType, repr: Representation, include: &str, obj: Value) -> Value {
    match repr {
        Representation::Full => obj,
        Representation::Table(v) => {
            let rv = meta::meta_str(&obj, "resourceVersion").map(str::to_string);
            table::table(rt, v, &[obj], rv, None, include)
        }
        Representation::Metadata => {
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))})
        }
    }
}

fn render_one(rt: &ResourceType, req: &Req, obj: Value) -> Value {
    let include = req.query.get("includeObject").unwrap_or("Metadata");
    render_as(rt, h::representation(req.header("accept")), include, obj)
}

fn list_request(req: &Req, rp: &ResourcePath) -> Result<ListRequest, ApiError> {
    let limit = match req.query.get("limit").filter(|l| !l.is_empty()) {
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?
            .max(0) as usize,
        None => 0,
    };
    Ok(ListRequest {
        namespace: rp.namespace.clone(),
        selectors: Selectors::parse(
            &rp.rt,
            req.query.get("labelSelector"),
            req.query.get("fieldSelector"),
        )?,
        limit,
        continue_token: req
            .query
            .get("continue")
            .filter(|c| !c.is_empty())
            .map(str::to_string),
        resource_version: req.query.get("resourceVersion").map(str::to_string),
        resource_version_match: req.query.get("resourceVersionMatch").map(str::to_string),
    })
}

async fn do_list(state: &State, req: &Req, rp: &ResourcePath) -> Result<Response<Body>, ApiError> {
    let rt = &rp.rt;
    let lreq = list_request(req, rp)?;
    let page = list(state, rt, &lreq).await?;
    let body = match h::representation(req.header("accept")) {
        Representation::Full => list_object(rt, page),
        Representation::Table(v) => table::table(
            rt,
            v,
            &page.items,
            Some(page.revision.to_string()),
            page.continue_token,
            req.query.get("includeObject").unwrap_or("Metadata"),
        ),
        Representation::Metadata => {
            let items: Vec<Value> = page
                .items
                .iter()
                .map(|o| json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata").cloned().unwrap_or(json!({}))}))
                .collect();
            let mut md = serde_json::Map::new();
            md.insert("resourceVersion".into(), json!(page.revision.to_string()));
            if let Some(c) = page.continue_token {
                md.insert("continue".into(), json!(c));
            }
            json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": md, "items": items})
        }
    };
    Ok(h::json(200, &body, &[]))
}

async fn do_watch(state: &State, req: &Req, rp: &ResourcePath) -> Result<Response<Body>, ApiError> {
    let lreq = list_request(req, rp)?;
    let timeout = match req.query.get("timeoutSeconds").filter(|t| !t.is_empty()) {
        Some(t) => Some(Duration::from_secs(t.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("invalid timeoutSeconds: {t}"))
        })?)),
        None => None,
    };
    let wreq = WatchRequest {
        namespace: rp.namespace.clone(),
        selectors: lreq.selectors,
        resource_version: lreq.resource_version,
        resource_version_match: lreq.resource_version_match,
        allow_bookmarks: req.query.flag("allowWatchBookmarks")?,
        send_initial_events: req.query.opt_flag("sendInitialEvents")?,
        timeout,
        render: {
            let (rt, repr) = (rp.rt.clone(), h::representation(req.header("accept")));
            let include = req
                .query
                .get("includeObject")
                .unwrap_or("Metadata")
                .to_string();
            watch::Render(Arc::new(move |o| render_as(&rt, repr, &include, o)))
        },
    };
    let rx = watch::start(state.clone(), rp.rt.clone(), wreq).await?;
    Ok(h::stream(rx))
}

fn no_subresource(rp: &ResourcePath) -> ApiError {
    let _ = rp;
    ApiError::no_route()
}

/// Whether `sub` is a subresource `rt` serves for reads and writes.
fn allowed_sub(rt: &ResourceType, sub: Option<&str>) -> bool {
    match sub {
        None => true,
        Some("status") => rt.flags.status,
        _ => false,
    }
}

/// Handles a resource request.
pub async fn handle(
    state: &State,
    req: &Req,
    rp: ResourcePath,
) -> Result<Response<Body>, ApiError> {
    let rt: Arc<ResourceType> = rp.rt.clone();
    let ns = rp.namespace.as_deref();
    let sub = rp.subresource.as_deref();
    let mut warnings = Vec::new();
    match (&req.method, rp.name.as_deref()) {
        (&Method::GET, None) => {
            if req.query.flag("watch")? {
                do_watch(state, req, &rp).await
            } else {
                do_list(state, req, &rp).await
            }
        }
        (&Method::GET, Some(name)) => {
            if sub == Some("scale") && rt.flags.scale {
                return crate::server::scale::get(state, &rt, ns, name).await;
            }
            if !allowed_sub(&rt, sub) {
                return Err(no_subresource(&rp));
            }
            let rv = req.query.get("resourceVersion");
            let obj = get_for_read(state, &rt, ns, name, rv).await?;
            Ok(h::json(200, &render_one(&rt, req, obj), &[]))
        }
        (&Method::POST, None) => {
            let opts = write_options(req, None)?;
            let mut obj = decode_body(req, &rt)?;
            check_unknown(&rt, &mut obj, validation(req)?, &mut warnings)?;
            let created = write::create(state, &rt, ns, obj, &opts, &mut warnings).await?;
            Ok(h::json(201, &render_one(&rt, req, created), &warnings))
        }
        (&Method::PUT, Some(name)) => {
            if sub == Some("scale") && rt.flags.scale {
                return crate::server::scale::set_replicas(state, req, &rt, ns, name, false).await;
            }
            let finalize =
                sub == Some("finalize") && rt.group.is_empty() && rt.plural == "namespaces";
            if !allowed_sub(&rt, sub) && !finalize {
                return Err(no_subresource(&rp));
            }
            let opts = write_options(req, sub)?;
            let mut obj = decode_body(req, &rt)?;
            check_unknown(&rt, &mut obj, validation(req)?, &mut warnings)?;
            let rv = meta::meta_str(&obj, "resourceVersion").map(str::to_string);
            let out = write::update_with(
                state,
                &rt,
                ns,
                name,
                &opts,
                rv.as_deref(),
                &mut warnings,
                |live| match live {
                    Some(_) => Ok(Change::Replace(obj.clone())),
                    None => Err(ApiError::not_found(&rt.group, &rt.plural, name)),
                },
            )
            .await?;
            Ok(h::json(200, &render_one(&rt, req, out.object), &warnings))
        }
        (&Method::PATCH, Some(name)) => {
            if sub == Some("scale") && rt.flags.scale {
                return crate::server::scale::set_replicas(state, req, &rt, ns, name, true).await;
            }
            if !allowed_sub(&rt, sub) {
                return Err(no_subresource(&rp));
            }
            let (code, obj, warnings) =
                crate::patch::handle(state, req, &rt, ns, name, sub, validation(req)?).await?;
            Ok(h::json(code, &render_one(&rt, req, obj), &warnings))
        }
        (&Method::DELETE, Some(name)) => {
            if sub.is_some() {
                return Err(ApiError::method_not_allowed("delete", &rt.plural));
            }
            let dopts = DeleteOptions::from_body(&req.body, write_options(req, None)?.dry_run)?;
            let outcome = delete::delete(state, &rt, ns, name, &dopts).await?;
            let (code, body) = delete::response(&rt, outcome);
            Ok(h::json(code, &body, &[]))
        }
        (&Method::DELETE, None) => delete_collection(state, req, &rp).await,
        (m, None) => Err(ApiError::method_not_allowed(
            &m.as_str().to_ascii_lowercase(),
            &rt.plural,
        )),
        (m, Some(_)) => Err(ApiError::method_not_allowed(
            &m.as_str().to_ascii_lowercase(),
            &rt.plural,
        )),
    }
}

async fn delete_collection(
    state: &State,
    req: &Req,
    rp: &ResourcePath,
) -> Result<Response<Body>, ApiError> {
    let rt = &rp.rt;
    let mut lreq = list_request(req, rp)?;
    lreq.limit = 0;
    let page = list(state, rt, &lreq).await?;
    let dopts = DeleteOptions::from_body(&req.body, write_options(req, None)?.dry_run)?;
    let mut deleted = Vec::new();
    for obj in page.items {
        let name = meta::name(&obj).unwrap_or_default().to_string();
        let ns = meta::namespace(&obj).map(str::to_string);
        match delete::delete(state, rt, ns.as_deref(), &name, &dopts).await {
            Ok(Deleted::Gone(o) | Deleted::Pending(o)) => deleted.push(present(rt, o)),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let rev = state.store.current_revision().await?;
    let page = crate::api::list::ListPage {
        revision: rev,
        items: deleted,
        continue_token: None,
    };
    Ok(h::json(200, &list_object(rt, page), &[]))
}
