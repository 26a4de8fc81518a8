//! `lineinfile` (state present): ensure a line, replacing the last line matching `regexp`.
//!
//! The edit needs Python-like regular expressions, which a POSIX shell does not have, so this
//! module reads the file in one exec, edits it here with a Rust regex (the same syntax for
//! the patterns playbooks use), and writes it back in a second exec that first checks the
//! file still has the content that was read (a compare-and-swap, so a concurrent writer is
//! not silently overwritten).

use regex_automata::meta::Regex;
use sha2::{Digest, Sha256};

use super::files::Attrs;
use super::{ModuleCtx, Outcome, from_status, unified_diff};
use crate::ssh::host::{HostError, shell_quote};

pub(super) async fn run(ctx: &ModuleCtx<'_>) -> Result<Outcome, HostError> {
    let prepared = (|| -> Result<_, String> {
        if let Some(s) = ctx.str_arg("state")?
            && s != "present"
        {
            return Err(format!("`state: {s}` is not supported; only present"));
        }
        let line = ctx.str_arg("line")?.ok_or("`line` is required")?;
        let regexp = ctx
            .str_arg("regexp")?
            .map(|r| Regex::new(&r).map_err(|e| format!("`regexp` {r:?}: {e}")))
            .transpose()?;
        Ok((
            ctx.path_arg()?,
            line,
            regexp,
            ctx.bool_arg("create")?,
            Attrs::from_ctx(ctx)?,
        ))
    })();
    let (path, line, regexp, create, attrs) = match prepared {
        Ok(p) => p,
        Err(e) => return Ok(Outcome::fail(e)),
    };
    let read = format!(
        r#"p={p}
if [ -f "$p" ]; then echo present; cat -- "$p"; elif [ -e "$p" ]; then echo "$p is not a regular file" >&2; exit 1; else echo absent; fi
"#,
        p = shell_quote(&path)
    );
    let out = ctx.exec(&read, None).await?;
    if out.status != 0 {
        return Ok(from_status(&out));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let old = match text.split_once('\n') {
        Some(("present", rest)) => Some(rest.to_owned()),
        _ => None,
    };
    if old.is_none() && !create {
        return Ok(Outcome::fail(format!(
            "Destination {path} does not exist (use `create: true`)"
        )));
    }
    let new = edit(old.as_deref().unwrap_or(""), &line, regexp.as_ref());
    let content_changed = old.as_deref() != Some(new.as_str());
    let expect = match &old {
        Some(o) => hex::encode(Sha256::digest(o.as_bytes())),
        None => "absent".into(),
    };
    let script = format!(
        r#"p={p}; expect={expect}; check={check}; changed={changed}
have=absent
if [ -f "$p" ]; then have=$(sha256sum < "$p") || exit 1; have=${{have%% *}}; fi
if [ "$have" != "$expect" ]; then cat >/dev/null; echo "$p changed while it was being edited; run again" >&2; exit 1; fi
if [ "$changed" = 1 ] && [ "$check" != 1 ]; then
  tmp="$(dirname -- "$p")/.${{p##*/}}.platform-tmp"
  cat > "$tmp" || {{ rm -f -- "$tmp"; exit 1; }}
  if [ -e "$p" ]; then chmod --reference="$p" -- "$tmp" && chown --reference="$p" -- "$tmp" 2>/dev/null; fi
  mv -f -- "$tmp" "$p" || {{ rm -f -- "$tmp"; exit 1; }}
else
  cat >/dev/null
fi
{attrs}
[ "$changed" = 1 ] && exit 100
exit 0
"#,
        p = shell_quote(&path),
        check = u8::from(ctx.check),
        changed = u8::from(content_changed),
        attrs = attrs.script("$p"),
    );
    // Nothing to write and no attributes to check: the read was enough.
    if !content_changed && attrs.is_empty() {
        return Ok(Outcome::default());
    }
    let out = ctx.exec(&script, Some(new.as_bytes())).await?;
    let mut outcome = from_status(&out);
    if ctx.diff && content_changed && !outcome.failed {
        outcome.diff = Some(unified_diff(&path, old.as_deref(), Some(&new)));
    }
    Ok(outcome)
}

/// Ansible's `present` edit: replace the last line matching `regexp`; else keep an exact
/// copy of `line` if there is one; else append `line` at the end.
pub(crate) fn edit(old: &str, line: &str, regexp: Option<&Regex>) -> String {
    let orig: Vec<&str> = old.lines().collect();
    let mut lines = orig.clone();
    match regexp.and_then(|re| lines.iter().rposition(|l| re.is_match(l))) {
        Some(i) => lines[i] = line,
        None if lines.contains(&line) => {}
        None => lines.push(line),
    }
    // Nothing to do: keep the file byte for byte (even without a final newline).
    if lines == orig {
        return old.to_owned();
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

impl Attrs {
    fn is_empty(&self) -> bool {
        self.script("$p").is_empty()
    }
}
