//! The ARM verbs: GET (404 = `None`), PUT and DELETE driven to completion, paged lists.

use azure_core::http::Method;
use azure_core::http::headers::HeaderName;
use serde_json::Value;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use url::Url;

use super::client::{ArmClient, with_api_version};
use super::error::ArmError;
use super::lro::{self, FinalStateVia, Observed, Operation, PollTarget, Step};
use super::retry::parse_retry_after;
use super::send::Resp;

const AZURE_ASYNC_OPERATION: HeaderName = HeaderName::from_static("azure-asyncoperation");
const LOCATION: HeaderName = HeaderName::from_static("location");

/// Safety stop for a list whose pages never end.
const MAX_PAGES: usize = 10_000;

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// The parts of a response the LRO decisions need; header URLs resolved against `base`.
fn observe(resp: &Resp, base: &Url) -> Observed {
    let url = |name: &HeaderName| {
        resp.headers
            .get_optional_str(name)
            .and_then(|v| base.join(v.trim()).ok())
    };
    Observed {
        status: resp.status,
        async_operation: url(&AZURE_ASYNC_OPERATION),
        location: url(&LOCATION),
        retry_after: parse_retry_after(&resp.headers),
        body: resp.json(),
    }
}

fn json_body(resp: &Resp, resource: &str) -> Result<Value, ArmError> {
    resp.json().ok_or_else(|| ArmError::InvalidResponse {
        resource: resource.to_string(),
        message: format!("HTTP {} without a JSON body", resp.status),
    })
}

impl ArmClient {
    /// GETs a resource; `None` when ARM answers 404.
    pub async fn get(&self, id: &str, api_version: &str) -> Result<Option<Value>, ArmError> {
        let url = self.url_for(id, api_version);
        let resp = self.send(Method::Get, &url, None, id).await?;
        match resp.status {
            404 => Ok(None),
            s if is_success(s) => json_body(&resp, id).map(Some),
            _ => Err(self.http_error(resp, Method::Get, id)),
        }
    }

    /// PUTs a resource and waits for the operation; returns the final resource body.
    ///
    /// `final_state` is the spec's `final-state-via` for this resource type (see
    /// [`FinalStateVia`]). Fails with [`ArmError::OperationFailed`] when the operation ends
    /// `Failed`/`Canceled` and [`ArmError::Timeout`] past the operation deadline.
    pub async fn put(
        &self,
        id: &str,
        api_version: &str,
        body: &Value,
        final_state: FinalStateVia,
    ) -> Result<Value, ArmError> {
        let started = Instant::now();
        let url = self.url_for(id, api_version);
        let bytes = serde_json::to_vec(body).map_err(|e| ArmError::InvalidResponse {
            resource: id.to_string(),
            message: format!("request body does not serialize: {e}"),
        })?;
        let resp = {
            // Bound concurrent submissions, not the waiting: a slow operation (Postgres)
            // must not hold back the writes of unrelated resources.
            let _permit = self
                .inner
                .writes
                .acquire()
                .await
                // The semaphore is never closed, so this is always a permit.
                .ok();
            self.send(Method::Put, &url, Some(&bytes), id).await?
        };
        if !is_success(resp.status) {
            return Err(self.http_error(resp, Method::Put, id));
        }
        let step = lro::after_initial(Operation::Put, final_state, observe(&resp, &url));
        match self
            .drive(Operation::Put, final_state, id, &url, step, started)
            .await?
        {
            Some(v) => Ok(v),
            // Succeeded without a body (for example an empty 200): read the resource.
            None => self
                .get(id, api_version)
                .await?
                .ok_or_else(|| ArmError::InvalidResponse {
                    resource: id.to_string(),
                    message: "the PUT succeeded but the resource is not found".into(),
                }),
        }
    }

    /// DELETEs a resource and waits until it is gone; `Ok` if it was already gone.
    pub async fn delete(&self, id: &str, api_version: &str) -> Result<(), ArmError> {
        let started = Instant::now();
        let url = self.url_for(id, api_version);
        let resp = {
            let _permit = self
                .inner
                .writes
                .acquire()
                .await
                // The semaphore is never closed, so this is always a permit.
                .ok();
            self.send(Method::Delete, &url, None, id).await?
        };
        if resp.status != 404 && !is_success(resp.status) {
            return Err(self.http_error(resp, Method::Delete, id));
        }
        // Deletes are specified with final-state-via `location`.
        let fs = FinalStateVia::Location;
        let step = lro::after_initial(Operation::Delete, fs, observe(&resp, &url));
        self.drive(Operation::Delete, fs, id, &url, step, started)
            .await
            .map(|_| ())
    }

