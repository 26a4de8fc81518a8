//! The value syntaxes of unit files, as systemd reads them: words with quotes and C
//! escapes, `Exec*=` command lines (prefixes, `$VAR`/`${VAR}` substitution at exec time),
//! `Environment=` assignments, environment files and time spans.

use std::collections::HashMap;
use std::time::Duration;

/// Splits `s` into words: whitespace separates, `"..."` and `'...'` group (anywhere in a
/// word), backslash escapes as in C (`\n`, `\t`, `\\`, `\"`, `\xNN`, ...).
pub fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let e = chars.next().ok_or("a trailing backslash")?;
                cur.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'a' => '\x07',
                    'b' => '\x08',
                    'f' => '\x0c',
                    'v' => '\x0b',
                    's' => ' ',
                    '0' => '\0',
                    'x' => {
                        let hex: String = chars.by_ref().take(2).collect();
                        u8::from_str_radix(&hex, 16)
                            .map(char::from)
                            .map_err(|_| format!("bad escape \\x{hex}"))?
                    }
                    other => other,
                });
                in_word = true;
            }
            q @ ('"' | '\'') if quote.is_none() => {
                quote = Some(q);
                in_word = true;
            }
            q if Some(q) == quote => quote = None,
            c if c.is_whitespace() && quote.is_none() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("an unterminated quote".into());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// One command of an `Exec*=` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCmd {
    /// The executable: an absolute path, or a name looked up in [`EXEC_PATH`].
    pub path: String,
    /// Its arguments, `argv[0]` first, before `$VAR` substitution.
    pub argv: Vec<String>,
    /// `-` prefix: a failure is ignored.
    pub ignore_errors: bool,
    /// `:` prefix: no environment variable substitution.
    pub no_env: bool,
}

/// Where a command given by name is looked up (systemd's fixed search path).
pub const EXEC_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Parses an `Exec*=` value: prefixes `-@:+!`, then words; a lone `;` separates commands.
pub fn exec(value: &str) -> Result<Vec<ExecCmd>, String> {
    let mut cmds = Vec::new();
    for group in words(value)?.split(|w| w == ";") {
        let Some((first, rest)) = group.split_first() else {
            continue;
        };
        let prefix_len = first.find(|c| !"-@:+!".contains(c)).unwrap_or(first.len());
        let (prefix, path) = first.split_at(prefix_len);
        let mut rest = rest.to_vec();
        let argv0 = if prefix.contains('@') {
            if rest.is_empty() {
                return Err("'@' needs an argv[0] after the executable".into());
            }
            rest.remove(0)
        } else {
            path.to_string()
        };
        if path.is_empty() {
            return Err("a command line without an executable".into());
        }
        if path.contains('/') && !path.starts_with('/') {
            return Err(format!(
                "neither a valid executable name nor an absolute path: {path}"
            ));
        }
        cmds.push(ExecCmd {
            path: path.to_string(),
            argv: std::iter::once(argv0).chain(rest).collect(),
            ignore_errors: prefix.contains('-'),
            no_env: prefix.contains(':'),
        });
    }
    Ok(cmds)
}

impl ExecCmd {
    /// The arguments with `$VAR` (a whole word: split at whitespace) and `${VAR}` (anywhere:
    /// one word) replaced from `env`; `$$` is a `$`.
    pub fn expand(&self, env: &HashMap<String, String>) -> Vec<String> {
        if self.no_env {
            return self.argv.clone();
        }
        let mut out = Vec::new();
        for (i, w) in self.argv.iter().enumerate() {
            let name = w.strip_prefix('$').filter(|n| i > 0 && valid_env_name(n));
            match name {
                Some(n) => out.extend(
                    env.get(n)
                        .map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                        .unwrap_or_default(),
                ),
                None => out.push(braces(w, env)),
            }
        }
        out
    }

    /// The command line as `systemctl status` shows it.
    pub fn display(&self) -> String {
        let mut words = vec![self.path.clone()];
        words.extend(self.argv.iter().skip(1).cloned());
        words.join(" ")
    }
}

fn braces(w: &str, env: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = w;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after
            .strip_prefix('{')
            .and_then(|a| a.split_once('}'))
            .filter(|(n, _)| valid_env_name(n))
        {
            out.push_str(env.get(name).map_or("", String::as_str));
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// An environment variable name systemd accepts.
pub fn valid_env_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// `Environment=` words as (name, value); invalid assignments are returned as errors to
/// log, the valid ones kept.
pub fn assignments(value: &str) -> (Vec<(String, String)>, Vec<String>) {
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    match words(value) {
        Ok(ws) => {
            for w in ws {
                match w.split_once('=') {
                    Some((k, v)) if valid_env_name(k) => ok.push((k.to_string(), v.to_string())),
                    _ => bad.push(format!("invalid environment assignment, ignoring: {w}")),
                }
            }
        }
        Err(e) => bad.push(format!("invalid environment assignment, ignoring: {e}")),
    }
    (ok, bad)
}

/// An environment file's `KEY=VALUE` lines (`#`/`;` comments, quoted values, `\` at the end
/// of a line continues it).
pub fn env_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        let line = std::mem::take(&mut pending) + line;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if !valid_env_name(k) {
            continue;
        }
        let v = match (v.chars().next(), v.chars().last()) {
            (Some('"'), Some('"')) | (Some('\''), Some('\'')) if v.len() >= 2 => {
                let inner = &v[1..v.len() - 1];
                if v.starts_with('"') {
                    unescape_double(inner)
                } else {
                    inner.to_string()
                }
            }
            _ => v.to_string(),
        };
        out.push((k.to_string(), v));
    }
    out
}

