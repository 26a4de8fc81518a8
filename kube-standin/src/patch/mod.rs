//! PATCH: dispatch by Content-Type to JSON patch, JSON merge patch, strategic merge patch
//! (built-in kinds only; custom resources answer 415) and server-side apply.

pub mod json;
pub mod merge;

use serde_json::Value;

use crate::api::write::{self, Change};
use crate::api::{ServerState, WriteOptions};
use crate::error::{ApiError, FieldError};
use crate::kinds::ResourceType;
use crate::objects::meta;
use crate::server::handlers::Req;
use crate::server::resources::{Validation, check_unknown, write_options};

/// The patch types a resource accepts, in the order the server lists them.
fn accepted(rt: &ResourceType) -> Vec<&'static str> {
    let mut a = vec![
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
    ];
    if !rt.is_custom() {
        a.push("application/strategic-merge-patch+json");
    }
    a
}

fn invalid_patch_options(detail: FieldError) -> ApiError {
    ApiError::invalid("meta.k8s.io", "PatchOptions", "", &[detail])
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
    if mime != "application/apply-patch+yaml" && force.is_some() {
        return Err(invalid_patch_options(FieldError::forbidden(
            "force",
            "may not be specified for non-apply patch",
        )));
    }
    let mut warnings = Vec::new();
    let patch: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let kind = mime.clone();
    let out = write::update_with(state, rt, ns, name, &opts, None, &mut warnings, |live| {
        let Some(live) = live else {
            return Err(ApiError::not_found(&rt.group, &rt.plural, name));
        };
        let mut next = live.clone();
        let failed = |e: String| {
            ApiError::invalid(
                "",
                "",
                "",
                &[FieldError::invalid(
                    "patch",
                    crate::error::go_quote(&String::from_utf8_lossy(&req.body)),
                    e,
                )],
            )
        };
        match kind.as_str() {
            "application/merge-patch+json" => merge::apply(&mut next, &patch),
            "application/json-patch+json" => json::apply(&mut next, &patch).map_err(failed)?,
            _ => return Err(ApiError::unsupported_media_type(&kind, &accepted(rt))),
        }
        // A resourceVersion in the patch is a precondition on the live object.
        if meta::meta_str(&next, "resourceVersion") != meta::meta_str(live, "resourceVersion") {
            return Err(ApiError::conflict_modified(&rt.group, &rt.plural, name));
        }
        let mut w = Vec::new();
        check_unknown(rt, &mut next, validation, &mut w).map_err(|e| {
            ApiError::invalid(
                &rt.group,
                &rt.kind,
                name,
                &[FieldError::invalid(
                    "patch",
                    "",
                    e.message
                        .rsplit(": strict decoding error: ")
                        .next()
                        .unwrap_or_default(),
                )],
            )
        })?;
        Ok(Change::Replace(next))
    })
    .await?;
    let _ = WriteOptions::default;
    Ok((if out.created { 201 } else { 200 }, out.object, warnings))
}
