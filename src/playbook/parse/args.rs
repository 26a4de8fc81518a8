//! Module arguments: which each module accepts and needs, checked at parse time so a
//! playbook with a typo touches no host.

use serde_json::{Map, Value as Json};

use super::{Parser, to_json};
use crate::playbook::ast::{ModuleKind, Task};
use crate::playbook::modules::{
    check_host, check_state, check_unit, check_url, digest_tool, parse_checksum,
};
use crate::yaml::{Node, Pos, Value};

/// A check of one argument's literal value.
type LiteralCheck = fn(&str) -> Result<(), String>;

impl Parser {
    pub(super) fn module_args(
        &mut self,
        kind: ModuleKind,
        pos: Option<Pos>,
        node: &Node,
    ) -> Map<String, Json> {
        let name = kind.name();
        match &node.value {
            Value::Str(s) if kind.free_form() => {
                // Ansible parses `creates=/x` inside a free-form command; we do not, so such
                // a token would silently become an argument of the command: refuse it.
                for tok in s.split_whitespace() {
                    if let Some((k, _)) = tok.split_once('=')
                        && kind.allowed_args().contains(&k)
                    {
                        self.issue(
                            pos,
                            k,
                            format!("`{k}=` inside a free-form {name}: move it under `args:`"),
                        );
                    }
                }
                if !quotes_balanced(s) {
                    self.issue(pos, name, format!("free-form `{name}` has unbalanced quotes, which ansible-playbook cannot split (an apostrophe in a comment counts): use `cmd: |`"));
                }
                let mut m = Map::new();
                m.insert("_raw_params".into(), Json::String(s.clone()));
                m
            }
            Value::Map(entries) => {
                let mut m = Map::new();
                for (k, kpos, v) in entries {
                    if !kind.allowed_args().contains(&k.as_str()) {
                        self.bad_arg(*kpos, kind, k);
                    }
                    if k == "mode" && matches!(v.value, Value::Int(_)) {
                        self.issue(*kpos, k, "`mode` must be a quoted octal string such as '0644' (YAML reads 0644 differently in YAML 1.1 and 1.2)".into());
                    }
                    m.insert(k.clone(), to_json(v));
                }
                m
            }
            other => {
                let form = if kind.free_form() {
                    "a command string or "
                } else {
                    ""
                };
                self.issue(pos, name, format!("`{name}` takes {form}a mapping of arguments, found {} (key=value strings are not supported)", other.kind()));
                Map::new()
            }
        }
    }

    /// Checks argument values that are plain text (no `{{ }}`) now, so the playbook fails
    /// before any host is touched; templated ones are checked by the module at run time.
    pub(super) fn check_literals(&mut self, t: &Task, pos: Option<Pos>) {
        let literal = |k: &str| match t.args.get(k) {
            Some(Json::String(v)) if !v.contains("{{") && !v.contains("{%") => Some(v.as_str()),
            _ => None,
        };
        let checks: &[(&str, LiteralCheck)] = match t.module {
            ModuleKind::WaitFor => &[("host", check_host)],
            ModuleKind::GetUrl => &[
                ("url", check_url),
                ("checksum", |c| parse_checksum(c).map(|_| ())),
            ],
            ModuleKind::SystemdService => &[
                ("name", check_unit),
                ("service", check_unit),
                ("unit", check_unit),
                ("state", check_state),
            ],
            ModuleKind::Stat => &[
                ("checksum_algorithm", |a| digest_tool(a).map(|_| ())),
                ("checksum", |a| digest_tool(a).map(|_| ())),
                ("checksum_algo", |a| digest_tool(a).map(|_| ())),
            ],
            _ => &[],
        };
        for (key, check) in checks {
            if let Some(v) = literal(key)
                && let Err(e) = check(v)
            {
                self.issue(pos, key, format!("task {:?}: {e}", t.display_name()));
            }
        }
    }

    pub(super) fn bad_arg(&mut self, pos: Option<Pos>, kind: ModuleKind, key: &str) {
        self.issue(
            pos,
            key,
            format!(
                "`{key}`: not an argument of {} in this subset; allowed: {}",
                kind.name(),
                kind.allowed_args().join(", ")
            ),
        );
    }

    pub(super) fn check_required(
        &mut self,
        kind: ModuleKind,
        pos: Option<Pos>,
        args: &Map<String, Json>,
    ) {
        let has = |k: &str| args.contains_key(k);
        let missing = match kind {
            ModuleKind::Command => !(has("_raw_params") || has("cmd") || has("argv")),
            ModuleKind::Shell => !(has("_raw_params") || has("cmd")),
            ModuleKind::Copy => !has("dest") || !(has("content") ^ has("src")),
            ModuleKind::Template => !has("src") || !has("dest"),
            ModuleKind::File => !(has("path") || has("dest") || has("name")),
            ModuleKind::Lineinfile => !(has("path") || has("dest") || has("name")) || !has("line"),
            ModuleKind::WaitFor => !(has("port") || has("path")),
            ModuleKind::GetUrl => !has("url") || !has("dest"),
            ModuleKind::Stat => !(has("path") || has("dest") || has("name")),
            ModuleKind::Slurp => !(has("src") || has("path")),
            ModuleKind::Fetch => !has("src") || !has("dest"),
            ModuleKind::SystemdService => {
                let name = has("name") || has("service") || has("unit");
                let acts = has("state") || has("enabled") || has("masked");
                !(acts || has("daemon_reload") || has("daemon-reload")) || (acts && !name)
            }
        };
        if missing {
            let need = match kind {
                ModuleKind::Command => "a command (free form, `cmd` or `argv`)",
                ModuleKind::Shell => "a command (free form or `cmd`)",
                ModuleKind::Copy => "`dest` and exactly one of `content` or `src`",
                ModuleKind::Template => "`src` and `dest`",
                ModuleKind::File => "`path`",
                ModuleKind::Lineinfile => "`path` and `line` (only state=present is supported)",
                ModuleKind::WaitFor => "`port` or `path`",
                ModuleKind::GetUrl => "`url` and `dest`",
                ModuleKind::Stat => "`path`",
                ModuleKind::Slurp => "`src`",
                ModuleKind::Fetch => "`src` and `dest`",
                ModuleKind::SystemdService => {
                    "`state`, `enabled`, `masked` or `daemon_reload`, and `name` with the first three"
                }
            };
            self.issue(pos, kind.name(), format!("`{}` needs {need}", kind.name()));
        }
    }
}

/// Whether quotes pair up the way Ansible's free-form argument splitter needs them to.
fn quotes_balanced(s: &str) -> bool {
    let mut open: Option<char> = None;
    let mut prev = ' ';
    for c in s.chars() {
        if (c == '\'' || c == '"') && prev != '\\' {
            open = match open {
                None => Some(c),
                Some(q) if q == c => None,
                other => other,
            };
        }
        prev = c;
    }
    open.is_none()
}
