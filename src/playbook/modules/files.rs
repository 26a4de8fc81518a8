//! `copy`, `template` and `file`: content compared by sha256 on the host, attributes by
//! `stat`, all in the one script that also makes the change (written as `write.rs` says).

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

use super::write::{Attrs, RENAME_TEMP, WRITE_TEMP, random_suffix};
use super::{ModuleCtx, Outcome, Params, from_status, unified_diff};
use crate::ssh::host::HostError;

/// Files larger than this get no diff (Ansible's `MAX_FILE_SIZE_FOR_DIFF` default).
const MAX_DIFF_SIZE: usize = 104_448;

/// `copy` (content or a local `src` file) and `template` (a rendered local `src` file).
pub(super) async fn copy(ctx: &ModuleCtx<'_>, template: bool) -> Result<Outcome, HostError> {
    let prepared = (|| -> Result<(String, String, Attrs), String> {
        let dest = ctx.str_arg("dest")?.ok_or("`dest` is required")?;
        if !dest.starts_with('/') {
            return Err(format!("`dest` must be an absolute path, found {dest:?}"));
        }
        let content = match (ctx.str_arg("content")?, ctx.str_arg("src")?) {
            (Some(c), None) if !template => c,
            (None, Some(src)) => {
                let sub = if template { "templates" } else { "files" };
                let path = find_local(&[ctx.task_dir, ctx.playbook_dir], sub, &src)?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                if template {
                    ctx.jinja.render_file(&src, &text, ctx.vars)?
                } else {
                    text
                }
            }
            _ => return Err("give exactly one of `content` or `src`".into()),
        };
        Ok((dest, content, Attrs::from_ctx(ctx)?))
    })();
    let (dest, content, attrs) = match prepared {
        Ok(p) => p,
        Err(e) => return Ok(ctx.invalid(e)),
    };
    let want = hex::encode(Sha256::digest(content.as_bytes()));
    // The old content comes back on stdout for a diff, unless either side is too large.
    let diff = ctx.diff && content.len() <= MAX_DIFF_SIZE;
    let params = Params::default()
        .var("d", &dest)
        .var("want", want)
        .var("check", u8::from(ctx.check).to_string())
        .var("diff", u8::from(diff).to_string())
        .var("max_diff", MAX_DIFF_SIZE.to_string())
        .var("rand", random_suffix());
    let script = format!(
        r#"changed=0; tmp=; t=$d
if [ -d "$d" ]; then cat >/dev/null; echo "$d is a directory" >&2; exit 1; fi
dir=$(dirname -- "$d")
if [ ! -d "$dir" ]; then cat >/dev/null; echo "Destination directory $dir does not exist" >&2; exit 1; fi
have=
if [ -f "$d" ]; then have=$(sha256sum < "$d") || exit 1; have=${{have%% *}}; fi
if [ "$have" = "$want" ]; then
  cat >/dev/null
else
  changed=1
  # Stdin is read before the old content is written out: a writer blocked on a full stdin
  # pipe and a reader blocked on a full stdout pipe would wait for each other.
  if [ "$check" = 1 ]; then cat >/dev/null; else
{WRITE_TEMP}  fi
  if [ "$diff" = 1 ]; then
    if [ ! -f "$d" ]; then echo absent
    elif [ "$(stat -L -c %s -- "$d")" -gt "$max_diff" ]; then echo toolarge
    else echo present; cat -- "$d"; fi
  fi
fi
{attrs}{RENAME_TEMP}[ "$changed" = 1 ] && exit 100
exit 0
"#,
        attrs = attrs.script("$t"),
    );
    let out = ctx
        .exec_with(
            &script,
            attrs.params(params),
            Some(content.as_bytes()),
            ctx.timeout,
            Some(MAX_DIFF_SIZE + 64 * 1024),
        )
        .await?;
    let mut outcome = from_status(&out);
    if ctx.diff && !outcome.failed && outcome.changed {
        let text = String::from_utf8_lossy(&out.stdout);
        outcome.diff = Some(match text.split_once('\n') {
            _ if !diff => {
                format!("diff skipped: source file size is greater than {MAX_DIFF_SIZE}\n")
            }
            Some(("toolarge", _)) => {
                format!("diff skipped: destination file size is greater than {MAX_DIFF_SIZE}\n")
            }
            Some(("present", old)) => unified_diff(&dest, Some(old), Some(&content)),
            _ => unified_diff(&dest, None, Some(&content)),
        });
    }
    Ok(outcome)
}

