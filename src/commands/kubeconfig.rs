//! `platform kubeconfig`: the path of the cluster's kubeconfig, its contents with `--raw`,
//! or a merge into the user's kubeconfig by name (`--merge [FILE]`, `--switch`).

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::kube::kubeconfig::{self, Merged};
use crate::output::{OutputFormat, Printer};

/// Suffix of the copy of a kubeconfig taken before a merge replaces it.
const BACKUP_SUFFIX: &str = ".platform-backup";

pub fn run(
    config: &Config,
    raw: bool,
    merge: Option<Option<&Path>>,
    switch: bool,
    printer: &Printer,
) -> Result<()> {
    let ours_path = config.paths().kubeconfig();
    let ours_text = match fsutil::read_capped(&ours_path, fsutil::caps::CONFIG) {
        Ok(t) => t,
        Err(e) if e.is_not_found() => {
            return Err(Error::Usage(format!(
                "cluster {} has no kubeconfig yet: `platform up` writes it once the nodes phase has installed k3s ({})",
                config.cluster,
                ours_path.display()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if raw {
        printer.data(ours_text.trim_end());
        return Ok(());
    }
    let Some(target) = merge else {
        match printer.format() {
            OutputFormat::Json => printer.json(&serde_json::json!({
                "kubeconfig": ours_path, "context": config.cluster,
            })),
            OutputFormat::Text => printer.data(&ours_path.display().to_string()),
        }
        return Ok(());
    };
    let target = match target {
        Some(t) => t.to_owned(),
        None => default_target()?,
    };
    let ours = kubeconfig::parse(&ours_text, &ours_path.display().to_string())
        .map_err(|e| Error::Failed(e.to_string()))?;
    let existing_text = match fsutil::read_capped(&target, fsutil::caps::CONFIG) {
        Ok(t) => Some(t),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    let existing = kubeconfig::parse(
        existing_text.as_deref().unwrap_or_default(),
        &target.display().to_string(),
    )
    .map_err(|e| Error::Usage(e.to_string()))?;
    let Merged {
        doc,
        replaced,
        current,
    } = kubeconfig::merge(existing, &ours, switch).map_err(|e| Error::Usage(e.to_string()))?;
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
    }
    let backup = existing_text.as_ref().map(|old| {
        let mut b = target.clone().into_os_string();
        b.push(BACKUP_SUFFIX);
        (PathBuf::from(b), old)
    });
    if let Some((b, old)) = &backup {
        fsutil::write_atomic(b, old.as_bytes())?;
    }
    fsutil::write_atomic(&target, kubeconfig::render(&doc).as_bytes())?;
    let name = &config.cluster;
    match printer.format() {
        OutputFormat::Json => printer.json(&serde_json::json!({
            "merged_into": target,
            "context": name,
            "replaced": replaced,
            "backup": backup.as_ref().map(|(b, _)| b),
            "current_context": current,
        })),
        OutputFormat::Text => {
            let verb = if replaced { "replaced" } else { "added" };
            printer.data(&format!("{verb} context {name} in {}", target.display()));
            if let Some((b, _)) = &backup {
                printer.info(&format!("the previous file is kept as {}", b.display()));
            }
            match current.as_deref() {
                Some(c) if c == name => printer.info(&format!("current context: {name}")),
                Some(c) => printer.info(&format!(
                    "current context is still {c}; `kubectl config use-context {name}` (or --switch) selects this cluster"
                )),
                None => {}
            }
        }
    }
    Ok(())
}

/// Where kubectl reads its config: the first file of `$KUBECONFIG`, else `~/.kube/config`.
fn default_target() -> Result<PathBuf> {
    if let Some(list) = std::env::var_os("KUBECONFIG")
        && let Some(first) = std::env::split_paths(&list).find(|p| !p.as_os_str().is_empty())
    {
        return Ok(first);
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".kube").join("config"))
        .ok_or_else(|| {
            Error::Usage("neither $KUBECONFIG nor $HOME is set: give the file, --merge FILE".into())
        })
}
