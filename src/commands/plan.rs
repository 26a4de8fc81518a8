//! `platform plan`: what `up` would do, per phase, without changing anything.

use crate::config::Config;
use crate::error::Result;
use crate::output::{OutputFormat, Printer, table};
use crate::phase::{Phase, Selection};
use crate::phases::Phases;
use crate::runner::{PlanAction, plan};

pub async fn run(config: &Config, sel: &Selection, printer: &Printer) -> Result<()> {
    // Before any output: no credential means one error, not a failed row per resource.
    crate::cloud::CloudConn::preflight(config, &sel.phases()).await?;
    let state = super::read_state(config)?;
    super::check_cluster(config, &state, &config.state_dir)?;
    let plans = plan(&Phases, config, &state, sel).await;
    // Static inventories have no cloud resources to plan.
    let has_cloud = config.cloud.kind != crate::config::CloudKind::Static;
    let infra = if has_cloud && sel.phases().contains(&Phase::Infra) {
        Some(crate::phases::infra::plan(config).await?)
    } else {
        None
    };
    let unlisted = if infra.is_some() {
        crate::phases::infra::unlisted_databases(config)
            .await?
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    match printer.format() {
        OutputFormat::Json => printer.json(&serde_json::json!({
            "cluster": config.cluster, "phases": plans, "infra": infra,
            "unlisted_databases": unlisted,
        })),
        OutputFormat::Text => {
            let rows: Vec<Vec<String>> = plans
                .iter()
                .map(|p| {
                    let reason = if p.built || p.action == PlanAction::Skip {
                        p.reason.clone()
                    } else {
                        format!("{} (not built yet)", p.reason)
                    };
                    vec![p.phase.to_string(), p.action.as_str().into(), reason]
                })
                .collect();
            let mut out = table::render(&["PHASE", "ACTION", "REASON"], &rows);
            if let Some(resources) = &infra {
                let rows: Vec<Vec<String>> = resources
                    .iter()
                    .map(|o| {
                        let detail = match (&o.error, o.changes.is_empty()) {
                            (Some(e), _) => e.clone(),
                            (None, false) => o.changes.join(", "),
                            (None, true) => String::new(),
                        };
                        vec![
                            o.key.to_string(),
                            crate::azure::ids::name_of(&o.id).to_owned(),
                            o.action.as_str().into(),
                            detail,
                        ]
                    })
                    .collect();
                out.push_str(
                    "
infra resources:
",
                );
                out.push_str(&table::render(
                    &["RESOURCE", "NAME", "ACTION", "CHANGES"],
                    &rows,
                ));
            }
            if !unlisted.is_empty() {
                out.push_str(&format!(
                    "\n{}\n",
                    crate::phases::infra::databases::message(
                        &config.postgres.server_name,
                        &unlisted
                    )
                ));
            }
            printer.data(&out);
        }
    }
    Ok(())
}