    /// GETs every item of a collection, following `nextLink` until it is absent or null.
    /// `path` may carry a query (for example `$filter`); `api-version` is added.
    pub async fn list(&self, path: &str, api_version: &str) -> Result<Vec<Value>, ArmError> {
        let mut url = self.url_for(path, api_version);
        let mut seen = HashSet::new();
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let resp = self.send(Method::Get, &url, None, path).await?;
            if !is_success(resp.status) {
                return Err(self.http_error(resp, Method::Get, path));
            }
            let mut page = json_body(&resp, path)?;
            if let Some(Value::Array(values)) = page.get_mut("value").map(Value::take) {
                items.extend(values);
            }
            let Some(next) = page
                .get("nextLink")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            else {
                return Ok(items);
            };
            let next = url.join(next).map_err(|e| ArmError::InvalidResponse {
                resource: path.to_string(),
                message: format!("nextLink {next:?} is not a URL: {e}"),
            })?;
            seen.insert(url);
            self.check_origin(&next, path)?;
            url = with_api_version(next, api_version);
            if seen.contains(&url) {
                return Err(ArmError::InvalidResponse {
                    resource: path.to_string(),
                    message: "nextLink points back to a page already read".into(),
                });
            }
        }
        Err(ArmError::InvalidResponse {
            resource: path.to_string(),
            message: format!("more than {MAX_PAGES} pages"),
        })
    }

    /// Runs the LRO state machine from `step` until the operation is done, failed or late.
    async fn drive(
        &self,
        op: Operation,
        final_state: FinalStateVia,
        id: &str,
        resource_url: &Url,
        mut step: Step,
        started: Instant,
    ) -> Result<Option<Value>, ArmError> {
        let poll = &self.inner.poll;
        let deadline = self.deadline.unwrap_or(poll.deadline);
        let mut unreadable = 0u32;
        let mut last_unreadable: Option<Resp> = None;
        loop {
            // The final GET follows a terminal status at once; every other poll waits.
            let immediate = matches!(step, Step::FinalGet);
            let (target, retry_after) = match step {
                Step::Done(v) => return Ok(v),
                Step::Failed { state, error } => {
                    return Err(ArmError::OperationFailed {
                        resource: id.to_string(),
                        state,
                        code: error.code,
                        message: error.message,
                        details: error.details,
                    });
                }
                Step::FinalGet => (PollTarget::Resource, None),
                Step::Poll {
                    target,
                    retry_after,
                } => {
                    unreadable = 0;
                    (target, retry_after)
                }
                Step::PollUnreadable {
                    target,
                    retry_after,
                } => {
                    unreadable += 1;
                    if unreadable > poll.max_status_read_failures {
                        return Err(match last_unreadable.take() {
                            Some(resp) => self.http_error(resp, Method::Get, id),
                            None => ArmError::InvalidResponse {
                                resource: id.to_string(),
                                message: "the operation status has no `status` field".into(),
                            },
                        });
                    }
                    (target, retry_after)
                }
            };
            let wait = if immediate {
                Duration::ZERO
            } else {
                poll.interval(retry_after)
            };
            if started.elapsed() + wait > deadline {
                return Err(ArmError::Timeout {
                    resource: id.to_string(),
                    what: match op {
                        Operation::Put => "the PUT operation".into(),
                        Operation::Delete => "the DELETE operation".into(),
                    },
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(wait).await;
            let url = match &target {
                PollTarget::AsyncOperation(u) | PollTarget::Location(u) => {
                    self.check_origin(u, id)?;
                    u.clone()
                }
                PollTarget::Resource => resource_url.clone(),
            };
            let resp = self.send(Method::Get, &url, None, id).await?;
            let obs = observe(&resp, &url);
            step = match &target {
                PollTarget::AsyncOperation(u) => lro::after_async_poll(op, u, obs),
                PollTarget::Location(u) => lro::after_location_poll(op, final_state, u, obs),
                PollTarget::Resource if resp.status == 404 || is_success(resp.status) => {
                    lro::after_resource_poll(op, obs)
                }
                PollTarget::Resource => return Err(self.http_error(resp, Method::Get, id)),
            };
            if matches!(step, Step::PollUnreadable { .. }) {
                last_unreadable = Some(resp);
            }
        }
    }
}
