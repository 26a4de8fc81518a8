//! `platform status`'s live view of the cluster once `nodes` has run: every inventory host's
//! SSH reachability (one connection and one command each, all at once) and every node as
//! the API reports it (Ready, version, roles, cordoned), against what `nodes` recorded.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use crate::config::Config;
use crate::phase::Phase;
use crate::phases::inventory::targets::InventoryHost;
use crate::phases::nodes::{connect, outputs};
use crate::ssh::SshHost;
use crate::ssh::host::{ExecRequest, Host};
use crate::state::State;

/// How long one host or the API may take to answer.
const LIVE_TIMEOUT: Duration = Duration::from_secs(15);

/// One host's reachability: connect (no boot wait) and run `true`.
async fn probe(t: InventoryHost, opts: crate::ssh::SshOptions) -> Value {
    let name = t.name().to_owned();
    let check = async {
        let host = SshHost::connect(&t.target, &opts)
            .await
            .map_err(|e| e.to_string())?;
        let out = host
            .exec(ExecRequest {
                command: "true",
                args: &[],
                stdin: None,
                env: &[],
                become_root: false,
                timeout: Some(LIVE_TIMEOUT),
                output_limit: Some(4096),
            })
            .await
            .map_err(|e| e.to_string());
        host.close().await;
        match out {
            Ok(o) if o.status == 0 => Ok(()),
            Ok(o) => Err(format!("`true` exited {}", o.status)),
            Err(e) => Err(e),
        }
    };
    match tokio::time::timeout(LIVE_TIMEOUT * 2, check).await {
        Ok(Ok(())) => json!({"name": name, "reachable": true}),
        Ok(Err(e)) => json!({"name": name, "reachable": false, "error": e}),
        Err(_) => json!({"name": name, "reachable": false, "error": "no answer within 30 s"}),
    }
}

