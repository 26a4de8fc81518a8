//! The modules: each renders its arguments into ONE shell script run with one `exec`, which
//! checks the current state on the host and changes only what differs.
//!
//! No user value is ever part of a script's text: values are positional parameters bound to
//! shell variables by the script's first lines ([`Params`]), file content goes on stdin, and
//! environment values go on stdin ahead of it (see [`with_env`](crate::ssh::host::with_env)).
//!
//! Scripts report through their exit status: 0 = nothing changed, 100 = changed, anything
//! else = failed (stderr says why). File modules print the old content on stdout when a diff
//! was asked for, so `--diff` costs no extra round trip. `lineinfile` is the one exception
//! (two execs: read, then a compare-and-swap write), because its edit needs a regex engine.

mod command;
mod fetch;
mod files;
mod get_url;
mod lineinfile;
mod stat;
mod systemd;
mod wait_for;
mod write;

use serde_json::{Map, Value as Json};
use std::path::Path;
use std::time::Duration;

pub(crate) use get_url::{check_url, parse_checksum};
pub(crate) use systemd::{check_state, check_unit};
pub(crate) use wait_for::check_host;

use super::ast::ModuleKind;
use super::jinja::Jinja;
use crate::ssh::host::{ExecOutput, ExecRequest, Host, HostError};

/// Exit status a script uses for "changed".
pub(crate) const CHANGED: i32 = 100;

/// Everything a module needs to run one task on one host.
pub struct ModuleCtx<'a> {
    pub host: &'a dyn Host,
    /// The task's arguments, rendered for this host.
    pub args: Map<String, Json>,
    pub check: bool,
    pub diff: bool,
    pub become_root: bool,
    /// `environment`: the host exports it in the command's shell (values on stdin).
    pub env: Vec<(String, String)>,
    pub timeout: Option<Duration>,
    /// The playbook's directory: `templates/` and `files/` are looked up in it (after
    /// `task_dir`), and `fetch` writes under it.
    pub playbook_dir: &'a Path,
    /// The directory of the file the task is in (an imported tasks file's), searched first
    /// for `templates/` and `files/`, as Ansible does.
    pub task_dir: &'a Path,
    pub jinja: &'a Jinja,
    /// The host's variables, for `template`.
    pub vars: &'a minijinja::Value,
    /// Where the task is, for messages: `site.yml:12: task "name"`.
    pub at: &'a str,
}

/// A script's user values: each is a positional parameter that the script's first lines
/// bind to a shell variable (`d=${1}`), so a value is data whatever it holds. Words added
/// with [`Params::rest`] stay in `"$@"`.
#[derive(Debug, Default)]
pub(crate) struct Params {
    names: Vec<&'static str>,
    values: Vec<String>,
    rest: Vec<String>,
}

impl Params {
    /// Binds `value` to the shell variable `name` (a fixed identifier of the module).
    pub(crate) fn var(mut self, name: &'static str, value: impl Into<String>) -> Params {
        debug_assert!(crate::ssh::host::is_env_name(name));
        self.names.push(name);
        self.values.push(value.into());
        self
    }

    /// Words the script sees as `"$@"` after the named values.
    pub(crate) fn rest(mut self, words: Vec<String>) -> Params {
        self.rest = words;
        self
    }

    /// The script lines that bind the values, then shift them off `"$@"`.
    fn prologue(&self) -> String {
        let mut s = String::new();
        for (i, n) in self.names.iter().enumerate() {
            s.push_str(&format!("{n}=${{{}}}\n", i + 1));
        }
        if !self.names.is_empty() {
            s.push_str(&format!("shift {}\n", self.names.len()));
        }
        s
    }

    fn args(self) -> Vec<String> {
        let mut a = self.values;
        a.extend(self.rest);
        a
    }
}

/// What a module did, as Ansible reports (and registers) it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub changed: bool,
    pub failed: bool,
    pub skipped: bool,
    pub rc: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub msg: String,
    /// A unified diff of the change, when `--diff` was asked and the module supports it.
    pub diff: Option<String>,
    /// The module's own return values (`stat`, `content`, `status_code`, `attempts`...),
    /// registered beside the common fields under Ansible's names.
    pub data: Map<String, Json>,
}

