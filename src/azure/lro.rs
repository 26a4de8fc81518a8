//! Long-running operation decisions: what to do after each ARM response, as pure functions.
//!
//! The client ([`super::ArmClient`]) sends a request, asks one of the `after_*` functions
//! what the response means, and repeats until it gets [`Step::Done`] or [`Step::Failed`].
//! The rules follow the ARM RPC async contract (`azure-resource-manager-rpc`,
//! `async-api-reference.md`):
//! - PUT 200/201 without poll headers: done if `provisioningState` is terminal or absent,
//!   else poll GET on the resource until it is.
//! - 201/202 with `Azure-AsyncOperation`: poll it until `status` is `Succeeded`, `Failed` or
//!   `Canceled`; a 4xx/5xx from it only means "status unreadable now", so poll again.
//! - 202 with `Location` only: poll it while it answers 202; 200/201/204 means done and
//!   4xx/5xx means the operation failed with that error body.
//! - PUT ends with a GET of the resource (the result every RP agrees on), except that with
//!   [`FinalStateVia::Location`] a non-empty body from the Location URL is the result.
//! - DELETE is done on 200/204 from Location, `Succeeded` from the status URL, or 404 on the
//!   resource; a DELETE answering 202 without headers is followed by GETs until 404.

use serde_json::Value;
use std::time::Duration;
use url::Url;

use super::error::ArmErrorDetail;

/// Where the final result of an operation comes from, and which poll URL to prefer when a
/// response carries both `Azure-AsyncOperation` and `Location` (the spec's
/// `x-ms-long-running-operation-options.final-state-via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FinalStateVia {
    /// Poll `Azure-AsyncOperation` (preferred), then GET the resource. Network and Postgres.
    #[default]
    AzureAsyncOperation,
    /// Poll `Location` (preferred); its final body is the result. Compute.
    Location,
    /// Poll whichever header is present, then GET the resource.
    OriginalUri,
}

/// Timing of LRO polling.
#[derive(Debug, Clone, PartialEq)]
pub struct PollConfig {
    /// Wait between polls when the response has no Retry-After.
    pub default_interval: Duration,
    /// Lower bound of the wait between polls (no busy polling on `Retry-After: 0`).
    pub min_interval: Duration,
    /// Upper bound of the wait between polls (tests set it tiny to scale time down).
    pub max_interval: Duration,
    /// How long one operation may take, from its first request to its final result.
    pub deadline: Duration,
    /// Consecutive unreadable status responses (4xx/5xx) before giving up early.
    pub max_status_read_failures: u32,
}

impl Default for PollConfig {
    /// Azure defaults: 10 s without Retry-After, 1 s to 60 s between polls, 45 min per
    /// operation (a PostgreSQL Flexible Server can take a quarter of an hour or more).
    fn default() -> Self {
        Self {
            default_interval: Duration::from_secs(10),
            min_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(60),
            deadline: Duration::from_secs(45 * 60),
            max_status_read_failures: 30,
        }
    }
}

impl PollConfig {
    /// The wait before the next poll given the last response's Retry-After.
    pub fn interval(&self, retry_after: Option<Duration>) -> Duration {
        retry_after
            .unwrap_or(self.default_interval)
            .clamp(self.min_interval, self.max_interval.max(self.min_interval))
    }
}

/// The kind of operation being driven to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Create or update; the result is the resource.
    Put,
    /// Delete; there is no result.
    Delete,
}

/// The parts of a response the decisions look at.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// HTTP status.
    pub status: u16,
    /// `Azure-AsyncOperation` header, parsed.
    pub async_operation: Option<Url>,
    /// `Location` header, parsed.
    pub location: Option<Url>,
    /// Retry-After (any of its header forms).
    pub retry_after: Option<Duration>,
    /// JSON body, when there is a non-empty one.
    pub body: Option<Value>,
}

/// What to poll next.
#[derive(Debug, Clone, PartialEq)]
pub enum PollTarget {
    /// An Azure-AsyncOperation status URL.
    AsyncOperation(Url),
    /// A Location URL.
    Location(Url),
    /// The resource itself (GET until provisioningState is terminal, or 404 for DELETE).
    Resource,
}

