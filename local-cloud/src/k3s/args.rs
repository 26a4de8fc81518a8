//! k3s's argument handling, as `pkg/configfilearg` and urfave/cli do it: the config file
//! (`/etc/rancher/k3s/config.yaml`, `--config`/`-c` or `K3S_CONFIG_FILE`) and its
//! `config.yaml.d/*.yaml` drop-ins become `--key=value` arguments placed before the command
//! line's (later files win, `key+:` appends); a `server` skips config keys it does not know
//! with k3s's warning, an `agent` (and any unknown command-line flag) fails with urfave/cli's
//! "flag provided but not defined"; `K3S_*` variables fill flags left unset.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::flags::{Command, Flag, Kind, SECRET_ENV, SECRET_FLAGS};

/// The default config file.
pub const DEFAULT_CONFIG: &str = "/etc/rancher/k3s/config.yaml";

/// Why the arguments were refused (the message is urfave/cli's or configfilearg's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ArgsError(pub String);

/// The effective flags of one start.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    values: BTreeMap<&'static str, Vec<String>>,
    /// The argv after the config-file merge (`server`, then file flags, then CLI flags),
    /// secrets masked: what k3s shows in the `k3s.io/node-args` annotation.
    pub node_args: Vec<String>,
    /// Every `K3S_*` variable, secrets masked (`k3s.io/node-env`).
    pub node_env: BTreeMap<String, String>,
    /// Warnings to log (config keys skipped).
    pub warnings: Vec<String>,
}

impl Parsed {
    /// The last value of a flag.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// A boolean flag.
    pub fn bool(&self, name: &str) -> bool {
        self.str(name).is_some_and(|v| v == "true")
    }

