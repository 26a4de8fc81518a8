//! The parsed playbook: plays, tasks and module arguments, each with its line in the file.
//!
//! Argument values stay as JSON with their `{{ }}` templates unrendered: they are rendered
//! per host at run time, when that host's variables (and earlier `register` results) exist.

use serde_json::{Map, Value as Json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A playbook file: a list of plays.
#[derive(Debug, Clone)]
pub struct Playbook {
    /// The file, for messages (`<embedded>/prepare.yml` for playbooks in the binary).
    pub file: PathBuf,
    /// Where `templates/` and `files/` are looked up (the playbook's directory).
    pub dir: PathBuf,
    pub plays: Vec<Play>,
}

/// One play: which hosts, how, and the tasks.
#[derive(Debug, Clone)]
pub struct Play {
    pub name: Option<String>,
    /// An Ansible host pattern (`all`, a group, `a:b`, `a:&b`, `a:!b`).
    pub hosts: String,
    pub become_root: bool,
    /// Play variables, in file order (templates inside are rendered per host).
    pub vars: Map<String, Json>,
    pub environment: Vec<(String, Json)>,
    pub serial: Option<Serial>,
    pub tasks: Vec<Task>,
    pub line: u64,
}

/// `serial`: how many hosts run the play at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Serial {
    Count(usize),
    Percent(f64),
}

/// A `when`, `changed_when` or `failed_when` condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Literal(bool),
    /// A bare Jinja2 expression, as Ansible writes them (`result.rc == 0`).
    Expr(String),
}

/// The modules of the subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
    Command,
    Shell,
    Copy,
    Template,
    File,
    Lineinfile,
    WaitFor,
    GetUrl,
    Stat,
    Slurp,
    Fetch,
    SystemdService,
}

impl ModuleKind {
    /// Every module of the subset, in the order messages list them.
    pub const ALL: &'static [ModuleKind] = &[
        ModuleKind::Command,
        ModuleKind::Shell,
        ModuleKind::Copy,
        ModuleKind::Template,
        ModuleKind::File,
        ModuleKind::Lineinfile,
        ModuleKind::WaitFor,
        ModuleKind::GetUrl,
        ModuleKind::Stat,
        ModuleKind::Slurp,
        ModuleKind::Fetch,
        ModuleKind::SystemdService,
    ];

    /// The names of every module, for messages (`command, shell, ...`).
    pub fn names() -> String {
        ModuleKind::ALL
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Looks a module up by its short or fully qualified name.
    pub fn from_name(name: &str) -> Option<ModuleKind> {
        let short = name.strip_prefix("ansible.builtin.").unwrap_or(name);
        Some(match short {
            "command" => ModuleKind::Command,
            "shell" => ModuleKind::Shell,
            "copy" => ModuleKind::Copy,
            "template" => ModuleKind::Template,
            "file" => ModuleKind::File,
            "lineinfile" => ModuleKind::Lineinfile,
            "wait_for" => ModuleKind::WaitFor,
            "get_url" => ModuleKind::GetUrl,
            "stat" => ModuleKind::Stat,
            "slurp" => ModuleKind::Slurp,
            "fetch" => ModuleKind::Fetch,
            // `systemd` is the older name of the same module in ansible-core.
            "systemd_service" | "systemd" => ModuleKind::SystemdService,
            _ => return None,
        })
    }

    /// The short name.
    pub fn name(self) -> &'static str {
        match self {
            ModuleKind::Command => "command",
            ModuleKind::Shell => "shell",
            ModuleKind::Copy => "copy",
            ModuleKind::Template => "template",
            ModuleKind::File => "file",
            ModuleKind::Lineinfile => "lineinfile",
            ModuleKind::WaitFor => "wait_for",
            ModuleKind::GetUrl => "get_url",
            ModuleKind::Stat => "stat",
            ModuleKind::Slurp => "slurp",
            ModuleKind::Fetch => "fetch",
            ModuleKind::SystemdService => "systemd_service",
        }
    }

    /// The argument names the module accepts.
    pub fn allowed_args(self) -> &'static [&'static str] {
        match self {
            ModuleKind::Command => &["cmd", "argv", "chdir", "creates", "removes"],
            ModuleKind::Shell => &["cmd", "chdir", "creates", "removes", "executable"],
            ModuleKind::Copy => &["content", "src", "dest", "mode", "owner", "group"],
            ModuleKind::Template => &["src", "dest", "mode", "owner", "group"],
            ModuleKind::File => &["path", "dest", "name", "state", "mode", "owner", "group"],
            ModuleKind::Lineinfile => &[
                "path", "dest", "name", "line", "regexp", "create", "state", "mode",
            ],
            ModuleKind::WaitFor => &["port", "host", "timeout", "path", "state", "delay"],
            ModuleKind::GetUrl => &[
                "url", "dest", "checksum", "force", "timeout", "headers", "mode", "owner", "group",
            ],
            ModuleKind::Stat => &[
                "path",
                "dest",
                "name",
                "follow",
                "get_checksum",
                "checksum_algorithm",
                "checksum",
                "checksum_algo",
                "get_mime",
                "get_attributes",
            ],
            ModuleKind::Slurp => &["src", "path"],
            ModuleKind::Fetch => &[
                "src",
                "dest",
                "flat",
                "fail_on_missing",
                "validate_checksum",
            ],
            ModuleKind::SystemdService => &[
                "name",
                "service",
                "unit",
                "state",
                "enabled",
                "masked",
                "daemon_reload",
                "daemon-reload",
                "no_block",
            ],
        }
    }

    /// Whether the module takes a free-form string (`command: echo hi`).
    pub fn free_form(self) -> bool {
        matches!(self, ModuleKind::Command | ModuleKind::Shell)
    }
}