impl Outcome {
    /// A failure before anything ran on the host (bad arguments, missing template).
    pub fn fail(msg: impl Into<String>) -> Outcome {
        Outcome {
            failed: true,
            msg: msg.into(),
            ..Outcome::default()
        }
    }

    /// The value `register` stores, with Ansible's field names.
    pub fn registered(&self) -> Json {
        let mut m = Map::new();
        m.insert("changed".into(), self.changed.into());
        m.insert("failed".into(), self.failed.into());
        if self.skipped {
            m.insert("skipped".into(), true.into());
        }
        if let Some(rc) = self.rc {
            m.insert("rc".into(), rc.into());
        }
        m.insert("stdout".into(), self.stdout.clone().into());
        m.insert("stderr".into(), self.stderr.clone().into());
        m.insert("stdout_lines".into(), lines(&self.stdout));
        m.insert("stderr_lines".into(), lines(&self.stderr));
        m.insert("msg".into(), self.msg.clone().into());
        for (k, v) in &self.data {
            m.insert(k.clone(), v.clone());
        }
        Json::Object(m)
    }
}

fn lines(s: &str) -> Json {
    Json::Array(s.lines().map(|l| Json::String(l.to_owned())).collect())
}

/// Runs one module on the host.
pub async fn run(kind: ModuleKind, ctx: &ModuleCtx<'_>) -> Result<Outcome, HostError> {
    match kind {
        ModuleKind::Command => command::run(ctx, false).await,
        ModuleKind::Shell => command::run(ctx, true).await,
        ModuleKind::Copy => files::copy(ctx, false).await,
        ModuleKind::Template => files::copy(ctx, true).await,
        ModuleKind::File => files::file(ctx).await,
        ModuleKind::Lineinfile => lineinfile::run(ctx).await,
        ModuleKind::WaitFor => wait_for::run(ctx).await,
        ModuleKind::GetUrl => get_url::run(ctx).await,
        ModuleKind::Stat => stat::stat(ctx).await,
        ModuleKind::Slurp => stat::slurp(ctx).await,
        ModuleKind::Fetch => fetch::run(ctx).await,
        ModuleKind::SystemdService => systemd::run(ctx).await,
    }
}

impl ModuleCtx<'_> {
    /// Runs a script with its values, the task's environment, `become` and timeout.
    pub(crate) async fn exec(
        &self,
        script: &str,
        params: Params,
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, HostError> {
        self.exec_with(script, params, stdin, self.timeout, None)
            .await
    }

    /// [`exec`](Self::exec) with its own timeout and output limit (bytes kept per stream).
    pub(crate) async fn exec_with(
        &self,
        script: &str,
        params: Params,
        stdin: Option<&[u8]>,
        timeout: Option<Duration>,
        output_limit: Option<usize>,
    ) -> Result<ExecOutput, HostError> {
        let full = format!("{}{script}", params.prologue());
        let args = params.args();
        self.host
            .exec(ExecRequest {
                command: &full,
                args: &args,
                stdin,
                env: &self.env,
                become_root: self.become_root,
                timeout,
                output_limit,
            })
            .await
    }

    /// A failure for bad arguments, naming the task and where it is.
    pub fn invalid(&self, message: impl std::fmt::Display) -> Outcome {
        Outcome::fail(format!("{}: {message}", self.at))
    }

    /// A string argument (numbers are accepted and turned into strings, as Ansible does).
    pub fn str_arg(&self, key: &str) -> Result<Option<String>, String> {
        match self.args.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(Json::Number(n)) => Ok(Some(n.to_string())),
            Some(Json::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(format!("`{key}` must be a string, found {other}")),
        }
    }

    /// A boolean argument with Ansible's spellings.
    pub fn bool_arg(&self, key: &str) -> Result<bool, String> {
        match self.args.get(key) {
            None | Some(Json::Null) => Ok(false),
            Some(Json::Bool(b)) => Ok(*b),
            Some(Json::String(s)) => match s.to_ascii_lowercase().as_str() {
                "yes" | "true" | "on" | "1" => Ok(true),
                "no" | "false" | "off" | "0" => Ok(false),
                _ => Err(format!("`{key}` must be a boolean, found {s:?}")),
            },
            Some(other) => Err(format!("`{key}` must be a boolean, found {other}")),
        }
    }

    /// A boolean argument that may be absent.
    pub fn opt_bool_arg(&self, key: &str) -> Result<Option<bool>, String> {
        match self.args.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(_) => self.bool_arg(key).map(Some),
        }
    }

    /// A whole number argument (a number or a string of digits), `default` when absent.
    pub fn u64_arg(&self, key: &str, default: u64) -> Result<u64, String> {
        match self.str_arg(key)? {
            None => Ok(default),
            Some(s) => s
                .parse::<u64>()
                .map_err(|_| format!("`{key}` must be a whole number, found {s:?}")),
        }
    }

    /// The path argument of file modules (`path`, or its aliases `dest`/`name`).
    pub fn path_arg(&self) -> Result<String, String> {
        for k in ["path", "dest", "name"] {
            if let Some(p) = self.str_arg(k)? {
                if !p.starts_with('/') {
                    return Err(format!("`{k}` must be an absolute path, found {p:?}"));
                }
                return Ok(p);
            }
        }
        Err("`path` is required".into())
    }
}