    /// Every value of a repeatable flag, comma lists split (as k3s splits them).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.values
            .get(name)
            .into_iter()
            .flatten()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// One `--flag value` from wherever it came.
#[derive(Debug, Clone)]
struct Arg {
    flag: &'static Flag,
    value: String,
    from_file: bool,
}

/// Parses the arguments after the command (`server` or `agent`) with `env` as the process
/// environment.
pub fn parse(
    cmd: Command,
    cli: &[String],
    env: &BTreeMap<String, String>,
) -> Result<Parsed, ArgsError> {
    let mut warnings = Vec::new();
    let file_args = config_args(cmd, cli, env, &mut warnings)?;
    let mut args: Vec<Arg> = Vec::new();
    let mut node_args = vec![cmd.name().to_owned()];
    let mut all: Vec<(String, bool)> = file_args.into_iter().map(|a| (a, true)).collect();
    all.extend(cli.iter().cloned().map(|a| (a, false)));
    let mut i = 0;
    while i < all.len() {
        let (raw, from_file) = (all[i].0.clone(), all[i].1);
        i += 1;
        let Some(body) = raw.strip_prefix("--").or_else(|| raw.strip_prefix('-')) else {
            return Err(ArgsError(format!(
                "unexpected argument {raw:?}: {} takes only flags",
                cmd.name()
            )));
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (body, None),
        };
        let flag = cmd
            .find(name)
            .ok_or_else(|| ArgsError(format!("flag provided but not defined: -{name}")))?;
        let value = match (flag.kind, inline) {
            (_, Some(v)) => v,
            (Kind::Bool, None) => "true".into(),
            (_, None) => {
                let v = all
                    .get(i)
                    .map(|a| a.0.clone())
                    .ok_or_else(|| ArgsError(format!("flag needs an argument: -{name}")))?;
                i += 1;
                v
            }
        };
        if flag.kind == Kind::Bool && value != "true" && value != "false" {
            return Err(ArgsError(format!(
                "invalid boolean value {value:?} for -{name}: parse error"
            )));
        }
        let shown = if SECRET_FLAGS.contains(&flag.name) {
            "********".to_owned()
        } else {
            value.clone()
        };
        node_args.push(format!("--{}", flag.name));
        node_args.push(shown);
        args.push(Arg {
            flag,
            value,
            from_file,
        });
    }
    let mut values: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for f in cmd.flags() {
        let given: Vec<&Arg> = args.iter().filter(|a| a.flag.name == f.name).collect();
        // A repeatable flag given on the command line replaces the config file's list.
        let from_cli = given.iter().any(|a| !a.from_file);
        let kept: Vec<String> = given
            .iter()
            .filter(|a| f.kind != Kind::List || !from_cli || !a.from_file)
            .map(|a| a.value.clone())
            .collect();
        if !kept.is_empty() {
            values.insert(f.name, kept);
        } else if let Some(v) = f.env.and_then(|e| env.get(e)).filter(|v| !v.is_empty()) {
            values.insert(f.name, vec![v.clone()]);
        }
    }
    let node_env = env
        .iter()
        .filter(|(k, _)| k.starts_with("K3S_"))
        .map(|(k, v)| {
            let v = if SECRET_ENV.contains(&k.as_str()) {
                "********".to_owned()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    Ok(Parsed {
        values,
        node_args,
        node_env,
        warnings,
    })
}

/// The config file named by `--config`/`-c`, `K3S_CONFIG_FILE`, or the default (optional
/// unless named).
fn config_file(cli: &[String], env: &BTreeMap<String, String>) -> (PathBuf, bool) {
    if let Some(v) = env.get("K3S_CONFIG_FILE").filter(|v| !v.is_empty()) {
        return (PathBuf::from(v), true);
    }
    for (i, a) in cli.iter().enumerate() {
        for name in ["--config", "-c"] {
            if a == name {
                if let Some(v) = cli.get(i + 1) {
                    return (PathBuf::from(v), true);
                }
            } else if let Some(v) = a.strip_prefix(&format!("{name}=")) {
                return (PathBuf::from(v), true);
            }
        }
    }
    (PathBuf::from(DEFAULT_CONFIG), false)
}

/// The config file and its drop-ins as `--key=value` arguments.
fn config_args(
    cmd: Command,
    cli: &[String],
    env: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>, ArgsError> {
    let (file, named) = config_file(cli, env);
    let mut files = Vec::new();
    let dropins = dropins(&file);
    match std::fs::metadata(&file) {
        Ok(_) => files.push(file.clone()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && (!named || !dropins.is_empty()) => {}
        Err(e) => {
            return Err(ArgsError(format!(
                "open {}: {}",
                file.display(),
                e.to_string().to_lowercase()
            )));
        }
    }
    files.extend(dropins);
    let mut order: Vec<String> = Vec::new();
    let mut merged: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| ArgsError(format!("open {}: {e}", f.display())))?;
        let doc: Value = if text.trim().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_saphyr::from_str(&text).map_err(|e| {
                ArgsError(format!(
                    "yaml: {}",
                    e.to_string().lines().next().unwrap_or("invalid YAML")
                ))
            })?
        };
        let Value::Object(map) = doc else {
            return Err(ArgsError(format!(
                "yaml: unmarshal errors: {} is not a mapping",
                f.display()
            )));
        };
        for (k, v) in map {
            let append = k.ends_with('+');
            let key = k.trim_end_matches('+').to_owned();
            if !order.contains(&key) {
                order.push(key.clone());
            }
            let items = to_strings(&v);
            match merged.get_mut(&key) {
                Some(old) if append => old.extend(items),
                _ => {
                    merged.insert(key, items);
                }
            }
        }
    }
    let mut out = Vec::new();
    for key in order {
        let prefix = if key.len() == 1 { "-" } else { "--" };
        // A server skips keys it does not know, with k3s's warning; an agent passes them on
        // to the flag parser, which refuses them.
        if cmd == Command::Server && cmd.find(&key).is_none() {
            warnings.push(format!(
                "Unknown flag {prefix}{key} found in config.yaml, skipping"
            ));
            continue;
        }
        for v in merged.remove(&key).unwrap_or_default() {
            out.push(format!("{prefix}{key}={v}"));
        }
    }
    Ok(out)
}

/// `config.yaml.d/*.yaml|yml` beside `file`, in name order.
fn dropins(file: &Path) -> Vec<PathBuf> {
    let dir = PathBuf::from(format!("{}.d", file.display()));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension().and_then(|x| x.to_str()).is_some_and(|x| {
                    x.eq_ignore_ascii_case("yaml") || x.eq_ignore_ascii_case("yml")
                })
        })
        .collect();
    out.sort();
    out
}

/// A YAML value as the strings k3s passes on (`convert.ToString`; lists item by item).
fn to_strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().flat_map(to_strings).collect(),
        Value::String(s) => vec![s.clone()],
        Value::Null => vec![String::new()],
        other => vec![other.to_string()],
    }
}