/// The next action of an operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Finished; for PUT the final resource body.
    Done(Option<Value>),
    /// Wait (the server's Retry-After, if any) and poll the target.
    Poll {
        target: PollTarget,
        retry_after: Option<Duration>,
    },
    /// Poll again after a response that could not be read (counts toward the failure cap).
    PollUnreadable {
        target: PollTarget,
        retry_after: Option<Duration>,
    },
    /// GET the resource for the final result.
    FinalGet,
    /// The operation ended `Failed` or `Canceled`.
    Failed {
        state: String,
        error: ArmErrorDetail,
    },
}

/// Terminal ARM states (`Succeeded`, `Failed`, `Canceled`/`Cancelled`), case-insensitive.
pub fn is_terminal(state: &str) -> bool {
    is_succeeded(state) || is_failed(state)
}

fn is_succeeded(state: &str) -> bool {
    state.eq_ignore_ascii_case("Succeeded")
}

fn is_failed(state: &str) -> bool {
    ["Failed", "Canceled", "Cancelled"]
        .iter()
        .any(|s| state.eq_ignore_ascii_case(s))
}

/// `properties.provisioningState` of a resource body (`None` when absent, meaning done).
pub fn provisioning_state(body: &Value) -> Option<&str> {
    body.pointer("/properties/provisioningState")
        .and_then(Value::as_str)
}

fn failed(state: &str, error: Option<ArmErrorDetail>, fallback: &str) -> Step {
    let error = error.unwrap_or_else(|| ArmErrorDetail {
        code: format!("Operation{state}"),
        message: fallback.to_string(),
        ..Default::default()
    });
    Step::Failed {
        state: state.to_string(),
        error,
    }
}

/// Judges a resource body by its provisioningState (PUT responses and resource GETs).
fn judge_resource(body: Option<Value>, retry_after: Option<Duration>) -> Step {
    match body.as_ref().and_then(provisioning_state) {
        None => Step::Done(body),
        Some(s) if is_succeeded(s) => Step::Done(body),
        Some(s) if is_failed(s) => {
            let err = body.as_ref().and_then(ArmErrorDetail::from_value);
            failed(s, err, &format!("the resource's provisioningState is {s}"))
        }
        Some(_) => Step::Poll {
            target: PollTarget::Resource,
            retry_after,
        },
    }
}

/// The first poll target from the response headers, honouring the preference.
fn poll_from_headers(obs: &Observed, final_state: FinalStateVia) -> Option<PollTarget> {
    let asyncop = obs.async_operation.clone().map(PollTarget::AsyncOperation);
    let location = obs.location.clone().map(PollTarget::Location);
    match final_state {
        FinalStateVia::Location => location.or(asyncop),
        _ => asyncop.or(location),
    }
}

/// Decision after the initial PUT or DELETE answered with a success status (2xx) or 404.
pub fn after_initial(op: Operation, final_state: FinalStateVia, obs: Observed) -> Step {
    if let Some(target) = poll_from_headers(&obs, final_state) {
        return Step::Poll {
            target,
            retry_after: obs.retry_after,
        };
    }
    match (op, obs.status) {
        (Operation::Delete, 404 | 200 | 204) => Step::Done(None),
        (Operation::Delete, _) => Step::Poll {
            target: PollTarget::Resource,
            retry_after: obs.retry_after,
        },
        (Operation::Put, 202) => Step::Poll {
            target: PollTarget::Resource,
            retry_after: obs.retry_after,
        },
        (Operation::Put, _) => judge_resource(obs.body, obs.retry_after),
    }
}

/// Decision after polling an Azure-AsyncOperation status URL.
pub fn after_async_poll(op: Operation, url: &Url, obs: Observed) -> Step {
    let again = PollTarget::AsyncOperation(url.clone());
    if !(200..300).contains(&obs.status) {
        return Step::PollUnreadable {
            target: again,
            retry_after: obs.retry_after,
        };
    }
    let status = obs
        .body
        .as_ref()
        .and_then(|b| b.get("status"))
        .and_then(Value::as_str);
    match status {
        Some(s) if is_succeeded(s) => match op {
            Operation::Put => Step::FinalGet,
            Operation::Delete => Step::Done(None),
        },
        Some(s) if is_failed(s) => {
            let err = obs.body.as_ref().and_then(ArmErrorDetail::from_value);
            failed(
                s,
                err,
                &format!("the operation status is {s} without an error body"),
            )
        }
        Some(_) => Step::Poll {
            target: again,
            retry_after: obs.retry_after,
        },
        None => Step::PollUnreadable {
            target: again,
            retry_after: obs.retry_after,
        },
    }
}

