//! `import_tasks`: a tasks file read at parse time and its tasks put where the import is,
//! each inheriting the import's keywords (`when` first, `vars`, `become`...), as Ansible's
//! static import does. A missing file or an import cycle is an issue at the import's line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Parser;
use crate::fsutil::{caps, read_capped};
use crate::playbook::Issue;
use crate::playbook::ast::Task;
use crate::yaml::{self, Node, Pos, Value};

/// The keywords an import may carry: those each imported task inherits.
pub(super) const IMPORT_KEYS: &[&str] = &[
    "name",
    "when",
    "vars",
    "environment",
    "become",
    "no_log",
    "ignore_errors",
    "check_mode",
    "timeout",
];

impl Parser {
    /// The task an entry of the current file starts from: the keywords of the import being
    /// read (none in the playbook itself).
    pub(super) fn inherited(&self, line: u64) -> Task {
        let mut t = Task::empty(self.file.clone(), line);
        if let Some(p) = &self.parent {
            t.when = p.when.clone();
            t.vars = p.vars.clone();
            t.environment = p.environment.clone();
            t.become_root = p.become_root;
            t.no_log = p.no_log;
            t.ignore_errors = p.ignore_errors;
            t.check_mode = p.check_mode;
            t.timeout = p.timeout.clone();
        }
        t
    }

    /// Reads the file `target` names (`import_tasks: FILE` or `{file: FILE}`); its tasks
    /// inherit `keywords`, the import's own.
    pub(super) fn import(&mut self, pos: Option<Pos>, target: &Node, keywords: Task) -> Vec<Task> {
        let key = "import_tasks";
        let raw = match &target.value {
            Value::Str(s) => s.clone(),
            Value::Map(entries) => {
                let mut file = None;
                for (k, kpos, v) in entries {
                    if k == "file" {
                        file = self.string(v, "file");
                    } else {
                        self.issue(
                            *kpos,
                            k,
                            format!("`import_tasks` takes `file` only, found `{k}`"),
                        );
                    }
                }
                match file {
                    Some(f) => f,
                    None => {
                        self.issue(pos, key, "`import_tasks` needs a file name".into());
                        return Vec::new();
                    }
                }
            }
            other => {
                self.issue(
                    pos,
                    key,
                    format!("`import_tasks` takes a file name, found {}", other.kind()),
                );
                return Vec::new();
            }
        };
        if raw.contains("{{") || raw.contains("{%") {
            self.issue(pos, key, format!("`import_tasks: {raw}`: a templated file name is not supported (imports are read before any variable exists); write the path"));
            return Vec::new();
        }
        let candidates = self.import_candidates(&raw);
        let Some(path) = candidates.iter().find(|p| p.is_file()).cloned() else {
            let looked: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
            self.issue(
                pos,
                key,
                format!(
                    "`import_tasks: {raw}`: no such file (looked for {})",
                    looked.join(", ")
                ),
            );
            return Vec::new();
        };
        let resolved = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if self.top.as_ref() == Some(&resolved) || self.chain.iter().any(|(c, _)| *c == resolved) {
            let mut names: Vec<String> = self.chain.iter().map(|(_, r)| r.clone()).collect();
            names.push(raw.clone());
            self.issue(
                pos,
                key,
                format!(
                    "`import_tasks: {raw}`: import cycle ({} imports itself again)",
                    names.join(" → ")
                ),
            );
            return Vec::new();
        }
        let text = match read_capped(&path, caps::PLAYBOOK) {
            Ok(t) => t,
            Err(e) => {
                self.issue(
                    pos,
                    key,
                    format!(
                        "`import_tasks: {raw}`: cannot read {}: {}",
                        path.display(),
                        e.source
                    ),
                );
                return Vec::new();
            }
        };
        let root = match yaml::parse(&text) {
            Ok(r) => r,
            Err(e) => {
                self.issues.push(Issue {
                    file: Some(path),
                    line: e.pos.map_or(0, |p| p.line),
                    keyword: String::new(),
                    message: e.message,
                });
                return Vec::new();
            }
        };
        let outer_file = self.file.replace(Arc::from(path.as_path()));
        let outer_parent = self.parent.replace(keywords);
        self.chain.push((resolved, raw));
        let tasks = match &root.value {
            Value::Seq(items) => items.iter().flat_map(|n| self.task(n)).collect(),
            // An empty file imports nothing (Ansible only warns).
            Value::Null => Vec::new(),
            other => {
                self.issue(
                    root.pos,
                    "",
                    format!("a tasks file is a list of tasks, found {}", other.kind()),
                );
                Vec::new()
            }
        };
        self.chain.pop();
        self.file = outer_file;
        self.parent = outer_parent;
        tasks
    }

    /// Where Ansible looks for an import's file, in order (helpers.load_list_of_tasks): for
    /// each enclosing import, innermost first, the directories of the imports as written
    /// joined onto the playbook's directory, then the playbook's directory itself. (Ansible
    /// also tries paths relative to the current directory, which we leave out: a playbook
    /// does not depend on where it is run from.)
    fn import_candidates(&self, raw: &str) -> Vec<PathBuf> {
        let target = Path::new(raw);
        if target.is_absolute() {
            return vec![target.to_owned()];
        }
        let mut out: Vec<PathBuf> = Vec::new();
        let mut cumulative: Option<PathBuf> = None;
        for (_, written) in self.chain.iter().rev() {
            let dir = Path::new(written)
                .parent()
                .unwrap_or(Path::new(""))
                .to_owned();
            let next = match cumulative.take() {
                None => dir,
                Some(c) if c.is_absolute() => c,
                Some(c) => dir.join(c),
            };
            out.push(self.basedir.join(&next).join(target));
            out.push(self.basedir.join(target));
            cumulative = Some(next);
        }
        out.push(self.basedir.join(target));
        let mut seen = std::collections::HashSet::new();
        out.retain(|p| seen.insert(p.clone()));
        out
    }
}
