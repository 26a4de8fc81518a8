//! `platform doctor`: what the config's cloud kind needs on this machine, found or missing,
//! with the command that installs what is missing; exit 1 when a required item is missing.

use crate::config::Config;
use crate::doctor::{Report, check};
use crate::error::{Error, Result};
use crate::output::{OutputFormat, Printer, table};

pub async fn run(config: &Config, printer: &Printer) -> Result<()> {
    let report = check(config).await;
    match printer.format() {
        OutputFormat::Json => {
            let mut doc = serde_json::to_value(&report).unwrap_or_default();
            if let Some(o) = doc.as_object_mut() {
                o.insert("ok".into(), report.ok().into());
                o.insert("install".into(), report.install_command().into());
            }
            printer.json(&doc);
        }
        OutputFormat::Text => printer.data(&render(&report)),
    }
    let missing = report.missing();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|c| c.item.as_str()).collect();
    Err(Error::Failed(format!(
        "this machine lacks {} required item{} for this config: {}",
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        names.join(", ")
    )))
}

/// The report as a table, the fixes of what is missing, and the credential chain.
fn render(report: &Report) -> String {
    let rows: Vec<Vec<String>> = report
        .checks
        .iter()
        .map(|c| {
            vec![
                if c.ok { "ok" } else { "missing" }.to_owned(),
                if c.required { "required" } else { "optional" }.to_owned(),
                c.item.clone(),
                c.detail.clone(),
            ]
        })
        .collect();
    let mut out = table::render(&["STATUS", "NEED", "ITEM", "DETAIL"], &rows);
    if !report.credential_chain.is_empty() {
        out.push_str("\ncredential chain, in order:\n");
        for s in &report.credential_chain {
            let state = if s.available { "available" } else { "skipped" };
            out.push_str(&format!("  {}: {state}: {}\n", s.name, s.detail));
        }
    }
    let fixes: Vec<String> = report
        .checks
        .iter()
        .filter(|c| !c.ok)
        .filter_map(|c| c.fix.as_ref().map(|f| format!("  {}: {f}\n", c.item)))
        .collect();
    if !fixes.is_empty() {
        out.push_str("\nto fix:\n");
        out.extend(fixes);
    }
    match report.install_command() {
        Some(cmd) => out.push_str(&format!("\ninstall every missing package: {cmd}\n")),
        None if report.ok() => out.push_str("\neverything this config needs is here\n"),
        None => {}
    }
    out
}