/// Decision after polling a Location URL.
pub fn after_location_poll(
    op: Operation,
    final_state: FinalStateVia,
    url: &Url,
    obs: Observed,
) -> Step {
    match obs.status {
        202 => {
            let next = obs.location.clone().unwrap_or_else(|| url.clone());
            Step::Poll {
                target: PollTarget::Location(next),
                retry_after: obs.retry_after,
            }
        }
        200..=299 => match op {
            Operation::Delete => Step::Done(None),
            Operation::Put if final_state == FinalStateVia::Location && obs.body.is_some() => {
                judge_resource(obs.body, obs.retry_after)
            }
            Operation::Put => Step::FinalGet,
        },
        status => {
            let err = obs.body.as_ref().and_then(ArmErrorDetail::from_value);
            failed(
                "Failed",
                err,
                &format!("the operation's Location answered HTTP {status}"),
            )
        }
    }
}

/// Decision after a GET of the resource while polling it, or as the final GET.
pub fn after_resource_poll(op: Operation, obs: Observed) -> Step {
    match (op, obs.status) {
        (Operation::Delete, 404) => Step::Done(None),
        (Operation::Delete, _) => Step::Poll {
            target: PollTarget::Resource,
            retry_after: obs.retry_after,
        },
        // A resource created through a 202 is invisible until the operation completes.
        (Operation::Put, 404) => Step::Poll {
            target: PollTarget::Resource,
            retry_after: obs.retry_after,
        },
        (Operation::Put, _) => judge_resource(obs.body, obs.retry_after),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn obs(status: u16, body: Option<Value>) -> Observed {
        Observed {
            status,
            body,
            ..Default::default()
        }
    }

    #[test]
    fn put_200_terminal_or_absent_state_is_done() {
        let body = json!({"properties":{"provisioningState":"Succeeded"}});
        let step = after_initial(
            Operation::Put,
            FinalStateVia::default(),
            obs(200, Some(body.clone())),
        );
        assert_eq!(step, Step::Done(Some(body)));
        let bare = json!({"id":"/x"});
        let step = after_initial(
            Operation::Put,
            FinalStateVia::default(),
            obs(201, Some(bare.clone())),
        );
        assert_eq!(step, Step::Done(Some(bare)));
    }

    #[test]
    fn put_201_without_headers_polls_the_resource() {
        let body = json!({"properties":{"provisioningState":"Updating"}});
        let step = after_initial(
            Operation::Put,
            FinalStateVia::default(),
            obs(201, Some(body)),
        );
        assert!(matches!(
            step,
            Step::Poll {
                target: PollTarget::Resource,
                ..
            }
        ));
    }

    #[test]
    fn header_preference_follows_final_state() {
        let mut o = obs(202, None);
        o.async_operation = Some(url("https://a/op"));
        o.location = Some(url("https://a/loc"));
        o.retry_after = Some(Duration::from_secs(3));
        let step = after_initial(
            Operation::Put,
            FinalStateVia::AzureAsyncOperation,
            o.clone(),
        );
        let want = PollTarget::AsyncOperation(url("https://a/op"));
        assert_eq!(
            step,
            Step::Poll {
                target: want,
                retry_after: Some(Duration::from_secs(3))
            }
        );
        let step = after_initial(Operation::Put, FinalStateVia::Location, o);
        assert!(matches!(
            step,
            Step::Poll {
                target: PollTarget::Location(_),
                ..
            }
        ));
    }

    #[test]
    fn delete_initial_outcomes() {
        let fs = FinalStateVia::Location;
        assert_eq!(
            after_initial(Operation::Delete, fs, obs(404, None)),
            Step::Done(None)
        );
        assert_eq!(
            after_initial(Operation::Delete, fs, obs(204, None)),
            Step::Done(None)
        );
        let step = after_initial(Operation::Delete, fs, obs(202, None));
        assert!(matches!(
            step,
            Step::Poll {
                target: PollTarget::Resource,
                ..
            }
        ));
    }

    #[test]
    fn async_status_machine() {
        let u = url("https://a/op");
        let running = obs(200, Some(json!({"status":"InProgress"})));
        assert!(matches!(
            after_async_poll(Operation::Put, &u, running),
            Step::Poll { .. }
        ));
        let ok = obs(200, Some(json!({"status":"Succeeded"})));
        assert_eq!(
            after_async_poll(Operation::Put, &u, ok.clone()),
            Step::FinalGet
        );
        assert_eq!(
            after_async_poll(Operation::Delete, &u, ok),
            Step::Done(None)
        );
        let bad = obs(
            200,
            Some(json!({"status":"Failed","error":{"code":"AllocationFailed","message":"m"}})),
        );
        match after_async_poll(Operation::Put, &u, bad) {
            Step::Failed { state, error } => {
                assert_eq!(state, "Failed");
                assert_eq!(error.code, "AllocationFailed");
            }
            other => panic!("{other:?}"),
        }
        let canceled = obs(200, Some(json!({"status":"Canceled"})));
        match after_async_poll(Operation::Put, &u, canceled) {
            Step::Failed { error, .. } => assert_eq!(error.code, "OperationCanceled"),
            other => panic!("{other:?}"),
        }
        let unreadable = obs(500, Some(json!({"error":{"code":"InternalServerError"}})));
        assert!(matches!(
            after_async_poll(Operation::Put, &u, unreadable),
            Step::PollUnreadable { .. }
        ));
    }

    #[test]
    fn location_machine() {
        let u = url("https://a/loc");
        let mut moved = obs(202, None);
        moved.location = Some(url("https://a/loc2"));
        let step = after_location_poll(Operation::Put, FinalStateVia::Location, &u, moved);
        assert_eq!(
            step,
            Step::Poll {
                target: PollTarget::Location(url("https://a/loc2")),
                retry_after: None
            }
        );
        let body = json!({"id":"/x","properties":{"provisioningState":"Succeeded"}});
        let done = obs(200, Some(body.clone()));
        let step = after_location_poll(Operation::Put, FinalStateVia::Location, &u, done.clone());
        assert_eq!(step, Step::Done(Some(body)));
        let step = after_location_poll(Operation::Put, FinalStateVia::OriginalUri, &u, done);
        assert_eq!(step, Step::FinalGet);
        assert_eq!(
            after_location_poll(Operation::Put, FinalStateVia::Location, &u, obs(204, None)),
            Step::FinalGet
        );
        assert_eq!(
            after_location_poll(
                Operation::Delete,
                FinalStateVia::Location,
                &u,
                obs(204, None)
            ),
            Step::Done(None)
        );
        let err = obs(
            409,
            Some(json!({"error":{"code":"Conflict","message":"m"}})),
        );
        assert!(matches!(
            after_location_poll(Operation::Delete, FinalStateVia::Location, &u, err),
            Step::Failed { .. }
        ));
    }

    #[test]
    fn resource_polling() {
        assert_eq!(
            after_resource_poll(Operation::Delete, obs(404, None)),
            Step::Done(None)
        );
        assert!(matches!(
            after_resource_poll(Operation::Put, obs(404, None)),
            Step::Poll { .. }
        ));
        let failed_state = obs(
            200,
            Some(json!({"properties":{"provisioningState":"Failed"}})),
        );
        match after_resource_poll(Operation::Put, failed_state) {
            Step::Failed { error, .. } => assert_eq!(error.code, "OperationFailed"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn poll_interval_is_clamped() {
        let cfg = PollConfig::default();
        assert_eq!(cfg.interval(None), Duration::from_secs(10));
        assert_eq!(cfg.interval(Some(Duration::ZERO)), Duration::from_secs(1));
        assert_eq!(
            cfg.interval(Some(Duration::from_secs(600))),
            Duration::from_secs(60)
        );
    }
}
