//! `command` and `shell`: run a program (no shell features) or a shell script.
//!
//! Both are reported `changed` when they run (Ansible's default; `changed_when` refines it).
//! `creates`/`removes` are checked in the same script before anything runs. In check mode
//! nothing runs: the task is `skipped`, unless `creates`/`removes` show it would not run.

use super::{ModuleCtx, Outcome, Params};
use crate::ssh::host::HostError;
use serde_json::Value as Json;

const SKIP: &str = "__platform_skip__";
const WOULD_RUN: &str = "__platform_would_run__";

pub(super) async fn run(ctx: &ModuleCtx<'_>, shell: bool) -> Result<Outcome, HostError> {
    let program = match program(ctx, shell) {
        Ok(p) => p,
        Err(e) => return Ok(ctx.invalid(e)),
    };
    let (creates, removes, chdir) = match (
        ctx.str_arg("creates"),
        ctx.str_arg("removes"),
        ctx.str_arg("chdir"),
    ) {
        (Ok(c), Ok(r), Ok(d)) => (c, r, d),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return Ok(ctx.invalid(e)),
    };
    let mut script = String::new();
    let mut params = Params::default();
    if let Some(c) = &creates {
        params = params.var("creates", c);
        script.push_str(&format!(
            "if [ -e \"$creates\" ]; then printf %s {SKIP}; exit 0; fi\n"
        ));
    }
    if let Some(r) = &removes {
        params = params.var("removes", r);
        script.push_str(&format!(
            "if [ ! -e \"$removes\" ]; then printf %s {SKIP}; exit 0; fi\n"
        ));
    }
    if ctx.check {
        if creates.is_none() && removes.is_none() {
            return Ok(Outcome {
                skipped: true,
                msg: "skipped in check mode: the command would run".into(),
                ..Outcome::default()
            });
        }
        script.push_str(&format!("printf %s {WOULD_RUN}\n"));
    } else {
        if let Some(d) = &chdir {
            params = params.var("chdir", d);
            script.push_str("cd -- \"$chdir\" || exit 1\n");
        }
        // The program and its arguments are the remaining positional parameters.
        script.push_str("exec \"$@\"\n");
        params = params.rest(program);
    }
    let out = ctx.exec(&script, params, None).await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status == 0 && stdout == SKIP {
        let msg = match (&creates, &removes) {
            (Some(c), _) => format!("skipped, since {c} exists"),
            (_, Some(r)) => format!("skipped, since {r} does not exist"),
            _ => String::new(),
        };
        return Ok(Outcome {
            rc: Some(0),
            stdout: msg.clone(),
            msg,
            ..Outcome::default()
        });
    }
    if ctx.check && out.status == 0 && stdout == WOULD_RUN {
        return Ok(Outcome {
            skipped: true,
            msg: "skipped in check mode: the command would run".into(),
            ..Outcome::default()
        });
    }
    // Ansible strips the trailing newlines of both streams.
    let stdout = stdout.trim_end_matches(['\r', '\n']).to_owned();
    let stderr = String::from_utf8_lossy(&out.stderr)
        .trim_end_matches(['\r', '\n'])
        .to_owned();
    let failed = out.status != 0;
    Ok(Outcome {
        changed: true,
        failed,
        rc: Some(out.status),
        stdout,
        stderr,
        msg: if failed {
            "non-zero return code".into()
        } else {
            String::new()
        },
        ..Outcome::default()
    })
}

/// The words to `exec`: the shell and its script, or the command's words.
fn program(ctx: &ModuleCtx<'_>, shell: bool) -> Result<Vec<String>, String> {
    let text = match ctx.str_arg("_raw_params")? {
        Some(t) => Some(t),
        None => ctx.str_arg("cmd")?,
    };
    if shell {
        let script = text.ok_or("a command is required")?;
        let exe = ctx
            .str_arg("executable")?
            .unwrap_or_else(|| "/bin/sh".into());
        return Ok(vec![exe, "-c".into(), script]);
    }
    let words = match (text, ctx.args.get("argv")) {
        (Some(t), None) => split(&t)?,
        (None, Some(Json::Array(items))) => items
            .iter()
            .map(|i| match i {
                Json::String(s) => Ok(s.clone()),
                Json::Number(n) => Ok(n.to_string()),
                other => Err(format!("`argv` items must be strings, found {other}")),
            })
            .collect::<Result<_, _>>()?,
        (Some(_), Some(_)) => return Err("give either a command string or `argv`, not both".into()),
        _ => return Err("a command is required (free form, `cmd` or `argv`)".into()),
    };
    if words.is_empty() {
        return Err("the command is empty".into());
    }
    Ok(words)
}

/// Splits a command line into words like Python's `shlex.split` (what Ansible uses).
pub(crate) fn split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("unclosed single quote in {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err(format!("unclosed double quote in {s:?}")),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(format!("unclosed double quote in {s:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = chars.next() {
                    cur.push(x);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}