fn unescape_double(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some(n @ ('"' | '\\' | '$' | '`'))) => {
                out.push(n);
                chars.next();
            }
            (c, _) => out.push(c),
        }
    }
    out
}

/// A systemd time span (`5s`, `100ms`, `1min 30s`, a bare number of seconds); `None` for
/// `infinity` and for 0 where 0 means "no limit".
pub fn timespan(s: &str) -> Result<Option<Duration>, String> {
    let s = s.trim();
    if s == "infinity" {
        return Ok(None);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.trim_start().is_empty() {
        rest = rest.trim_start();
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("invalid time span {s:?}"))?;
        rest = rest[num_len..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "" | "s" | "sec" | "second" | "seconds" => 1.0,
            "us" | "usec" | "µs" => 1e-6,
            "ms" | "msec" => 1e-3,
            "m" | "min" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            "w" | "week" | "weeks" => 604800.0,
            other => return Err(format!("invalid time unit {other:?} in {s:?}")),
        };
        rest = &rest[unit_len..];
        total += n * scale;
    }
    Ok(Some(Duration::from_secs_f64(total)))
}

/// A duration as systemd prints it (`5s`, `100ms`, `1min 30s`), or `infinity`.
pub fn format_span(d: Option<Duration>) -> String {
    let Some(d) = d else {
        return "infinity".into();
    };
    let mut us = d.as_micros();
    if us == 0 {
        return "0".into();
    }
    let mut parts = Vec::new();
    for (unit, size) in [
        ("w", 604_800_000_000u128),
        ("d", 86_400_000_000),
        ("h", 3_600_000_000),
        ("min", 60_000_000),
        ("s", 1_000_000),
        ("ms", 1_000),
        ("us", 1),
    ] {
        if us >= size {
            parts.push(format!("{}{unit}", us / size));
            us %= size;
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_unquote_anywhere_and_unescape() {
        assert_eq!(
            words(r#"/bin/k3s server --token 'a b' --kubelet-arg="config=/x y" a\ b \x41"#)
                .unwrap(),
            [
                "/bin/k3s",
                "server",
                "--token",
                "a b",
                "--kubelet-arg=config=/x y",
                "a b",
                "A"
            ]
        );
        assert!(words("'open").is_err());
        assert!(words("x\\").is_err());
    }

    #[test]
    fn exec_lines_take_prefixes_and_semicolons() {
        let c = exec("-/sbin/modprobe br_netfilter").unwrap();
        assert_eq!(c.len(), 1);
        assert!(c[0].ignore_errors);
        assert_eq!(c[0].path, "/sbin/modprobe");
        assert_eq!(c[0].argv, ["/sbin/modprobe", "br_netfilter"]);
        let c = exec("@/bin/sh shname -c true ; echo done").unwrap();
        assert_eq!(c[0].argv, ["shname", "-c", "true"]);
        assert_eq!((c[1].path.as_str(), c[1].argv.len()), ("echo", 2));
        assert!(exec("bin/x").is_err());
    }

    #[test]
    fn variables_are_substituted_as_systemd_does() {
        let env: HashMap<String, String> = [("OPTS", "-a  -b"), ("ONE", "x y")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let c = &exec("/bin/prog $OPTS ${ONE} pre${ONE}post $$HOME $NONE $").unwrap()[0];
        assert_eq!(
            c.expand(&env),
            ["/bin/prog", "-a", "-b", "x y", "prex ypost", "$HOME", "$"]
        );
        let c = &exec(":/bin/prog $OPTS").unwrap()[0];
        assert_eq!(c.expand(&env), ["/bin/prog", "$OPTS"]);
    }

    #[test]
    fn environment_settings_and_files() {
        let (ok, bad) = assignments(r#"A=1 "B=two words" 9X=bad"#);
        assert_eq!(
            ok,
            [("A".into(), "1".into()), ("B".into(), "two words".into())]
        );
        assert_eq!(bad.len(), 1);
        let f = env_file("# c\nK3S_TOKEN='se cret'\nX = \"a\\\"b\"\nexport Y=1\nZ=long \\\nline\n");
        assert_eq!(
            f,
            [
                ("K3S_TOKEN".into(), "se cret".into()),
                ("X".into(), "a\"b".into()),
                ("Z".into(), "long line".into())
            ]
        );
    }

    #[test]
    fn time_spans_read_and_print_like_systemd() {
        assert_eq!(timespan("5s").unwrap(), Some(Duration::from_secs(5)));
        assert_eq!(timespan("5").unwrap(), Some(Duration::from_secs(5)));
        assert_eq!(timespan("1min 30s").unwrap(), Some(Duration::from_secs(90)));
        assert_eq!(timespan("100ms").unwrap(), Some(Duration::from_millis(100)));
        assert_eq!(timespan("infinity").unwrap(), None);
        assert!(timespan("5 parsecs").is_err());
        assert_eq!(format_span(Some(Duration::from_secs(90))), "1min 30s");
        assert_eq!(format_span(Some(Duration::from_millis(100))), "100ms");
        assert_eq!(format_span(None), "infinity");
    }
}
