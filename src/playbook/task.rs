//! One task on one host: `when`, rendering, the module, `register`, `failed_when`,
//! `changed_when` and the `until`/`retries`/`delay` loop, in Ansible's order
//! (`TaskExecutor._execute`).

use serde_json::{Map, Value as Json};
use std::time::Duration;

use super::ast::{Cond, Play, Task};
use super::modules::{self, ModuleCtx, Outcome};
use super::report::{Status, TaskResult};
use super::run::{Event, Shared, Target, emit, resolve_vars};
use crate::ssh::host::HostError;

pub(super) fn result(
    host: &str,
    task: &str,
    line: u64,
    status: Status,
    o: Outcome,
    took: Duration,
) -> TaskResult {
    TaskResult {
        host: host.to_owned(),
        task: task.to_owned(),
        line,
        status,
        ignored: false,
        rc: o.rc,
        stdout: o.stdout,
        stderr: o.stderr,
        msg: o.msg,
        diff: o.diff,
        data: o.data,
        duration: took,
    }
}

/// One task on one host: `vars`, `when`, render, run, `register`, `failed_when`,
/// `changed_when`. `vars` holds the play's variables, then the registered ones and `-e`.
pub(super) async fn run_task(
    sh: &Shared<'_>,
    play: &Play,
    task: &Task,
    target: &Target,
    vars: &mut Map<String, Json>,
    registered: &mut Map<String, Json>,
) -> (Status, Outcome) {
    let file = task.file.as_deref().unwrap_or(&sh.playbook.file).display();
    let at = |what: &str, e: String| Outcome::fail(format!("{file}:{}: {what}: {e}", task.line));
    // Task variables rank below registered results and `-e` (Ansible's precedence). One
    // that cannot be rendered fails the task only if it runs: Ansible renders them lazily.
    let mut vars_error = None;
    if !task.vars.is_empty() {
        let (done, err) = resolve_vars(sh.jinja, &task.vars, vars, &sh.opts.extra_vars);
        vars_error = err;
        vars.extend(done);
        vars.extend(registered.clone());
        vars.extend(sh.opts.extra_vars.clone());
    }
    let ctx = minijinja::Value::from_serialize(&*vars);
    match sh.jinja.all(&task.when, &ctx) {
        Ok(true) => {}
        Ok(false) => {
            let o = Outcome {
                skipped: true,
                msg: "Conditional result was False".into(),
                ..Outcome::default()
            };
            if let Some(reg) = &task.register {
                registered.insert(reg.clone(), o.registered());
            }
            return (Status::Skipped, o);
        }
        Err(e) => return (Status::Failed, at("when", e)),
    }
    if let Some(e) = vars_error {
        return (Status::Failed, at("vars", e));
    }
    let timeout = match &task.timeout {
        None => None,
        Some(t) => match sh.jinja.render_json(t, &ctx) {
            Ok(v) => match seconds(&v) {
                Some(n) => Some(Duration::from_secs(n)),
                None => {
                    let e = format!("must be a positive number of seconds, found {v}");
                    return (Status::Failed, at("timeout", e));
                }
            },
            Err(e) => return (Status::Failed, at("timeout", e)),
        },
    };
    let args = match sh.jinja.render_json(&Json::Object(task.args.clone()), &ctx) {
        Ok(Json::Object(m)) => m,
        Ok(_) => return (Status::Failed, at("arguments", "not a mapping".into())),
        Err(e) => return (Status::Failed, at("arguments", e)),
    };
    let mut env = Vec::new();
    for (k, v) in play.environment.iter().chain(&task.environment) {
        match sh.jinja.render_json(v, &ctx) {
            Ok(Json::String(s)) => env.push((k.clone(), s)),
            Ok(other) => env.push((k.clone(), other.to_string())),
            Err(e) => return (Status::Failed, at("environment", e)),
        }
    }
    let here = format!("{file}:{}: task {:?}", task.line, task.display_name());
    let mctx = ModuleCtx {
        host: target.host.as_ref(),
        args,
        check: task.check_mode.unwrap_or(sh.opts.check),
        diff: sh.opts.diff,
        become_root: task.become_root.unwrap_or(play.become_root),
        env,
        timeout,
        playbook_dir: &sh.playbook.dir,
        task_dir: task
            .file
            .as_deref()
            .and_then(std::path::Path::parent)
            .unwrap_or(&sh.playbook.dir),
        jinja: sh.jinja,
        vars: &ctx,
        at: &here,
    };
    let attempts = 1 + task
        .retries
        .unwrap_or(if task.until.is_empty() { 0 } else { 3 });
    let until = if task.until.is_empty() {
        vec![Cond::Expr("not __platform_result.failed".into())]
    } else {
        task.until.clone()
    };
    let mut attempt = 1;
    loop {
        let mut outcome = match attempt_once(sh, task, &mctx, vars, attempts, attempt).await {
            Ok(o) => o,
            Err(done) => return done,
        };
        if attempts > 1 {
            let mut ctx_vars = vars.clone();
            ctx_vars.insert("__platform_result".into(), outcome.registered());
            let ctx = minijinja::Value::from_serialize(&ctx_vars);
            match sh.jinja.all(&until, &ctx) {
                Ok(true) => {}
                Ok(false) if attempt < attempts => {
                    emit(
                        sh.opts,
                        &Event::Retry {
                            host: target.host.name().to_owned(),
                            task: task.display_name(),
                            retries_left: attempts - attempt,
                        },
                    );
                    let delay = task.delay.unwrap_or(5.0);
                    tokio::time::sleep(Duration::from_secs_f64(delay)).await;
                    attempt += 1;
                    continue;
                }
                Ok(false) => {
                    // As Ansible: out of attempts, the task fails and `attempts` counts retries.
                    outcome
                        .data
                        .insert("attempts".into(), (attempts - 1).into());
                    outcome.failed = true;
                    if outcome.msg.is_empty() {
                        outcome.msg = format!(
                            "the `until` condition was still false after {attempts} attempts"
                        );
                    }
                }
                Err(e) => return (Status::Failed, at("until", e)),
            }
        }
        if let Some(reg) = &task.register {
            registered.insert(reg.clone(), outcome.registered());
        }
        let status = if outcome.skipped {
            Status::Skipped
        } else if outcome.failed {
            Status::Failed
        } else if outcome.changed {
            Status::Changed
        } else {
            Status::Ok
        };
        return (status, outcome);
    }
}

