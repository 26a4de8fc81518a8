//! `platform init`: write a commented config with every option and its default.

use std::io::Write;
use std::path::Path;

use crate::cli::InitCloud;
use crate::error::{Error, Result};
use crate::output::{OutputFormat, Printer};
use crate::templates::InitConfig;

/// The VNet of a new Azure cluster (its own network, nothing to collide with here).
const DEFAULT_SPACE: ipnet::Ipv4Net =
    ipnet::Ipv4Net::new_assert(std::net::Ipv4Addr::new(10, 0, 0, 0), 16);

pub fn run(
    path: &Path,
    cloud: InitCloud,
    cluster: &str,
    force: bool,
    printer: &Printer,
) -> Result<()> {
    let cloud = match cloud {
        InitCloud::Azure => "azure",
        InitCloud::Local => "local",
    };
    // Check the name with the same rules as the config, before writing anything.
    let probe = format!(
        "cluster: {cluster:?}\ncloud: {{kind: local}}\nnetwork: {{admin_cidrs: [192.0.2.0/24]}}\ngitops: {{controller: none}}\n"
    );
    if let Err(issues) = crate::config::Config::from_str(&probe, Path::new("."), None)
        && let Some(i) = issues.iter().find(|i| i.path == "cluster")
    {
        return Err(Error::Usage(format!("--cluster: {}", i.message)));
    }
    // A local cluster's hosts put its subnets on this machine: pick a VNet no route here
    // uses, so a second local cluster does not collide with the first.
    let space = match cloud {
        "local" => {
            crate::cloud::addresses::free_address_space(&crate::cloud::addresses::machine_routes())
                .ok_or_else(|| {
                    Error::Failed(
                        "no free 10.N.0.0/16 on this machine for a local cluster's network".into(),
                    )
                })?
        }
        _ => DEFAULT_SPACE,
    };
    let text = InitConfig {
        cluster,
        cloud,
        address_space: space,
    }
    .render()
    .map_err(|e| Error::Failed(format!("cannot render the config template: {e}")))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Usage(format!(
                "{} already exists; pass --force to overwrite it",
                path.display()
            ))
        } else {
            Error::io("cannot create", path, e)
        }
    })?;
    f.write_all(text.as_bytes())
        .map_err(|e| Error::io("cannot write", path, e))?;
    match printer.format() {
        OutputFormat::Json => printer.json(&serde_json::json!({
            "written": path, "cloud": cloud, "cluster": cluster,
        })),
        OutputFormat::Text => {
            printer.info(&format!("wrote {} (cloud: {cloud})", path.display()));
            let next = if cloud == "azure" {
                "fill in cloud.subscription_id, cloud.location, network.admin_cidrs and gitops.repository, then run `platform plan`"
            } else {
                "run `platform plan`, then `platform up`"
            };
            printer.hint(next);
        }
    }
    Ok(())
}
