//! `systemctl`'s command line as systemctl reads it: options anywhere among the verb and
//! the units, long options with `=` or a separate value, clustered short options
//! (`-qa`, `-pActiveState`), and a clear refusal of what the local hosts do not support.

/// The options that change what a verb does or prints.
#[derive(Debug, Default)]
pub(super) struct Opts {
    pub(super) quiet: bool,
    pub(super) all: bool,
    pub(super) no_block: bool,
    pub(super) now: bool,
    pub(super) value: bool,
    pub(super) no_legend: bool,
    pub(super) props: Vec<String>,
    pub(super) lines: Option<usize>,
}

const VALUED: &[&str] = &[
    "--property",
    "--type",
    "--state",
    "--lines",
    "--output",
    "--signal",
    "--kill-whom",
    "--job-mode",
    "--host",
    "--machine",
    "--root",
    "--what",
    "--timestamp",
    "--preset-mode",
];
const FLAGS: &[&str] = &[
    "--no-pager",
    "--no-legend",
    "--no-ask-password",
    "--no-block",
    "--now",
    "--quiet",
    "--full",
    "--all",
    "--value",
    "--plain",
    "--force",
    "--system",
    "--no-reload",
    "--no-wall",
    "--show-types",
    "--failed",
    "--check-inhibitors",
];
const UNSUPPORTED_OPTS: &[&str] = &[
    "--user",
    "--global",
    "--runtime",
    "--wait",
    "--host",
    "--machine",
    "--root",
];

pub(super) fn parse(argv: &[String]) -> Result<(String, Vec<String>, Opts), String> {
    let mut o = Opts::default();
    let mut pos = Vec::new();
    let mut it = argv.iter().peekable();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if a.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let value = |it: &mut std::iter::Peekable<std::slice::Iter<'_, String>>| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or(format!("systemctl: option '{name}' requires an argument"))
        };
        if UNSUPPORTED_OPTS.contains(&name.as_str()) {
            return Err(format!(
                "systemctl: {name} is not supported on the local cloud's hosts"
            ));
        }
        if name.starts_with("--") && name.len() > 2 {
            if VALUED.contains(&name.as_str()) {
                let v = value(&mut it)?;
                match name.as_str() {
                    "--property" => o.props.extend(v.split(',').map(String::from)),
                    "--lines" => {
                        o.lines = Some(
                            v.parse()
                                .map_err(|_| format!("Failed to parse lines '{v}'"))?,
                        )
                    }
                    _ => {}
                }
            } else if FLAGS.contains(&name.as_str()) {
                match name.as_str() {
                    "--quiet" => o.quiet = true,
                    "--all" => o.all = true,
                    "--no-block" => o.no_block = true,
                    "--now" => o.now = true,
                    "--value" => o.value = true,
                    "--no-legend" => o.no_legend = true,
                    _ => {}
                }
            } else {
                return Err(format!("systemctl: unrecognized option '{name}'"));
            }
        } else if a.starts_with('-') && a.len() > 1 {
            let mut chars = a[1..].chars();
            while let Some(c) = chars.next() {
                match c {
                    'q' => o.quiet = true,
                    'a' => o.all = true,
                    'l' | 'f' | 'r' | 'i' => {}
                    'p' | 'P' | 'n' | 't' | 's' | 'o' => {
                        let rest: String = chars.by_ref().collect();
                        let v = if rest.is_empty() {
                            it.next()
                                .cloned()
                                .ok_or(format!("systemctl: option requires an argument -- '{c}'"))?
                        } else {
                            rest
                        };
                        match c {
                            'p' => o.props.extend(v.split(',').map(String::from)),
                            'P' => {
                                o.props.extend(v.split(',').map(String::from));
                                o.value = true;
                            }
                            'n' => {
                                o.lines = Some(
                                    v.parse()
                                        .map_err(|_| format!("Failed to parse lines '{v}'"))?,
                                )
                            }
                            _ => {}
                        }
                    }
                    'H' | 'M' => {
                        return Err(format!(
                            "systemctl: -{c} is not supported on the local cloud's hosts"
                        ));
                    }
                    other => return Err(format!("systemctl: invalid option -- '{other}'")),
                }
            }
        } else {
            pos.push(a.clone());
        }
    }
    let verb = if pos.is_empty() {
        "list-units".to_string()
    } else {
        pos.remove(0)
    };
    Ok((verb, pos, o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_go_anywhere_as_systemctl_takes_them() {
        let (verb, pos, o) = parse(&args(
            "show k3s -p ActiveState,SubState --property=MainPID --value",
        ))
        .unwrap();
        assert_eq!((verb.as_str(), pos.len()), ("show", 1));
        assert_eq!(o.props, ["ActiveState", "SubState", "MainPID"]);
        assert!(o.value);
        let (verb, pos, o) = parse(&args("is-enabled k3s -l -q")).unwrap();
        assert_eq!(
            (verb.as_str(), pos, o.quiet),
            ("is-enabled", args("k3s"), true)
        );
        let (_, _, o) = parse(&args("show -PMainPID k3s")).unwrap();
        assert!(o.value && o.props == ["MainPID"]);
        assert_eq!(parse(&[]).unwrap().0, "list-units");
        assert!(
            parse(&args("--bogus start"))
                .unwrap_err()
                .contains("unrecognized option '--bogus'")
        );
        assert!(
            parse(&args("--user start x"))
                .unwrap_err()
                .contains("not supported")
        );
        assert!(parse(&args("show -p")).is_err());
    }
}
