//! `platform status`: every phase with its recorded result, timings and fingerprint, and
//! (unless `--offline`) the live infra resources, hosts and nodes; exit code 4 when the
//! live cluster is unhealthy.

use crate::config::Config;
use crate::error::Result;
use crate::output::{OutputFormat, Printer, format_duration, table};
use crate::phase::Phase;
use crate::runner::fingerprint;
use crate::state::PhaseStatus;

pub async fn run(config: &Config, offline: bool, printer: &Printer) -> Result<()> {
    let state = super::read_state(config)?;
    super::check_cluster(config, &state, &config.state_dir)?;
    let rows: Vec<serde_json::Value> = Phase::ALL
        .iter()
        .map(|p| {
            let current = fingerprint(*p, config, &state);
            match state.phase(*p) {
                None => serde_json::json!({"phase": p, "status": "pending", "current_fingerprint": current}),
                Some(r) => serde_json::json!({
                    "phase": p,
                    "status": r.status,
                    "started_at": r.started_at.format(&time::format_description::well_known::Rfc3339).ok(),
                    "finished_at": r.finished_at.and_then(|f| f.format(&time::format_description::well_known::Rfc3339).ok()),
                    "duration_ms": r.duration().map(|d| d.whole_milliseconds()),
                    "attempts": r.attempts,
                    "fingerprint": r.fingerprint,
                    "current_fingerprint": current,
                    "inputs_changed": r.fingerprint != current,
                    "error": r.error,
                }),
            }
        })
        .collect();
    let (live, nodes, gitops) = if offline {
        (None, None, None)
    } else {
        (
            live_infra(config, &state).await,
            super::status_live::live_nodes(config, &state).await,
            super::status_live::live_gitops(config, &state).await,
        )
    };
    match printer.format() {
        OutputFormat::Json => printer.json(&serde_json::json!({
            "live": (live.is_some() || nodes.is_some() || gitops.is_some())
                .then(|| serde_json::json!({"infra": live, "nodes": nodes, "gitops": gitops})),
            "cluster": config.cluster,
            "state_dir": config.state_dir,
            "updated_at": state.updated_at.format(&time::format_description::well_known::Rfc3339).ok(),
            "phases": rows,
        })),
        OutputFormat::Text => {
            let mut lines = Vec::new();
            let mut errors = Vec::new();
            for p in Phase::ALL {
                let current = fingerprint(p, config, &state);
                let row = match state.phase(p) {
                    None => vec![p.to_string(), "pending".into(), "-".into(), "-".into(), "-".into(), short(&current)],
                    Some(r) => {
                        let status = match r.status {
                            PhaseStatus::Running => "interrupted",
                            PhaseStatus::Succeeded => "succeeded",
                            PhaseStatus::Failed => "failed",
                        };
                        if let Some(e) = &r.error {
                            errors.push(format!("{p}: {e}"));
                        }
                        let started = r
                            .started_at
                            .format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z"))
                            .unwrap_or_default();
                        let dur = r
                            .duration()
                            .and_then(|d| d.try_into().ok())
                            .map(format_duration)
                            .unwrap_or_else(|| "-".into());
                        let inputs = if r.fingerprint == current {
                            short(&r.fingerprint)
                        } else {
                            format!("{} (config changed: {})", short(&r.fingerprint), short(&current))
                        };
                        vec![p.to_string(), status.into(), started, dur, r.attempts.to_string(), inputs]
                    }
                };
                lines.push(row);
            }
            let mut out = format!("cluster {} (state: {})\n", config.cluster, config.state_dir.display());
            out.push_str(&table::render(
                &["PHASE", "STATUS", "STARTED", "DURATION", "RUNS", "INPUTS"],
                &lines,
            ));
            for e in errors {
                out.push_str(&format!("\nlast error of {e}"));
            }
            if let Some(l) = &live {
                out.push_str(&format!("\n{}", live_text(l, &config.postgres.server_name)));
            }
            if let Some(n) = &nodes {
                out.push_str(&format!("\n{}", super::status_live::text(n)));
            }
            if let Some(g) = &gitops {
                out.push_str(&format!("\n{}", super::status_live::gitops_text(g)));
            }
            printer.data(&out);
        }
    }
    let mut problems: Vec<String> = nodes
        .as_ref()
        .and_then(|n| n["problems"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.as_str().map(str::to_owned))
        .collect();
    problems.extend(
        gitops
            .as_ref()
            .and_then(|g| g["problems"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p.as_str().map(str::to_owned)),
    );
    if let Some(l) = &live {
        let bad = l["resources"].as_array().map_or(0, |r| {
            r.iter().filter(|r| r["state"] != "Succeeded").count()
        });
        if bad > 0 {
            problems.insert(0, format!("{bad} infra resources are not Succeeded"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(crate::error::Error::Unhealthy(problems.join("; ")))
    }
}

/// The first 12 hex digits of a `sha256:` fingerprint.
fn short(fp: &str) -> String {
    fp.trim_start_matches("sha256:").chars().take(12).collect()
}

/// Live check of the infra phase's recorded resources: one GET each, concurrently.
/// `None` when infra never recorded resources; errors are reported inside the result.
async fn live_infra(config: &Config, state: &crate::state::State) -> Option<serde_json::Value> {
    let rec = state.phase(Phase::Infra)?;
    let ids = crate::phases::infra::InfraOutputs::from_value(&rec.outputs)
        .map(|o| o.resource_ids())
        .unwrap_or_default();
    if ids.is_empty() {
        return None;
    }
    let conn = match crate::cloud::CloudConn::connect(config).await {
        Ok(c) => c,
        Err(e) => return Some(serde_json::json!({"error": e.to_string()})),
    };
    let checks = ids.iter().map(|id| {
        let client = conn.client.clone();
        async move {
            let version = crate::azure::ids::type_of(id)
                .and_then(|t| crate::azure::api_versions::for_type(&t))
                .unwrap_or(crate::azure::api_versions::RESOURCES);
            let state = match client.get(id, version).await {
                Ok(Some(body)) => crate::azure::lro::provisioning_state(&body)
                    .unwrap_or("Succeeded")
                    .to_owned(),
                Ok(None) => "missing".to_owned(),
                Err(e) => format!("error: {e}"),
            };
            serde_json::json!({"id": id, "state": state})
        }
    });
    let results = futures::future::join_all(checks).await;
    // On the same connection (a second one would mean a second token and TLS handshake).
    let unlisted = crate::phases::infra::unlisted_databases_on(&conn.client, config)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    conn.close().await;
    Some(serde_json::json!({"resources": results, "unlisted_databases": unlisted}))
}

fn live_text(live: &serde_json::Value, server: &str) -> String {
    if let Some(e) = live["error"].as_str() {
        return format!("live check failed: {e}");
    }
    let unlisted: Vec<String> = live["unlisted_databases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect();
    let note = if unlisted.is_empty() {
        String::new()
    } else {
        format!(
            "\n{}",
            crate::phases::infra::databases::message(server, &unlisted)
        )
    };
    format!("{}{note}", resources_text(live))
}

fn resources_text(live: &serde_json::Value) -> String {
    let all = live["resources"].as_array().cloned().unwrap_or_default();
    let bad: Vec<String> = all
        .iter()
        .filter(|r| r["state"] != "Succeeded")
        .map(|r| {
            format!(
                "  {} {}",
                crate::azure::ids::name_of(r["id"].as_str().unwrap_or("")),
                r["state"].as_str().unwrap_or("")
            )
        })
        .collect();
    if bad.is_empty() {
        format!(
            "live: all {} infra resources exist and are Succeeded",
            all.len()
        )
    } else {
        format!(
            "live: {} of {} infra resources are not Succeeded:\n{}",
            bad.len(),
            all.len(),
            bad.join("\n")
        )
    }
}
