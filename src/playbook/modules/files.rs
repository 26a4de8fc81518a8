//! `copy`, `template` and `file`: content compared by sha256 on the host, attributes by
//! `stat`, all in the one script that also makes the change.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

use super::{ModuleCtx, Outcome, from_status, octal_mode, unified_diff};
use crate::ssh::host::{HostError, shell_quote};

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
                let path = find_local(ctx.playbook_dir, sub, &src)?;
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
        Err(e) => return Ok(Outcome::fail(e)),
    };
    let want = hex::encode(Sha256::digest(content.as_bytes()));
    let script = format!(
        r#"d={d}; want={want}; check={check}; diff={diff}; changed=0
if [ -d "$d" ]; then echo "$d is a directory" >&2; exit 1; fi
dir=$(dirname -- "$d")
if [ ! -d "$dir" ]; then cat >/dev/null; echo "Destination directory $dir does not exist" >&2; exit 1; fi
have=
if [ -f "$d" ]; then have=$(sha256sum < "$d") || exit 1; have=${{have%% *}}; fi
if [ "$have" = "$want" ]; then
  cat >/dev/null
else
  changed=1
  # Read stdin before writing the old content out: a writer blocked on a full stdin pipe
  # and a reader blocked on a full stdout pipe would wait for each other.
  tmp="$dir/.${{d##*/}}.platform-tmp"
  if [ "$check" = 1 ]; then cat >/dev/null; else cat > "$tmp" || {{ rm -f -- "$tmp"; exit 1; }}; fi
  if [ "$diff" = 1 ]; then if [ -f "$d" ]; then echo present; cat -- "$d"; else echo absent; fi; fi
  if [ "$check" != 1 ]; then
    if [ -e "$d" ]; then chmod --reference="$d" -- "$tmp" && chown --reference="$d" -- "$tmp" 2>/dev/null; fi
    mv -f -- "$tmp" "$d" || {{ rm -f -- "$tmp"; exit 1; }}
  fi
fi
{attrs}
[ "$changed" = 1 ] && exit 100
exit 0
"#,
        d = shell_quote(&dest),
        check = u8::from(ctx.check),
        diff = u8::from(ctx.diff),
        attrs = attrs.script("$d"),
    );
    let out = ctx.exec(&script, Some(content.as_bytes())).await?;
    let mut outcome = from_status(&out);
    if ctx.diff && !outcome.failed && !out.stdout.is_empty() {
        let text = String::from_utf8_lossy(&out.stdout);
        let old = match text.split_once('\n') {
            Some(("present", rest)) => Some(rest),
            _ => None,
        };
        outcome.diff = Some(unified_diff(&dest, old, Some(&content)));
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
        Err(e) => return Ok(Outcome::fail(e)),
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
    let attrs = if state == "absent" {
        String::new()
    } else {
        attrs.script("$p")
    };
    let script = format!(
        r#"p={p}; check={check}; changed=0
if [ -L "$p" ]; then before=link; elif [ -d "$p" ]; then before=directory; elif [ -e "$p" ]; then before=file; else before=absent; fi
echo "$before"
{act}
{attrs}
[ "$changed" = 1 ] && exit 100
exit 0
"#,
        p = shell_quote(&path),
        check = u8::from(ctx.check),
    );
    let out = ctx.exec(&script, None).await?;
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

/// `mode`, `owner` and `group` of a path, checked and fixed in the module's script.
pub(super) struct Attrs {
    mode: Option<String>,
    owner: Option<String>,
    group: Option<String>,
}

impl Attrs {
    pub(super) fn from_ctx(ctx: &ModuleCtx<'_>) -> Result<Attrs, String> {
        Ok(Attrs {
            mode: ctx.str_arg("mode")?.map(|m| octal_mode(&m)).transpose()?,
            owner: ctx.str_arg("owner")?,
            group: ctx.str_arg("group")?,
        })
    }

    /// Shell lines that set `changed=1` and fix what differs (only reads in check mode).
    /// A path that does not exist yet (check mode) counts as a change.
    pub(super) fn script(&self, var: &str) -> String {
        let mut s = String::new();
        let mut one = |fmt_name: &str, fmt_id: &str, want: &str, fix: &str| {
            let numeric = want.chars().all(|c| c.is_ascii_digit());
            let f = if numeric { fmt_id } else { fmt_name };
            s.push_str(&format!(
                "cur=$(stat -c {f} -- \"{var}\" 2>/dev/null); if [ \"$cur\" != {w} ]; then changed=1; [ \"$check\" = 1 ] || {fix} {w} -- \"{var}\" || exit 1; fi\n",
                w = shell_quote(want),
            ));
        };
        if let Some(m) = &self.mode {
            // %a is octal already, so the mode is compared as text, not as a number.
            one("%a", "%a", m, "chmod");
        }
        if let Some(o) = &self.owner {
            one("%U", "%u", o, "chown");
        }
        if let Some(g) = &self.group {
            one("%G", "%g", g, "chgrp");
        }
        s
    }
}

/// Finds a local `src` like Ansible: `<playbook dir>/<sub>/src`, then `<playbook dir>/src`.
fn find_local(dir: &Path, sub: &str, src: &str) -> Result<PathBuf, String> {
    let p = Path::new(src);
    let candidates: Vec<PathBuf> = if p.is_absolute() {
        vec![p.to_owned()]
    } else {
        vec![dir.join(sub).join(p), dir.join(p)]
    };
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