/// The coreutils program that computes a digest with one of Ansible's checksum algorithms.
pub(crate) fn digest_tool(algorithm: &str) -> Result<&'static str, String> {
    Ok(match algorithm {
        "md5" => "md5sum",
        "sha1" => "sha1sum",
        "sha224" => "sha224sum",
        "sha256" => "sha256sum",
        "sha384" => "sha384sum",
        "sha512" => "sha512sum",
        other => {
            return Err(format!(
                "checksum algorithm {other:?} is not supported; use md5, sha1, sha224, sha256, sha384 or sha512"
            ));
        }
    })
}

/// Normalizes an octal mode to what `stat -c %a` prints (`0644` -> `644`).
pub(crate) fn octal_mode(mode: &str) -> Result<String, String> {
    let m = mode.trim();
    if m.is_empty() || m.len() > 5 || !m.chars().all(|c| ('0'..='7').contains(&c)) {
        return Err(format!(
            "`mode` must be octal such as '0644' (symbolic modes are not supported), found {mode:?}"
        ));
    }
    let v = u32::from_str_radix(m, 8).map_err(|e| e.to_string())?;
    Ok(format!("{v:o}"))
}

/// Maps a script's exit status: 0 ok, 100 changed, else failed with its stderr.
pub(crate) fn from_status(out: &ExecOutput) -> Outcome {
    let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_owned();
    let failed = out.status != 0 && out.status != CHANGED;
    Outcome {
        changed: out.status == CHANGED,
        failed,
        rc: failed.then_some(out.status),
        msg: if failed {
            stderr.clone()
        } else {
            String::new()
        },
        stderr,
        ..Outcome::default()
    }
}

/// A unified diff between two texts, labelled like `diff -u`.
pub(crate) fn unified_diff(path: &str, old: Option<&str>, new: Option<&str>) -> String {
    let a = old.unwrap_or("");
    let b = new.unwrap_or("");
    let before = if old.is_some() {
        path.to_owned()
    } else {
        "/dev/null".into()
    };
    let after = if new.is_some() {
        path.to_owned()
    } else {
        "/dev/null".into()
    };
    similar::TextDiff::from_lines(a, b)
        .unified_diff()
        .context_radius(3)
        .header(&format!("before: {before}"), &format!("after: {after}"))
        .to_string()
}

#[cfg(test)]
mod get_url_tests;
#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod http_test_server;
#[cfg(test)]
mod read_tests;
#[cfg(test)]
mod safety_tests;
#[cfg(test)]
mod systemd_tests;
#[cfg(test)]
mod tests;
