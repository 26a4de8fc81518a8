//! Running a playbook: plays in order, the hosts of a play concurrently (at most `forks`
//! at once, in `serial` batches), each host's tasks in order.
//!
//! Unlike Ansible's default `linear` strategy, a host does not wait for the others between
//! tasks (Ansible's `free` strategy): a slow host delays nobody. A failed or unreachable host
//! stops its own tasks, is left out of later plays, and the others continue.

use futures::StreamExt;
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::PlaybookError;
use super::ast::{Play, Playbook, Serial};
use super::jinja::Jinja;
use super::modules::Outcome;
use super::report::{HostRecap, RunReport, Status, TaskResult};
use super::task::{result, run_task};
use crate::pattern::{self, Member};
use crate::ssh::host::Host;

/// A host to run on, with its inventory groups and variables.
#[derive(Clone)]
pub struct Target {
    pub host: Arc<dyn Host>,
    pub groups: Vec<String>,
    pub vars: Map<String, Json>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("host", &self.host.name())
            .field("groups", &self.groups)
            .finish()
    }
}

impl Member for Target {
    fn name(&self) -> &str {
        self.host.name()
    }
    fn groups(&self) -> Vec<&str> {
        self.groups.iter().map(String::as_str).collect()
    }
}

/// What happened, as it happens (for progress output).
#[derive(Debug, Clone)]
pub enum Event {
    /// A play starts on these hosts (none: the pattern matched nothing).
    PlayStart { name: String, hosts: Vec<String> },
    /// A task finished on a host.
    Task(TaskResult),
    /// A task's `until` condition was false: it runs again after its `delay`.
    Retry {
        host: String,
        task: String,
        /// Attempts still to come.
        retries_left: u64,
    },
}

/// A callback for [`Event`]s.
pub type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

/// How to run.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Report what would change without changing it.
    pub check: bool,
    /// Add unified diffs of file changes to results.
    pub diff: bool,
    /// `-e` variables (they override everything, as in Ansible).
    pub extra_vars: Map<String, Json>,
    /// Only hosts matching this pattern too (`--limit`).
    pub limit: Option<String>,
    /// At most this many hosts at once (0 = all).
    pub forks: usize,
    /// Called for each [`Event`], from the task that produced it.
    pub on_event: Option<EventSink>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("check", &self.check)
            .field("diff", &self.diff)
            .field("limit", &self.limit)
            .field("forks", &self.forks)
            .finish()
    }
}

/// Runs every play of `playbook` on the matching `targets`.
pub async fn run_playbook(
    playbook: &Playbook,
    targets: &[Target],
    opts: &RunOptions,
) -> Result<RunReport, PlaybookError> {
    let started = Instant::now();
    let jinja = Jinja::new();
    let limited: HashSet<usize> = match &opts.limit {
        Some(l) => pattern::select(l, targets)?.into_iter().collect(),
        None => (0..targets.len()).collect(),
    };
    // Every play's pattern is evaluated before any task runs: a bad one touches no host.
    let play_hosts = playbook
        .plays
        .iter()
        .map(|p| pattern::select(&p.hosts, targets))
        .collect::<Result<Vec<_>, _>>()?;
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    groups.insert(
        "all".into(),
        targets.iter().map(|t| t.name().to_owned()).collect(),
    );
    for t in targets {
        for g in &t.groups {
            groups
                .entry(g.clone())
                .or_default()
                .push(t.name().to_owned());
        }
    }
    let groups = serde_json::to_value(&groups).unwrap_or(Json::Null);
    // Registered results live for the whole run, as in Ansible.
    let mut registered: Vec<Map<String, Json>> = vec![Map::new(); targets.len()];
    let mut recaps: Vec<HostRecap> = targets
        .iter()
        .map(|t| HostRecap {
            host: t.name().to_owned(),
            ..HostRecap::default()
        })
        .collect();
    let mut down: HashSet<usize> = HashSet::new();
    let mut results = Vec::new();
    let env = Shared {
        playbook,
        jinja: &jinja,
        opts,
        groups: &groups,
    };
    for (play, selected) in playbook.plays.iter().zip(play_hosts) {
        let hosts: Vec<usize> = selected
            .into_iter()
            .filter(|i| limited.contains(i) && !down.contains(i))
            .collect();
        emit(
            opts,
            &Event::PlayStart {
                name: play.name.clone().unwrap_or_else(|| play.hosts.clone()),
                hosts: hosts
                    .iter()
                    .map(|&i| targets[i].name().to_owned())
                    .collect(),
            },
        );
        for batch in batches(&hosts, play.serial) {
            let forks = if opts.forks == 0 {
                batch.len().max(1)
            } else {
                opts.forks
            };
            let runs = batch.iter().map(|&i| {
                let reg = std::mem::take(&mut registered[i]);
                let env = &env;
                async move {
                    let t0 = Instant::now();
                    let (reg, res) = run_host(env, play, &targets[i], reg).await;
                    (i, reg, res, t0.elapsed())
                }
            });
            let done: Vec<_> = futures::stream::iter(runs)
                .buffer_unordered(forks)
                .collect()
                .await;
            for (i, reg, res, took) in done {
                registered[i] = reg;
                recaps[i].duration += took;
                for r in &res {
                    recaps[i].count(r);
                }
                if res.iter().any(|r| {
                    r.status == Status::Unreachable || (r.status == Status::Failed && !r.ignored)
                }) {
                    down.insert(i);
                }
                results.extend(res);
            }
        }
    }
    recaps.sort_by(|a, b| a.host.cmp(&b.host));
    Ok(RunReport {
        results,
        hosts: recaps,
        duration: started.elapsed(),
    })
}