/// One task.
#[derive(Debug, Clone)]
pub struct Task {
    pub name: Option<String>,
    /// The tasks file it was imported from (`import_tasks`); `None`: the playbook itself.
    pub file: Option<Arc<Path>>,
    pub module: ModuleKind,
    /// Module arguments; a free-form string is `{"_raw_params": ...}` as in Ansible.
    pub args: Map<String, Json>,
    /// All must hold (a list in YAML is an AND, as in Ansible).
    pub when: Vec<Cond>,
    pub register: Option<String>,
    pub changed_when: Option<Vec<Cond>>,
    pub failed_when: Option<Vec<Cond>>,
    pub no_log: bool,
    pub ignore_errors: bool,
    pub environment: Vec<(String, Json)>,
    /// Task variables (an import's `vars` included), rendered per host before the task:
    /// above play variables, below registered results and `-e`, as in Ansible.
    pub vars: Map<String, Json>,
    /// `None` inherits the play's `become`.
    pub become_root: Option<bool>,
    /// `check_mode: false` runs the task for real even under `--check` (a read-only
    /// command whose result later tasks need); `true` always checks.
    pub check_mode: Option<bool>,
    /// Seconds before the task is killed (Ansible's task `timeout` keyword): a positive
    /// number, or a template rendered per host (`"{{ k3s_start_timeout }}"`); each attempt
    /// of an `until` loop has its own.
    pub timeout: Option<Json>,
    /// `until`: run the task again until all of these hold (they see the `register`ed
    /// result of the latest attempt). Empty with `retries`: until it does not fail.
    pub until: Vec<Cond>,
    /// `retries`: attempts after the first (Ansible's default is 3 when `until` is set).
    pub retries: Option<u64>,
    /// `delay`: seconds between attempts (default 5).
    pub delay: Option<f64>,
    pub line: u64,
}

impl Task {
    /// A task at `line` of `file` with no module arguments or keywords yet.
    pub(crate) fn empty(file: Option<Arc<Path>>, line: u64) -> Task {
        Task {
            name: None,
            file,
            module: ModuleKind::Command,
            args: Map::new(),
            when: Vec::new(),
            register: None,
            changed_when: None,
            failed_when: None,
            no_log: false,
            ignore_errors: false,
            environment: Vec::new(),
            vars: Map::new(),
            become_root: None,
            check_mode: None,
            timeout: None,
            until: Vec::new(),
            retries: None,
            delay: None,
            line,
        }
    }

    /// The name shown in output: the task's name, or the module and its first argument.
    pub fn display_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let first = self
            .args
            .get("_raw_params")
            .or_else(|| self.args.values().next())
            .map(|v| match v {
                Json::String(s) => s.lines().next().unwrap_or("").to_owned(),
                other => other.to_string(),
            })
            .unwrap_or_default();
        format!("{} {first}", self.module.name()).trim().to_owned()
    }
}
