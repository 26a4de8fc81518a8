//! `fetch`: a file from the host to this machine, as Ansible's action plugin does through
//! `slurp`: one exec reads it (at most [`SLURP_MAX`](super::stat::SLURP_MAX) bytes), and it
//! is written here only when its SHA-1 differs from the local copy's.
//!
//! The local file is written atomically and privately (mode 0600: fetched files are
//! kubeconfigs and tokens), and a destination that would leave `dest` (a `src` or host name
//! with `..`) is refused. Skipped in check mode, as in Ansible.

use base64::Engine as _;
use serde_json::{Map, Value as Json};
use sha1::{Digest, Sha1};
use std::path::{Component, Path, PathBuf};

use super::stat::{read_file, src_arg};
use super::{ModuleCtx, Outcome};
use crate::ssh::host::HostError;

pub(super) async fn run(ctx: &ModuleCtx<'_>) -> Result<Outcome, HostError> {
    if ctx.check {
        return Ok(Outcome {
            skipped: true,
            msg: "check mode not (yet) supported for this module".into(),
            ..Outcome::default()
        });
    }
    let prepared = (|| -> Result<_, String> {
        let src = src_arg(ctx)?;
        let dest = ctx.str_arg("dest")?.ok_or("`dest` is required")?;
        let flat = ctx.bool_arg("flat")?;
        let fail_on_missing = ctx.opt_bool_arg("fail_on_missing")?.unwrap_or(true);
        let local = local_dest(ctx.playbook_dir, &dest, &src, ctx.host.name(), flat)?;
        Ok((src, local, fail_on_missing))
    })();
    let (src, dest, fail_on_missing) = match prepared {
        Ok(p) => p,
        Err(e) => return Ok(ctx.invalid(e)),
    };
    let content = match read_file(ctx, &src).await? {
        Ok(c) => c,
        Err(mut failed) => {
            if failed.msg.contains("not found") {
                failed.msg = "the remote file does not exist, not transferring, ignored".into();
            } else if failed.msg.starts_with("Source is a directory") {
                failed.msg = "remote file is a directory, fetch cannot work on directories".into();
            }
            failed.failed = fail_on_missing;
            failed.rc = None;
            failed.data.insert("file".into(), src.into());
            return Ok(failed);
        }
    };
    let bytes = match base64::engine::general_purpose::STANDARD.decode(&content) {
        Ok(b) => b,
        Err(e) => {
            return Ok(Outcome::fail(format!(
                "fetch {src}: bad base64 from the host: {e}"
            )));
        }
    };
    let remote = hex::encode(Sha1::digest(&bytes));
    let local = std::fs::read(&dest)
        .ok()
        .map(|b| hex::encode(Sha1::digest(&b)));
    let changed = local.as_deref() != Some(remote.as_str());
    if changed {
        let written = dest
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .map_err(|e| e.to_string())
            .and_then(|()| crate::fsutil::write_atomic(&dest, &bytes).map_err(|e| e.to_string()));
        if let Err(e) = written {
            return Ok(Outcome::fail(format!("Failed to fetch the file: {e}")));
        }
    }
    let mut data = Map::new();
    data.insert("dest".into(), dest.display().to_string().into());
    data.insert("file".into(), src.into());
    data.insert("checksum".into(), remote.clone().into());
    if changed {
        data.insert("remote_checksum".into(), remote.into());
        data.insert("remote_md5sum".into(), Json::Null);
    }
    Ok(Outcome {
        changed,
        data,
        ..Outcome::default()
    })
}

/// Where the file goes: `dest/<host>/<src>`, or with `flat` `dest` itself (or
/// `dest/<basename of src>` when `dest` ends with `/`); relative to the playbook's
/// directory, as Ansible's `path_dwim` does.
fn local_dest(
    playbook_dir: &Path,
    dest: &str,
    src: &str,
    host: &str,
    flat: bool,
) -> Result<PathBuf, String> {
    let root = normalize(&playbook_dir.join(dest));
    let path = if flat {
        if dest.ends_with('/') {
            let base = Path::new(src)
                .file_name()
                .ok_or_else(|| format!("`src` {src:?} names no file"))?;
            let p = root.join(base);
            if p.is_dir() {
                return Err(format!(
                    "calculated dest '{}' is an existing directory, use another path that does not point to an existing directory",
                    p.display()
                ));
            }
            p
        } else if root.is_dir() {
            return Err("dest is an existing directory, use a trailing slash if you want to fetch src into that directory".into());
        } else {
            root.clone()
        }
    } else {
        if host.is_empty() || host.contains('/') || host == "." || host == ".." {
            return Err(format!("the host name {host:?} cannot name a directory"));
        }
        let base = root.join(host);
        let p = normalize(&base.join(src.trim_start_matches('/')));
        if !p.starts_with(&base) || p == base {
            return Err(format!(
                "the destination {} is outside {}/{host} (`src` {src:?})",
                p.display(),
                root.display()
            ));
        }
        p
    };
    Ok(path)
}

/// `os.path.normpath`: `.` and `..` resolved in the text, without looking at the disk.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_computed_like_ansible_and_never_leave_dest() {
        let dir = Path::new("/pb");
        let d = |dest: &str, src: &str, host: &str, flat: bool| {
            local_dest(dir, dest, src, host, flat).map(|p| p.display().to_string())
        };
        assert_eq!(
            d("out", "/etc/rancher/k3s/k3s.yaml", "s1", false).unwrap(),
            "/pb/out/s1/etc/rancher/k3s/k3s.yaml"
        );
        assert_eq!(d("/abs/kc", "/x/k3s.yaml", "s1", true).unwrap(), "/abs/kc");
        assert_eq!(
            d("/abs/", "/x/k3s.yaml", "s1", true).unwrap(),
            "/abs/k3s.yaml"
        );
        assert!(d("out", "/../../etc/passwd", "s1", false).is_err());
        assert!(d("out", "/etc/x", "..", false).is_err());
        assert!(
            d("/tmp", "/etc/x", "s1", true)
                .unwrap_err()
                .contains("existing directory")
        );
    }
}