pub(super) fn emit(opts: &RunOptions, e: &Event) {
    if let Some(f) = &opts.on_event {
        f(e);
    }
}

/// Splits hosts into `serial` batches (one batch without `serial`).
fn batches(hosts: &[usize], serial: Option<Serial>) -> Vec<Vec<usize>> {
    let size = match serial {
        None => hosts.len(),
        Some(Serial::Count(n)) => n,
        Some(Serial::Percent(p)) => ((hosts.len() as f64 * p / 100.0) as usize).max(1),
    }
    .max(1);
    hosts.chunks(size).map(<[usize]>::to_vec).collect()
}

/// What every host's run shares.
pub(super) struct Shared<'a> {
    pub(super) playbook: &'a Playbook,
    pub(super) jinja: &'a Jinja,
    pub(super) opts: &'a RunOptions,
    pub(super) groups: &'a Json,
}

/// Runs a play's tasks on one host; returns its registered variables and task results.
async fn run_host(
    sh: &Shared<'_>,
    play: &Play,
    target: &Target,
    mut registered: Map<String, Json>,
) -> (Map<String, Json>, Vec<TaskResult>) {
    let name = target.name().to_owned();
    let mut results = Vec::new();
    let mut base = target.vars.clone();
    base.insert("inventory_hostname".into(), name.clone().into());
    base.insert(
        "inventory_hostname_short".into(),
        name.split('.').next().unwrap_or(&name).into(),
    );
    base.insert(
        "group_names".into(),
        serde_json::to_value(&target.groups).unwrap_or_default(),
    );
    base.insert("groups".into(), sh.groups.clone());
    base.insert("ansible_check_mode".into(), sh.opts.check.into());
    base.insert("ansible_diff_mode".into(), sh.opts.diff.into());
    base.insert(
        "playbook_dir".into(),
        sh.playbook.dir.display().to_string().into(),
    );
    let play_vars = match resolve_vars(sh.jinja, &play.vars, &base, &sh.opts.extra_vars) {
        (v, None) => v,
        (_, Some(msg)) => {
            let r = result(
                &name,
                "play vars",
                play.line,
                Status::Failed,
                Outcome::fail(msg),
                Duration::ZERO,
            );
            emit(sh.opts, &Event::Task(r.clone()));
            return (registered, vec![r]);
        }
    };
    base.extend(play_vars);
    for task in &play.tasks {
        let mut vars = base.clone();
        vars.extend(registered.clone());
        vars.extend(sh.opts.extra_vars.clone());
        let t0 = Instant::now();
        let (status, outcome) = run_task(sh, play, task, target, &mut vars, &mut registered).await;
        let mut r = result(
            &name,
            &task.display_name(),
            task.line,
            status,
            outcome,
            t0.elapsed(),
        );
        r.ignored = status == Status::Failed && task.ignore_errors;
        if task.no_log {
            let hidden = "the output has been hidden due to the fact that 'no_log: true' was specified for this result";
            r.stdout.clear();
            r.stderr.clear();
            r.diff = None;
            r.data.clear();
            r.msg = hidden.into();
        }
        emit(sh.opts, &Event::Task(r.clone()));
        let stop = status == Status::Unreachable || (status == Status::Failed && !r.ignored);
        results.push(r);
        if stop {
            break;
        }
    }
    (registered, results)
}

/// Resolves play or task vars that refer to each other (Ansible templates vars lazily):
/// rounds of rendering until every var renders or no round makes progress. Returns those
/// that rendered, and why the others did not.
pub(super) fn resolve_vars(
    jinja: &Jinja,
    vars: &Map<String, Json>,
    base: &Map<String, Json>,
    extra: &Map<String, Json>,
) -> (Map<String, Json>, Option<String>) {
    let mut done = Map::new();
    let mut pending: Vec<(&String, &Json)> = vars
        .iter()
        .filter(|(k, _)| !extra.contains_key(*k))
        .collect();
    while !pending.is_empty() {
        let mut ctx = base.clone();
        ctx.extend(done.clone());
        ctx.extend(extra.clone());
        let ctx = minijinja::Value::from_serialize(&ctx);
        let mut next = Vec::new();
        let mut last_err = String::new();
        for (k, v) in pending.iter().copied() {
            match jinja.render_json(v, &ctx) {
                Ok(r) => {
                    done.insert(k.clone(), r);
                }
                Err(e) => {
                    last_err = format!("`{k}`: {e}");
                    next.push((k, v));
                }
            }
        }
        if next.len() == pending.len() {
            return (done, Some(last_err));
        }
        pending = next;
    }
    (done, None)
}
