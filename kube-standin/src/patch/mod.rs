//! PATCH: dispatch by Content-Type to JSON patch, JSON merge patch, strategic merge patch
//! (built-in kinds only; custom resources answer 415) and server-side apply.

pub mod apply;
pub mod json;
pub mod merge;
pub mod strategic;

use serde_json::Value;

use crate::api::ServerState;
use crate::api::write::{self, Change};
use crate::error::{ApiError, FieldError, go_quote};
use crate::kinds::ResourceType;
use crate::objects::meta;
use crate::server::handlers::Req;
use crate::server::resources::{Validation, check_unknown, write_options};

const APPLY: &str = "application/apply-patch+yaml";

/// The patch types a resource accepts, in the order the server lists them.
fn accepted(rt: &ResourceType) -> Vec<&'static str> {
    let mut a = vec![
        "application/json-patch+json",
        "application/merge-patch+json",
        APPLY,
    ];
    if !rt.is_custom() {
        a.push("application/strategic-merge-patch+json");
    }
    a
}

/// Handles a PATCH; returns the status code, the object and warnings.
pub async fn handle(
    state: &ServerState,
    req: &Req,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    sub: Option<&str>,
    validation: Validation,
) -> Result<(u16, Value, Vec<String>), ApiError> {
    let mime = req.mime("");
    if !accepted(rt).contains(&mime.as_str()) {
        return Err(ApiError::unsupported_media_type(&mime, &accepted(rt)));
    }
    let opts = write_options(req, sub)?;
    let force = req.query.opt_flag("force")?;
    if mime == APPLY {
        return apply::handle(state, req, rt, ns, name, &opts).await;
    }
    if force.is_some() {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "PatchOptions",
            "",
            &[FieldError::forbidden(
                "force",
                "may not be specified for non-apply patch",
            )],
        ));
    }
    let patch: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let mut warnings = Vec::new();
    let mut unknown_warnings = Vec::new();
    let out = write::update_with(state, rt, ns, name, &opts, None, &mut warnings, |live| {
        let Some(live) = live else {
            return Err(ApiError::not_found(&rt.group, &rt.plural, name));
        };
        let failed = |e: String| {
            ApiError::invalid(
                "",
                "",
                "",
                &[FieldError::invalid(
                    "patch",
                    go_quote(&String::from_utf8_lossy(&req.body)),
                    e,
                )],
            )
        };
        let mut next = match mime.as_str() {
            "application/merge-patch+json" => {
                let mut n = live.clone();
                merge::apply(&mut n, &patch);
                n
            }
            "application/json-patch+json" => {
                let mut n = live.clone();
                json::apply(&mut n, &patch).map_err(failed)?;
                n
            }
            _ => strategic::apply(live, &patch, &rt.schema).map_err(ApiError::bad_request)?,
        };
        // A resourceVersion in the patch is a precondition on the live object.
        if meta::meta_str(&next, "resourceVersion") != meta::meta_str(live, "resourceVersion") {
            return Err(ApiError::conflict_modified(&rt.group, &rt.plural, name));
        }
        unknown_warnings.clear();
        check_unknown(rt, &mut next, validation, &mut unknown_warnings).map_err(|e| {
            let detail = e
                .message
                .rsplit(": strict decoding error: ")
                .next()
                .unwrap_or_default()
                .to_string();
            ApiError::invalid(
                "",
                "",
                "",
                &[FieldError::invalid(
                    "patch",
                    go_quote(&next_text(live)),
                    format!("strict decoding error: {detail}"),
                )],
            )
        })?;
        Ok(Change::Replace(next))
    })
    .await?;
    warnings.extend(unknown_warnings);
    Ok((if out.created { 201 } else { 200 }, out.object, warnings))
}

fn next_text(v: &Value) -> String {
    v.to_string()
}