/// One attempt: the module, then `failed_when` and `changed_when`, which see the result (and
/// `attempts` in an `until` loop) under its `register` name, as in Ansible. `Err` ends the
/// task at once (an unreachable host, a condition that cannot be evaluated).
async fn attempt_once(
    sh: &Shared<'_>,
    task: &Task,
    mctx: &ModuleCtx<'_>,
    vars: &mut Map<String, Json>,
    attempts: u64,
    attempt: u64,
) -> Result<Outcome, (Status, Outcome)> {
    let file = task.file.as_deref().unwrap_or(&sh.playbook.file).display();
    let at = |what: &str, e: String| Outcome::fail(format!("{file}:{}: {what}: {e}", task.line));
    let mut outcome = match modules::run(task.module, mctx).await {
        Ok(o) => o,
        Err(HostError::Unreachable { message, .. }) => {
            return Err((Status::Unreachable, Outcome::fail(message)));
        }
        Err(e) => return Err((Status::Failed, Outcome::fail(e.to_string()))),
    };
    if attempts > 1 {
        outcome.data.insert("attempts".into(), attempt.into());
    }
    if outcome.skipped {
        return Ok(outcome);
    }
    let reg_name = task.register.clone();
    let refresh = |o: &Outcome, vars: &mut Map<String, Json>| {
        if let Some(reg) = &reg_name {
            vars.insert(reg.clone(), o.registered());
        }
        minijinja::Value::from_serialize(&*vars)
    };
    if let Some(conds) = &task.failed_when {
        let ctx = refresh(&outcome, vars);
        match sh.jinja.all(conds, &ctx) {
            Ok(f) => {
                // As in Ansible, the module's `msg` stays in the result either way.
                outcome.failed = f;
                if f && outcome.msg.is_empty() {
                    outcome.msg = "failed_when condition is true".into();
                }
            }
            Err(e) => return Err((Status::Failed, at("failed_when", e))),
        }
    }
    if let Some(conds) = &task.changed_when {
        let ctx = refresh(&outcome, vars);
        match sh.jinja.all(conds, &ctx) {
            Ok(c) => outcome.changed = c,
            Err(e) => return Err((Status::Failed, at("changed_when", e))),
        }
    }
    if let Some(reg) = &task.register {
        vars.insert(reg.clone(), outcome.registered());
    }
    Ok(outcome)
}

/// A rendered `timeout`: a positive whole number, or a string of one (Ansible converts the
/// keyword to an integer).
fn seconds(v: &Json) -> Option<u64> {
    match v {
        Json::Number(n) => n.as_u64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n| *n > 0)
}
