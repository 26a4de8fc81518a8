//! `journalctl` on a host: reads the host's journal files (`journal`) directly, with the
//! options playbooks and people use: `-u UNIT` (repeatable), `-n N`/`--lines`, `-b`,
//! `-o short|short-iso|short-unix|cat`, `-f`, `-q`, `--no-pager`, `-e`, `-x`.

use std::io::Write as _;

use super::journal::{self, Record};
use super::unitfile::canonical;

#[derive(Debug, Default)]
struct Opts {
    units: Vec<String>,
    lines: Option<usize>,
    boot: bool,
    output: String,
    follow: bool,
    quiet: bool,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        output: "short".into(),
        ..Opts::default()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let mut value = || {
                inline.clone().or_else(|| it.next().cloned()).ok_or(format!(
                    "journalctl: option '--{name}' requires an argument"
                ))
            };
            match name {
                "unit" => o.units.push(canonical(&value()?)),
                "lines" => o.lines = Some(lines(&value()?)?),
                "output" => o.output = value()?,
                "boot" => o.boot = true,
                "pager-end" => o.lines = o.lines.or(Some(1000)),
                "follow" => o.follow = true,
                "quiet" => o.quiet = true,
                "catalog" | "no-pager" | "no-hostname" | "full" | "system" => {}
                other => {
                    return Err(format!(
                        "journalctl: unrecognized option '--{other}' (not supported on the local cloud's hosts)"
                    ));
                }
            }
            continue;
        }
        let Some(cluster) = a.strip_prefix('-').filter(|c| !c.is_empty()) else {
            return Err(format!(
                "journalctl: matches like '{a}' are not supported on the local cloud's hosts; use -u UNIT"
            ));
        };
        let mut chars = cluster.chars();
        while let Some(c) = chars.next() {
            match c {
                'x' | 'l' => {}
                'e' => o.lines = o.lines.or(Some(1000)),
                'q' => o.quiet = true,
                'b' => o.boot = true,
                'f' => o.follow = true,
                'u' | 'n' | 'o' => {
                    let rest: String = chars.by_ref().collect();
                    let v = if rest.is_empty() {
                        it.next()
                            .cloned()
                            .ok_or(format!("journalctl: option requires an argument -- '{c}'"))?
                    } else {
                        rest
                    };
                    match c {
                        'u' => o.units.push(canonical(&v)),
                        'n' => o.lines = Some(lines(&v)?),
                        _ => o.output = v,
                    }
                }
                other => {
                    return Err(format!(
                        "journalctl: invalid option -- '{other}' (or not supported on the local cloud's hosts)"
                    ));
                }
            }
        }
    }
    if !["short", "short-iso", "short-unix", "cat"].contains(&o.output.as_str()) {
        return Err(format!(
            "journalctl: output mode '{}' is not supported on the local cloud's hosts",
            o.output
        ));
    }
    Ok(o)
}

fn lines(v: &str) -> Result<usize, String> {
    v.trim_start_matches('+')
        .parse()
        .map_err(|_| format!("Failed to parse lines '{v}'"))
}

fn format(r: &Record, o: &Opts, host: &str) -> String {
    match o.output.as_str() {
        "cat" => r.m.clone(),
        // Seconds since the epoch with microseconds, as journalctl prints them.
        "short-unix" => format!(
            "{}.{:06} {host} {}[{}]: {}",
            r.t.div_euclid(1_000_000),
            r.t.rem_euclid(1_000_000),
            r.i,
            r.p,
            r.m
        ),
        "short-iso" => {
            let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(r.t) * 1000)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00 {host} {}[{}]: {}",
                t.year(),
                t.month() as u8,
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                r.i,
                r.p,
                r.m
            )
        }
        _ => journal::short(r, host),
    }
}

fn records(o: &Opts, boot: &str) -> std::io::Result<Vec<Record>> {
    let units = if o.units.is_empty() {
        journal::units()
    } else {
        o.units.clone()
    };
    let mut all = Vec::new();
    for u in &units {
        all.extend(journal::read(u)?);
    }
    all.sort_by_key(|r| r.t);
    if o.boot {
        all.retain(|r| r.b == boot);
    }
    Ok(all)
}

/// Runs `journalctl` with `args`.
pub fn main(args: &[String]) -> i32 {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let o = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return 1;
        }
    };
    let host = super::manager::hostname();
    let boot = std::fs::read_to_string(super::BOOT_ID)
        .unwrap_or_default()
        .trim()
        .to_string();
    let all = match records(&o, &boot) {
        Ok(a) => a,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let _ = writeln!(
                err,
                "No journal files were opened due to insufficient permissions."
            );
            return 1;
        }
        Err(e) => {
            let _ = writeln!(err, "journalctl: {e}");
            return 1;
        }
    };
    let start = o.lines.map_or(0, |n| all.len().saturating_sub(n));
    if all.is_empty() && !o.quiet && !o.follow {
        let _ = writeln!(out, "-- No entries --");
    }
    for r in &all[start..] {
        let _ = writeln!(out, "{}", format(r, &o, &host));
    }
    let _ = out.flush();
    if !o.follow {
        return 0;
    }
    let mut last = all.last().map_or(0, |r| r.t);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(250));
        let Ok(now) = records(&o, &boot) else {
            return 1;
        };
        let since = last;
        for r in now.iter().filter(|r| r.t > since) {
            if writeln!(out, "{}", format(r, &o, &host)).is_err() {
                return 0;
            }
            last = r.t;
        }
        if out.flush().is_err() {
            return 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_read_like_journalctls() {
        let o = parse(&args("-u k3s --lines=5 --no-pager -b -o cat")).unwrap();
        assert_eq!(o.units, ["k3s.service"]);
        assert_eq!((o.lines, o.boot, o.output.as_str()), (Some(5), true, "cat"));
        let o = parse(&args("-xeu k3s.service")).unwrap();
        assert_eq!(
            (o.units.as_slice(), o.lines),
            (&["k3s.service".to_string()][..], Some(1000))
        );
        let o = parse(&args("-xe -u k3s -n20")).unwrap();
        assert_eq!((o.lines, o.units.len()), (Some(20), 1));
        assert!(parse(&args("--since today")).is_err());
        assert!(parse(&args("-o json")).is_err());
    }
}
