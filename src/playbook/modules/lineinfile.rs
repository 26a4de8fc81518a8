//! `lineinfile` (state present): ensure a line, replacing the last line matching `regexp`.
//!
//! The edit needs Python-like regular expressions, which a POSIX shell does not have, so this
//! module reads the file in one exec, edits it here with a Rust regex (the same syntax for
//! the patterns playbooks use), and writes it back in a second exec that first checks the
//! file still has the content that was read (a compare-and-swap, so a concurrent writer is
//! not silently overwritten).

use regex_automata::meta::Regex;
use sha2::{Digest, Sha256};

use super::write::{Attrs, RENAME_TEMP, WRITE_TEMP, random_suffix};
use super::{ModuleCtx, Outcome, Params, from_status, unified_diff};
use crate::ssh::host::HostError;

/// The largest file edited (its whole content comes back over the connection).
const MAX_SIZE: usize = 32 * 1024 * 1024;

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
        Err(e) => return Ok(ctx.invalid(e)),
    };
    let read = r#"if [ -f "$d" ]; then echo present; cat -- "$d"; elif [ -e "$d" ]; then echo "$d is not a regular file" >&2; exit 1; else echo absent; fi
"#;
    let out = ctx
        .exec_with(
            read,
            Params::default().var("d", &path),
            None,
            ctx.timeout,
            Some(MAX_SIZE + 16),
        )
        .await?;
    if out.status != 0 {
        return Ok(from_status(&out));
    }
    if out.stdout_dropped > 0 {
        return Ok(Outcome::fail(format!(
            "{path} is larger than {} MiB, the most lineinfile edits",
            MAX_SIZE >> 20
        )));
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
    // Nothing to write and no attributes to check: the read was enough.
    if !content_changed && attrs.is_empty() {
        return Ok(Outcome::default());
    }
    let expect = match &old {
        Some(o) => hex::encode(Sha256::digest(o.as_bytes())),
        None => "absent".into(),
    };
    let script = format!(
        r#"tmp=; t=$d; dir=$(dirname -- "$d")
have=absent
if [ -f "$d" ]; then have=$(sha256sum < "$d") || exit 1; have=${{have%% *}}; fi
if [ "$have" != "$expect" ]; then cat >/dev/null; echo "$d changed while it was being edited; run again" >&2; exit 1; fi
if [ "$changed" = 1 ] && [ "$check" != 1 ]; then
{WRITE_TEMP}else
  cat >/dev/null
fi
{attrs}{RENAME_TEMP}[ "$changed" = 1 ] && exit 100
exit 0
"#,
        attrs = attrs.script("$t"),
    );
    let params = Params::default()
        .var("d", &path)
        .var("expect", expect)
        .var("check", u8::from(ctx.check).to_string())
        .var("changed", u8::from(content_changed).to_string())
        .var("rand", random_suffix());
    let out = ctx
        .exec(&script, attrs.params(params), Some(new.as_bytes()))
        .await?;
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