/// The live hosts and nodes, or `None` before `nodes` ever succeeded.
pub async fn live_nodes(config: &Config, state: &State) -> Option<Value> {
    let rec = state.phase(Phase::Nodes)?;
    let recorded: outputs::NodesOutputs = serde_json::from_value(rec.outputs.clone()).ok()?;
    let mut opts = connect::ssh_options(config);
    opts.boot_wait = Duration::ZERO;
    opts.connect_timeout = LIVE_TIMEOUT;
    let hosts: Vec<Value> = match connect::load_targets(config) {
        Ok(targets) => {
            futures::stream::iter(targets)
                .map(|t| probe(t, opts.clone()))
                .buffer_unordered(config.nodes.ssh_fanout.max(1))
                .collect()
                .await
        }
        Err(e) => vec![json!({"name": "inventory", "reachable": false, "error": e.to_string()})],
    };
    let mut hosts = hosts;
    hosts.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let api = async {
        let client = outputs::client(config).await?;
        crate::kube::nodes::list(&client)
            .await
            .map_err(outputs::kube_err)
    };
    let (nodes, api_error) = match tokio::time::timeout(LIVE_TIMEOUT, api).await {
        Ok(Ok(list)) => (list, None),
        Ok(Err(e)) => (Vec::new(), Some(e.to_string())),
        Err(_) => (
            Vec::new(),
            Some("the API did not answer within 15 s".to_owned()),
        ),
    };
    let mut problems: Vec<String> = hosts
        .iter()
        .filter(|h| h["reachable"] != true)
        .map(|h| {
            format!(
                "host {} is unreachable over SSH",
                h["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    if let Some(e) = &api_error {
        problems.push(format!("the API at {} failed: {e}", recorded.api_server));
    } else {
        for n in &recorded.nodes {
            match nodes.iter().find(|s| s.name == n.name) {
                None => problems.push(format!("node {} is not registered", n.name)),
                Some(s) if !s.is_ready() => {
                    problems.push(format!("node {} is not Ready ({})", n.name, s.ready));
                }
                Some(s) if s.version != n.version => problems.push(format!(
                    "node {} runs {} (want {})",
                    n.name, s.version, n.version
                )),
                Some(_) => {}
            }
        }
    }
    Some(json!({
        "api_server": recorded.api_server,
        "version": recorded.version,
        "hosts": hosts,
        "nodes": nodes,
        "api_error": api_error,
        "problems": problems,
    }))
}

/// The live view as text: a table of nodes and the problems found.
pub fn text(live: &Value) -> String {
    let hosts = live["hosts"].as_array().cloned().unwrap_or_default();
    let reachable = hosts.iter().filter(|h| h["reachable"] == true).count();
    let mut out = format!(
        "live: {reachable} of {} hosts reachable over SSH; API {} (k3s {})\n",
        hosts.len(),
        live["api_server"].as_str().unwrap_or("?"),
        live["version"].as_str().unwrap_or("?")
    );
    let rows: Vec<Vec<String>> = live["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|n| {
            let roles: Vec<String> = n["roles"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let ready = n["ready"].as_str().unwrap_or("Unknown");
            vec![
                n["name"].as_str().unwrap_or("").to_owned(),
                if ready == "True" {
                    "Ready".into()
                } else {
                    format!("NotReady ({ready})")
                } + if n["cordoned"] == true {
                    ",SchedulingDisabled"
                } else {
                    ""
                },
                if roles.is_empty() {
                    "<none>".into()
                } else {
                    roles.join(",")
                },
                n["version"].as_str().unwrap_or("").to_owned(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.push_str(&crate::output::table::render(
            &["NODE", "STATUS", "ROLES", "VERSION"],
            &rows,
        ));
    }
    let problems = live["problems"].as_array().cloned().unwrap_or_default();
    if problems.is_empty() {
        out.push_str("\nhealthy: every host answers and every node is Ready at its version");
    } else {
        out.push_str("\nunhealthy:");
        for p in problems {
            out.push_str(&format!("\n  {}", p.as_str().unwrap_or("")));
        }
    }
    out
}

/// The GitOps controller live, once `gitops` has run: Flux's `flux-system` GitRepository's
/// and Kustomization's Ready condition and revision, or Argo CD's root Application's sync
/// and health (`None` before the phase ran).
pub async fn live_gitops(config: &Config, state: &State) -> Option<Value> {
    let rec = state.phase(Phase::Gitops)?;
    let recorded: crate::phases::gitops::GitopsOutputs =
        serde_json::from_value(rec.outputs.clone()).ok()?;
    let argo = recorded.controller == "argocd";
    let read = async {
        let client = outputs::client(config).await?;
        let applier = crate::kube::apply::Applier::new(client)
            .await
            .map_err(outputs::kube_err)?;
        let refs = if argo {
            vec![crate::phases::gitops::argocd::reference()]
        } else {
            ["GitRepository", "Kustomization"]
                .map(crate::phases::gitops::source::reference)
                .to_vec()
        };
        let mut objects = Vec::new();
        for r in refs {
            let api = applier.api_of(&r).map_err(outputs::kube_err)?;
            let obj = api
                .get_opt(&r.name)
                .await
                .map_err(|e| crate::error::Error::Failed(e.to_string()))?;
            let name = format!("{}/{}", r.namespace.as_deref().unwrap_or(""), r.name);
            objects.push(if argo {
                application(&r.kind, &name, obj.as_ref())
            } else {
                flux_object(&r.kind, &name, obj.as_ref())
            });
        }
        Ok::<_, crate::error::Error>(objects)
    };
    let (objects, error) = match tokio::time::timeout(LIVE_TIMEOUT, read).await {
        Ok(Ok(o)) => (o, None),
        Ok(Err(e)) => (Vec::new(), Some(e.to_string())),
        Err(_) => (
            Vec::new(),
            Some("the API did not answer within 15 s".to_owned()),
        ),
    };
    let mut problems: Vec<String> = objects
        .iter()
        .filter(|o| o["ready"] != "True")
        .map(|o| {
            format!(
                "{} {} is not {}: {}",
                o["kind"].as_str().unwrap_or(""),
                o["name"].as_str().unwrap_or(""),
                if argo { "Synced and Healthy" } else { "Ready" },
                o["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    if let Some(e) = &error {
        problems.push(format!("the GitOps objects could not be read: {e}"));
    }
    Some(json!({
        "controller": recorded.controller,
        "version": recorded.version,
        "objects": objects,
        "problems": problems,
    }))
}

/// A Flux object's line: its Ready condition and revision.
fn flux_object(kind: &str, name: &str, obj: Option<&kube::api::DynamicObject>) -> Value {
    let (ready, message) = obj
        .and_then(crate::phases::gitops::source::ready)
        .unwrap_or_else(|| ("Unknown".into(), "not reconciled yet".into()));
    let status = obj.map(|o| o.data["status"].clone()).unwrap_or_default();
    let revision = status["artifact"]["revision"]
        .as_str()
        .or(status["lastAppliedRevision"].as_str())
        .unwrap_or_default();
    json!({"kind": kind, "name": name, "ready": ready, "state": format!("Ready={ready}"),
        "message": message, "revision": revision})
}

/// Argo CD's Application line: sync and health, the commit, the error conditions.
fn application(kind: &str, name: &str, obj: Option<&kube::api::DynamicObject>) -> Value {
    let Some(s) = obj.map(crate::phases::gitops::argocd::state) else {
        return json!({"kind": kind, "name": name, "ready": "Unknown", "state": "missing",
            "message": "it does not exist", "revision": ""});
    };
    let message = match s.errors.first() {
        Some(e) => e.clone(),
        None => format!("sync {}, health {}", s.sync, s.health),
    };
    json!({"kind": kind, "name": name, "ready": if s.done() { "True" } else { "False" },
        "state": format!("{} {}", s.sync, s.health), "sync": s.sync, "health": s.health,
        "message": message, "revision": s.revision.unwrap_or_default()})
}

/// The GitOps view as text.
pub fn gitops_text(live: &Value) -> String {
    let mut out = format!(
        "gitops: {} {}",
        live["controller"].as_str().unwrap_or("?"),
        live["version"].as_str().unwrap_or("?")
    );
    for o in live["objects"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n  {} {}: {} {}",
            o["kind"].as_str().unwrap_or(""),
            o["name"].as_str().unwrap_or(""),
            o["state"].as_str().unwrap_or(""),
            if o["ready"] == "True" {
                o["revision"].as_str().unwrap_or("")
            } else {
                o["message"].as_str().unwrap_or("")
            }
        ));
    }
    if live["controller"] == "argocd" {
        let hint = crate::phases::gitops::admin_password_hint();
        out.push_str(&format!(
            "\n  {}",
            hint.strip_prefix("gitops: ").unwrap_or(&hint)
        ));
    }
    out
}
