//! Playbook YAML to [`Playbook`]: every keyword outside the subset is an error with its line.
//!
//! The file is parsed by the config module's positioned YAML parser, then walked here. All
//! problems are collected (not just the first), each naming the line and the keyword, so a
//! playbook written for full Ansible shows at once everything this engine would not run.

use serde_json::{Map, Value as Json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ast::{Cond, ModuleKind, Play, Playbook, Serial, Task};
use super::{Issue, PlaybookError};
use crate::ssh::host::is_env_name;
use crate::yaml::{self, Node, Pos, Value, to_json};

mod args;
mod import;
#[cfg(test)]
mod tests;

/// Ansible keywords we know but do not run, with why, for a better message than "unknown".
const NOT_SUPPORTED: &[(&str, &str)] = &[
    ("loop", "loops are not supported; write one task per item"),
    (
        "with_items",
        "loops are not supported; write one task per item",
    ),
    (
        "handlers",
        "handlers are not supported; use `when` on a registered result",
    ),
    (
        "notify",
        "handlers are not supported; use `when` on a registered result",
    ),
    ("roles", "roles are not supported"),
    ("block", "blocks are not supported"),
    (
        "include_tasks",
        "dynamic includes are not supported; use `import_tasks` (a static import)",
    ),
    (
        "import_playbook",
        "playbook imports are not supported; run each playbook",
    ),
    ("become_user", "only `become` to root is supported"),
    ("delegate_to", "delegation is not supported"),
    ("tags", "tags are not supported"),
    ("pre_tasks", "only `tasks` is supported"),
    ("post_tasks", "only `tasks` is supported"),
];

const PLAY_KEYS: &[&str] = &[
    "name",
    "hosts",
    "become",
    "gather_facts",
    "vars",
    "serial",
    "tasks",
    "environment",
];
const TASK_KEYS: &[&str] = &[
    "name",
    "when",
    "register",
    "changed_when",
    "failed_when",
    "no_log",
    "ignore_errors",
    "environment",
    "vars",
    "become",
    "timeout",
    "check_mode",
    "args",
    "until",
    "retries",
    "delay",
];

/// Parses playbook text. `file` names it in messages; `dir` is where `templates/` and
/// `files/` are looked up.
pub fn parse_playbook(text: &str, file: &Path, dir: &Path) -> Result<Playbook, PlaybookError> {
    let invalid = |issues| PlaybookError::Invalid {
        file: file.to_owned(),
        issues,
    };
    let root = yaml::parse(text).map_err(|e| {
        invalid(vec![Issue {
            file: None,
            line: e.pos.map_or(0, |p| p.line),
            keyword: String::new(),
            message: e.message,
        }])
    })?;
    let mut p = Parser::new(file, dir);
    let plays = match &root.value {
        Value::Seq(items) => items.iter().filter_map(|n| p.play(n)).collect(),
        other => {
            p.issue(
                root.pos,
                "",
                format!("a playbook is a list of plays, found {}", other.kind()),
            );
            Vec::new()
        }
    };
    if p.issues.is_empty() {
        Ok(Playbook {
            file: file.to_owned(),
            dir: dir.to_owned(),
            plays,
        })
    } else {
        // The playbook's own issues first, then each imported file's, each by line.
        p.issues
            .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        Err(invalid(p.issues))
    }
}

struct Parser {
    issues: Vec<Issue>,
    /// The playbook's directory: Ansible's basedir, where imports are resolved.
    basedir: PathBuf,
    /// The playbook file itself, resolved (for import cycles).
    top: Option<PathBuf>,
    /// The tasks file being read (`import_tasks`); `None`: the playbook.
    file: Option<Arc<Path>>,
    /// The imports being read, outermost first: each file resolved, and as written.
    chain: Vec<(PathBuf, String)>,
    /// The keywords of the import being read, which each of its tasks inherits.
    parent: Option<Task>,
}

fn line(pos: Option<Pos>) -> u64 {
    pos.map_or(0, |p| p.line)
}

impl Parser {
    fn new(file: &Path, dir: &Path) -> Parser {
        let top = file
            .file_name()
            .and_then(|n| std::fs::canonicalize(dir.join(n)).ok());
        Parser {
            issues: Vec::new(),
            basedir: dir.to_owned(),
            top,
            file: None,
            chain: Vec::new(),
            parent: None,
        }
    }

    fn issue(&mut self, pos: Option<Pos>, keyword: &str, message: String) {
        self.issues.push(Issue {
            file: self.file.as_deref().map(Path::to_owned),
            line: line(pos),
            keyword: keyword.to_owned(),
            message,
        });
    }

    /// Reports a key that is not in `allowed`, with a reason when it is a known Ansible one.
    fn unknown(&mut self, pos: Option<Pos>, key: &str, what: &str, allowed: &[&str]) {
        let why = not_supported(key)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("unknown {what} keyword; allowed: {}", allowed.join(", ")));
        self.issue(pos, key, format!("`{key}`: {why}"));
    }

    fn play(&mut self, node: &Node) -> Option<Play> {
        let Value::Map(entries) = &node.value else {
            self.issue(
                node.pos,
                "",
                format!("a play is a mapping, found {}", node.value.kind()),
            );
            return None;
        };
        let mut play = Play {
            name: None,
            hosts: String::new(),
            become_root: false,
            vars: Map::new(),
            environment: Vec::new(),
            serial: None,
            tasks: Vec::new(),
            line: line(node.pos),
        };
        let mut has_hosts = false;
        for (key, kpos, v) in entries {
            match key.as_str() {
                "name" => play.name = self.string(v, key),
                "hosts" => {
                    has_hosts = true;
                    play.hosts = match &v.value {
                        Value::Seq(items) => items
                            .iter()
                            .filter_map(|i| self.string(i, key))
                            .collect::<Vec<_>>()
                            .join(":"),
                        _ => self.string(v, key).unwrap_or_default(),
                    }
                }
                "become" => play.become_root = self.boolean(v, key).unwrap_or(false),
                "gather_facts" => {
                    if self.boolean(v, key) == Some(true) {
                        self.issue(
                            *kpos,
                            key,
                            "`gather_facts: true`: facts are not gathered by this engine; set `gather_facts: false`".into(),
                        );
                    }
                }
                "vars" => play.vars = self.mapping(v, key).unwrap_or_default(),
                "environment" => play.environment = self.env(v, key),
                "serial" => play.serial = self.serial(v),
                "tasks" => match &v.value {
                    Value::Seq(items) => {
                        play.tasks = items.iter().flat_map(|t| self.task(t)).collect()
                    }
                    Value::Null => {}
                    other => self.issue(
                        v.pos,
                        key,
                        format!("`tasks` must be a list, found {}", other.kind()),
                    ),
                },
                other => self.unknown(*kpos, other, "play", PLAY_KEYS),
            }
        }
        if !has_hosts {
            self.issue(node.pos, "hosts", "a play needs `hosts`".into());
        }
        Some(play)
    }

    /// One entry of a task list: a task, or the tasks an `import_tasks` brings in.
    fn task(&mut self, node: &Node) -> Vec<Task> {
        let Value::Map(entries) = &node.value else {
            self.issue(
                node.pos,
                "",
                format!("a task is a mapping, found {}", node.value.kind()),
            );
            return Vec::new();
        };
        let mut t = self.inherited(line(node.pos));
        let mut module: Option<(ModuleKind, Option<Pos>, &Node)> = None;
        let mut import: Option<(Option<Pos>, &Node)> = None;
        let mut extra_args: Option<(Option<Pos>, Map<String, Json>)> = None;
        let before = self.issues.len();
        for (key, kpos, v) in entries {
            match key.as_str() {
                "name" => t.name = self.string(v, key),
                // An import's conditions come first, as Ansible prepends a parent's `when`.
                "when" => t.when.extend(self.conds(v, key)),
                "register" => t.register = self.string(v, key),
                "changed_when" => t.changed_when = Some(self.conds(v, key)),
                "failed_when" => t.failed_when = Some(self.conds(v, key)),
                "no_log" => t.no_log = self.boolean(v, key).unwrap_or(false),
                "ignore_errors" => t.ignore_errors = self.boolean(v, key).unwrap_or(false),
                "environment" => t.environment.extend(self.env(v, key)),
                "vars" => t.vars.extend(self.mapping(v, key).unwrap_or_default()),
                "become" => t.become_root = self.boolean(v, key),
                "check_mode" => t.check_mode = self.boolean(v, key),
                "timeout" => t.timeout = self.timeout(v),
                "until" => t.until = self.conds(v, key),
                "retries" => match &v.value {
                    Value::Int(n) if *n >= 0 => t.retries = Some(*n as u64),
                    _ => self.issue(v.pos, key, "`retries` must be a whole number of attempts after the first (0 or more)".into()),
                },
                "delay" => match &v.value {
                    Value::Int(n) if *n >= 0 => t.delay = Some(*n as f64),
                    Value::Float(f) if *f >= 0.0 && f.is_finite() => t.delay = Some(*f),
                    _ => self.issue(v.pos, key, "`delay` must be a number of seconds (0 or more)".into()),
                },
                "args" => extra_args = self.mapping(v, key).map(|m| (*kpos, m)),
                "import_tasks" | "ansible.builtin.import_tasks" => import = Some((*kpos, v)),
                other => match ModuleKind::from_name(other) {
                    Some(kind) => {
                        if module.is_some() {
                            self.issue(*kpos, other, format!("`{other}`: a task runs exactly one module"));
                        }
                        module = Some((kind, *kpos, v));
                    }
                    None if not_supported(other).is_some() => {
                        self.unknown(*kpos, other, "task", TASK_KEYS)
                    }
                    None => self.issue(
                        *kpos,
                        other,
                        format!(
                            "`{other}`: unknown module or task keyword; modules: {} (also as ansible.builtin.*); task keywords: {}",
                            ModuleKind::names(),
                            TASK_KEYS.join(", ")
                        ),
                    ),
                },
            }
        }
        if let Some((ipos, target)) = import {
            if let Some((kind, mpos, _)) = module {
                self.issue(
                    mpos,
                    kind.name(),
                    "a task either imports tasks or runs a module, not both".into(),
                );
            }
            for (key, kpos, _) in entries {
                if !import::IMPORT_KEYS.contains(&key.as_str()) && TASK_KEYS.contains(&key.as_str())
                {
                    self.issue(
                        *kpos,
                        key,
                        format!("`{key}` is not supported on `import_tasks` (each imported task inherits only {}); write it on the imported tasks", import::IMPORT_KEYS.join(", ")),
                    );
                }
            }
            return self.import(ipos, target, t);
        }
        let Some((kind, mpos, margs)) = module else {
            // An unknown module was already reported; "needs a module" would only repeat it.
            if self.issues.len() == before {
                self.issue(
                    node.pos,
                    "",
                    format!(
                        "a task needs a module ({}) or `import_tasks`",
                        ModuleKind::names()
                    ),
                );
            }
            return Vec::new();
        };
        t.module = kind;
        t.args = self.module_args(kind, mpos, margs);
        if let Some((apos, extra)) = extra_args {
            for (k, v) in extra {
                if !kind.allowed_args().contains(&k.as_str()) {
                    self.bad_arg(apos, kind, &k);
                }
                t.args.insert(k, v);
            }
        }
        self.check_required(kind, mpos, &t.args);
        self.check_literals(&t, mpos);
        vec![t]
    }

    /// `timeout`: a positive number of seconds, or a template rendered per host.
    fn timeout(&mut self, v: &Node) -> Option<Json> {
        match &v.value {
            Value::Int(n) if *n > 0 => Some(Json::from(*n)),
            Value::Str(s) if s.contains("{{") => Some(Json::String(s.clone())),
            // Ansible converts the keyword to an integer, so "300" is 300.
            Value::Str(s) if s.trim().parse::<u64>().is_ok_and(|n| n > 0) => {
                s.trim().parse::<u64>().ok().map(Json::from)
            }
            _ => {
                self.issue(
                    v.pos,
                    "timeout",
                    "`timeout` must be a positive number of seconds, or a template such as \"{{ start_timeout }}\"".into(),
                );
                None
            }
        }
    }

    fn string(&mut self, v: &Node, key: &str) -> Option<String> {
        match &v.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            other => {
                self.issue(
                    v.pos,
                    key,
                    format!("`{key}` must be a string, found {}", other.kind()),
                );
                None
            }
        }
    }

    fn boolean(&mut self, v: &Node, key: &str) -> Option<bool> {
        match &v.value {
            Value::Bool(b) => Some(*b),
            // YAML 1.1 booleans, which Ansible (PyYAML) accepts.
            Value::Str(s) if matches!(s.as_str(), "yes" | "Yes" | "on") => Some(true),
            Value::Str(s) if matches!(s.as_str(), "no" | "No" | "off") => Some(false),
            other => {
                self.issue(
                    v.pos,
                    key,
                    format!("`{key}` must be true or false, found {}", other.kind()),
                );
                None
            }
        }
    }

    fn mapping(&mut self, v: &Node, key: &str) -> Option<Map<String, Json>> {
        match to_json(v) {
            Json::Object(m) => Some(m),
            Json::Null => Some(Map::new()),
            _ => {
                self.issue(
                    v.pos,
                    key,
                    format!("`{key}` must be a mapping, found {}", v.value.kind()),
                );
                None
            }
        }
    }

    fn env(&mut self, v: &Node, key: &str) -> Vec<(String, Json)> {
        if let Value::Map(entries) = &v.value {
            for (name, npos, _) in entries {
                if !is_env_name(name) {
                    self.issue(
                        npos.or(v.pos),
                        key,
                        format!("`{name}` is not a valid environment variable name (allowed: letters, digits and _, not starting with a digit)"),
                    );
                }
            }
        }
        self.mapping(v, key)
            .unwrap_or_default()
            .into_iter()
            .collect()
    }

    fn conds(&mut self, v: &Node, key: &str) -> Vec<Cond> {
        let one = |p: &mut Parser, n: &Node| match &n.value {
            Value::Bool(b) => Some(Cond::Literal(*b)),
            Value::Str(s) => Some(Cond::Expr(s.clone())),
            other => {
                p.issue(
                    n.pos,
                    key,
                    format!("`{key}` must be an expression, found {}", other.kind()),
                );
                None
            }
        };
        match &v.value {
            Value::Seq(items) => items.iter().filter_map(|n| one(self, n)).collect(),
            _ => one(self, v).into_iter().collect(),
        }
    }

    fn serial(&mut self, v: &Node) -> Option<Serial> {
        match &v.value {
            Value::Int(n) if *n > 0 => Some(Serial::Count(*n as usize)),
            Value::Str(s) if s.ends_with('%') => {
                match s.trim_end_matches('%').trim().parse::<f64>() {
                    Ok(p) if p > 0.0 && p <= 100.0 => Some(Serial::Percent(p)),
                    _ => {
                        self.issue(
                            v.pos,
                            "serial",
                            format!("`serial: {s}` is not a percentage in (0, 100]"),
                        );
                        None
                    }
                }
            }
            _ => {
                self.issue(v.pos, "serial", "`serial` must be a positive number or a percentage such as '30%' (lists are not supported)".into());
                None
            }
        }
    }
}

/// Why a known Ansible keyword (short or `ansible.builtin.` name) is not run, if it is one.
fn not_supported(key: &str) -> Option<&'static str> {
    let short = key.strip_prefix("ansible.builtin.").unwrap_or(key);
    NOT_SUPPORTED
        .iter()
        .find(|(k, _)| *k == short)
        .map(|(_, why)| *why)
}