/// `file` with `state: directory | absent | touch | file` (default: the path must exist).
pub(super) async fn file(ctx: &ModuleCtx<'_>) -> Result<Outcome, HostError> {
    let prepared = (|| -> Result<(String, String, Attrs), String> {
        let state = ctx.str_arg("state")?.unwrap_or_else(|| "file".into());
        if !["directory", "absent", "touch", "file"].contains(&state.as_str()) {
            return Err(format!(
                "`state: {state}` is not supported; use directory, absent, touch or file"
            ));
        }
        Ok((ctx.path_arg()?, state, Attrs::from_ctx(ctx)?))
    })();
    let (path, state, attrs) = match prepared {
        Ok(p) => p,
        Err(e) => return Ok(ctx.invalid(e)),
    };
    let act = match state.as_str() {
        "directory" => {
            r#"if [ -d "$p" ]; then :; elif [ -e "$p" ]; then echo "$p exists and is not a directory" >&2; exit 1;
else changed=1; [ "$check" = 1 ] || mkdir -p -- "$p" || exit 1; fi"#
        }
        "absent" => {
            r#"if [ -e "$p" ] || [ -L "$p" ]; then changed=1; [ "$check" = 1 ] || rm -rf -- "$p" || exit 1; fi"#
        }
        // Like Ansible, touch always changes (it updates the times).
        "touch" => r#"changed=1; [ "$check" = 1 ] || touch -- "$p" || exit 1"#,
        _ => r#"if [ ! -e "$p" ]; then echo "file $p is absent, cannot continue" >&2; exit 1; fi"#,
    };
    let attrs_script = if state == "absent" {
        String::new()
    } else {
        attrs.script("$p")
    };
    let script = format!(
        r#"changed=0
if [ -L "$p" ]; then before=link; elif [ -d "$p" ]; then before=directory; elif [ -e "$p" ]; then before=file; else before=absent; fi
echo "$before"
{act}
{attrs_script}
[ "$changed" = 1 ] && exit 100
exit 0
"#
    );
    let params = Params::default()
        .var("p", &path)
        .var("check", u8::from(ctx.check).to_string());
    let out = ctx.exec(&script, attrs.params(params), None).await?;
    let mut outcome = from_status(&out);
    if ctx.diff && outcome.changed {
        let before = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let after = match state.as_str() {
            "touch" if before != "absent" => before.clone(),
            "touch" => "file".into(),
            "file" => before.clone(),
            s => s.to_owned(),
        };
        outcome.diff = Some(format!(
            "--- before: {path}\n+++ after: {path}\n-state: {before}\n+state: {after}\n"
        ));
    }
    Ok(outcome)
}

/// Finds a local `src` like Ansible: `<playbook dir>/<sub>/src`, then `<playbook dir>/src`.
/// A controller file as Ansible finds one (`path_dwim_relative_stack`): in each of `dirs`
/// (the task's file's directory, then the playbook's), `SUB/src` (unless `src` already
/// starts with `SUB/`), then `src`.
fn find_local(dirs: &[&Path], sub: &str, src: &str) -> Result<PathBuf, String> {
    let p = Path::new(src);
    let mut candidates: Vec<PathBuf> = Vec::new();
    if p.is_absolute() {
        candidates.push(p.to_owned());
    } else {
        for dir in dirs {
            if !p.starts_with(sub) {
                candidates.push(dir.join(sub).join(p));
            }
            candidates.push(dir.join(p));
        }
        let mut seen = std::collections::HashSet::new();
        candidates.retain(|c| seen.insert(c.clone()));
    }
    candidates
        .iter()
        .find(|c| c.is_file())
        .cloned()
        .ok_or_else(|| {
            format!(
                "could not find `{src}` (looked in {})",
                candidates
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}
