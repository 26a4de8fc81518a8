//! Parsing (errors with file, line and keyword) and the run flow (`when`, `register`,
//! `changed_when`, `failed_when`, failures, `serial`, `--limit`) against [`LocalHost`]s.

use super::*;
use crate::ssh::host::LocalHost;
use serde_json::json;
use std::sync::{Arc, Mutex};

pub(super) fn parse(text: &str) -> Result<Playbook, PlaybookError> {
    parse_playbook(text, Path::new("site.yml"), Path::new("/tmp"))
}

pub(super) fn issues(text: &str) -> Vec<Issue> {
    match parse(text) {
        Err(PlaybookError::Invalid { issues, .. }) => issues,
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[test]
fn parses_the_subset_with_short_and_qualified_module_names() {
    let pb = parse(
        r#"
- name: p
  hosts: servers:agents
  become: true
  gather_facts: false
  serial: "50%"
  vars: {port: 6443}
  tasks:
    - command: echo hi
      register: r
    - name: q
      ansible.builtin.shell:
        cmd: "echo {{ port }}"
        chdir: /tmp
      when: [r.rc == 0, true]
      changed_when: false
      no_log: true
      become: no
      timeout: 5
"#,
    )
    .unwrap();
    let p = &pb.plays[0];
    assert_eq!(p.hosts, "servers:agents");
    assert!(p.become_root);
    assert_eq!(p.serial, Some(Serial::Percent(50.0)));
    assert_eq!(p.vars["port"], json!(6443));
    assert_eq!(p.tasks[0].module, ModuleKind::Command);
    assert_eq!(p.tasks[0].args["_raw_params"], json!("echo hi"));
    assert_eq!(p.tasks[0].display_name(), "command echo hi");
    let t = &p.tasks[1];
    assert_eq!(t.module, ModuleKind::Shell);
    assert_eq!(t.line, 11);
    assert_eq!(
        t.when,
        vec![Cond::Expr("r.rc == 0".into()), Cond::Literal(true)]
    );
    assert_eq!(t.changed_when, Some(vec![Cond::Literal(false)]));
    assert_eq!(
        (t.no_log, t.become_root, t.timeout.clone()),
        (true, Some(false), Some(json!(5)))
    );
}

#[test]
fn everything_outside_the_subset_is_reported_with_line_and_keyword() {
    let got = issues(
        r#"- hosts: all
  gather_facts: true
  handlers: []
  tasks:
    - name: a
      command: echo
      loop: [1, 2]
    - community.general.modprobe:
        name: x
    - copy:
        dest: /x
        content: y
        backup: true
        mode: 644
    - name: no module
    - shell: echo creates=/x
    - shell: |
        # the cloud's marker
        true
"#,
    );
    let found: Vec<(u64, &str)> = got.iter().map(|i| (i.line, i.keyword.as_str())).collect();
    assert_eq!(
        found,
        vec![
            (2, "gather_facts"),
            (3, "handlers"),
            (7, "loop"),
            (8, "community.general.modprobe"),
            (13, "backup"),
            (14, "mode"),
            (15, ""),
            (16, "creates"),
            (17, "shell"),
        ],
        "{got:#?}"
    );
    assert!(
        got[2].message.contains("loops are not supported"),
        "{got:#?}"
    );
    let err = parse("- hosts: all\n  tasks:\n    - name: a\n      command: x\n      loop: [1]\n")
        .unwrap_err();
    assert!(err.to_string().contains("site.yml:5: `loop`"), "{err}");
}

#[test]
fn yaml_syntax_errors_and_wrong_shapes_are_reported() {
    assert_eq!(issues("- hosts: [\n").len(), 1);
    assert!(issues("hosts: all\n")[0].message.contains("list of plays"));
    assert!(issues("- tasks: []\n")[0].message.contains("needs `hosts`"));
    assert!(
        issues("- hosts: all\n  tasks:\n    - copy: {dest: /x}\n")[0]
            .message
            .contains("exactly one of `content` or `src`")
    );
}

#[test]
fn the_embedded_prepare_playbook_parses() {
    let pb = prepare();
    assert_eq!(pb.plays.len(), 1);
    assert!(pb.plays[0].tasks.len() >= 8);
    assert!(pb.plays[0].become_root);
}

#[test]
fn extra_vars_parse_as_strings_or_json() {
    let m = parse_extra_vars(&["a=1".into(), "b=x=y".into(), r#"{"c": 2}"#.into()]).unwrap();
    assert_eq!(json!(m), json!({"a": "1", "b": "x=y", "c": 2}));
    assert!(parse_extra_vars(&["novalue".into()]).is_err());
}

pub(super) fn target(name: &str, groups: &[&str], vars: serde_json::Value) -> Target {
    Target {
        host: Arc::new(LocalHost::new(name)),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        vars: vars.as_object().cloned().unwrap_or_default(),
    }
}

pub(super) async fn run_text(text: &str, targets: &[Target], opts: RunOptions) -> RunReport {
    run_playbook(&parse(text).unwrap(), targets, &opts)
        .await
        .unwrap()
}

pub(super) fn statuses(r: &RunReport, host: &str) -> Vec<(String, Status)> {
    r.results
        .iter()
        .filter(|t| t.host == host)
        .map(|t| (t.task.clone(), t.status))
        .collect()
}

#[tokio::test]
async fn when_register_changed_when_and_failed_when_flow() {
    let book = r#"
- hosts: all
  gather_facts: false
  vars:
    greeting: "hello {{ who }}"
    who: "{{ inventory_hostname }}"
  tasks:
    - name: echo
      command: echo {{ greeting }}
      register: out
    - name: only when the output matches
      shell: test "{{ out.stdout }}" = "hello {{ inventory_hostname }}"
      when: out.stdout_lines | length == 1 and out.rc == 0
      changed_when: false
    - name: skipped
      command: "false"
      when: out.stdout == 'nope'
      register: skipped_one
    - name: failing command tolerated by failed_when
      shell: "echo oops >&2; exit 3"
      register: bad
      failed_when: bad.rc not in [0, 3]
      changed_when: "'oops' in bad.stderr"
    - name: extra vars win
      command: "test {{ mark }} = cli"
      changed_when: skipped_one is skipped
"#;
    let opts = RunOptions {
        extra_vars: parse_extra_vars(&["mark=cli".into()]).unwrap(),
        ..RunOptions::default()
    };
    let r = run_text(
        book,
        &[target("h1", &[], json!({"mark": "inventory"}))],
        opts,
    )
    .await;
    assert_eq!(
        statuses(&r, "h1"),
        vec![
            ("echo".into(), Status::Changed),
            ("only when the output matches".into(), Status::Ok),
            ("skipped".into(), Status::Skipped),
            (
                "failing command tolerated by failed_when".into(),
                Status::Changed
            ),
            ("extra vars win".into(), Status::Changed),
        ],
        "{:#?}",
        r.results
    );
    assert_eq!(r.results[0].stdout, "hello h1");
    let h = &r.hosts[0];
    assert_eq!((h.ok, h.changed, h.skipped, h.failed), (4, 3, 1, 0));
    assert!(r.success());
    assert!(
        r.recap().starts_with("h1 : ok=4    changed=3"),
        "{}",
        r.recap()
    );
}

#[tokio::test]
async fn a_failed_host_stops_alone_and_is_left_out_of_later_plays() {
    let book = r#"
- hosts: all
  tasks:
    - name: fail on h2
      shell: "[ {{ inventory_hostname }} != h2 ]"
    - name: after
      command: "true"
    - name: undefined variable
      command: echo {{ nope }}
      ignore_errors: true
- hosts: all
  tasks:
    - name: second play
      command: "true"
"#;
    let targets = [target("h1", &[], json!({})), target("h2", &[], json!({}))];
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let opts = RunOptions {
        on_event: Some(Arc::new(move |e: &Event| {
            if let Event::Task(t) = e {
                ev.lock().unwrap().push(format!("{} {}", t.host, t.task));
            }
        })),
        ..RunOptions::default()
    };
    let r = run_text(book, &targets, opts).await;
    assert_eq!(
        statuses(&r, "h2"),
        vec![("fail on h2".into(), Status::Failed)]
    );
    let h1 = statuses(&r, "h1");
    assert_eq!(h1.len(), 4, "{h1:?}");
    assert_eq!(h1[2].1, Status::Failed);
    let undefined = r
        .results
        .iter()
        .find(|t| t.task == "undefined variable")
        .unwrap();
    assert!(undefined.ignored);
    assert!(
        undefined.msg.contains("site.yml:8") && undefined.msg.contains("undefined"),
        "{}",
        undefined.msg
    );
    assert_eq!(h1[3], ("second play".into(), Status::Changed));
    assert!(!r.success());
    let recap: Vec<(usize, usize)> = r.hosts.iter().map(|h| (h.failed, h.ignored)).collect();
    assert_eq!(recap, vec![(0, 1), (1, 0)]);
    assert_eq!(events.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn patterns_limit_and_serial_choose_the_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let book = format!(
        r#"
- hosts: servers
  serial: 1
  tasks:
    - shell: "echo {{{{ inventory_hostname }}}} start >> {log}; sleep 0.2; echo {{{{ inventory_hostname }}}} end >> {log}"
- hosts: nobody
  tasks:
    - command: "false"
"#,
        log = log.display()
    );
    let targets = [
        target("s1", &["servers"], json!({})),
        target("s2", &["servers"], json!({})),
        target("s3", &["servers"], json!({})),
        target("a1", &["agents"], json!({})),
    ];
    let opts = RunOptions {
        limit: Some("all:!s3".into()),
        ..RunOptions::default()
    };
    let r = run_text(&book, &targets, opts).await;
    assert!(r.success());
    let text = std::fs::read_to_string(&log).unwrap();
    // serial: 1 runs one host after the other: no interleaving.
    assert_eq!(text, "s1 start\ns1 end\ns2 start\ns2 end\n");
    assert_eq!(r.results.len(), 2);
}

/// A host that answers nothing, like one whose sshd died.
struct Dead;

#[async_trait::async_trait]
impl crate::ssh::host::Host for Dead {
    fn name(&self) -> &str {
        "dead"
    }
    async fn exec(
        &self,
        _req: crate::ssh::host::ExecRequest<'_>,
    ) -> Result<crate::ssh::host::ExecOutput, crate::ssh::host::HostError> {
        Err(crate::ssh::host::HostError::Unreachable {
            host: "dead".into(),
            message: "connection refused".into(),
        })
    }
}

#[tokio::test]
async fn unreachable_hosts_timeouts_and_no_log() {
    let book = r#"
- hosts: all
  tasks:
    - name: secret
      shell: echo s3cret; exit 1
      no_log: true
      ignore_errors: true
    - name: slow
      command: sleep 5
      timeout: 1
"#;
    let targets = [
        target("alive", &[], json!({})),
        Target {
            host: Arc::new(Dead),
            groups: Vec::new(),
            vars: Default::default(),
        },
    ];
    let t0 = std::time::Instant::now();
    let r = run_text(book, &targets, RunOptions::default()).await;
    assert!(t0.elapsed() < std::time::Duration::from_secs(4));
    assert_eq!(
        statuses(&r, "dead"),
        vec![("secret".into(), Status::Unreachable)]
    );
    let alive = r
        .results
        .iter()
        .filter(|t| t.host == "alive")
        .collect::<Vec<_>>();
    assert_eq!(alive.len(), 2);
    assert!(alive[0].ignored && alive[0].stdout.is_empty() && alive[0].msg.contains("no_log"));
    assert_eq!(alive[1].status, Status::Failed);
    assert!(alive[1].msg.contains("timed out"), "{}", alive[1].msg);
    let dead = r.hosts.iter().find(|h| h.host == "dead").unwrap();
    assert_eq!((dead.unreachable, dead.failed), (1, 0));
    assert!(r.recap().contains("unreachable=1"));
}

#[test]
fn environment_names_and_literal_wait_for_hosts_are_checked_at_parse_time() {
    let err = parse(
        r#"- hosts: all
  environment:
    GOOD_1: x
    1A: y
  tasks:
    - name: wait
      wait_for:
        host: "127.0.0.1/1; touch /tmp/x; #"
        port: 22
      environment:
        A-B: z
    - name: templated hosts are checked when they run
      wait_for: {host: "{{ h }}", port: 22}
"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("site.yml:4: `1A` is not a valid environment variable name")
            && err.contains("site.yml:11: `A-B` is not a valid environment variable name"),
        "{err}"
    );
    assert!(
        err.contains("site.yml:7: task \"wait\": `host` \"127.0.0.1/1; touch /tmp/x; #\" is not an IP address or a DNS name (allowed: "),
        "{err}"
    );
    assert_eq!(err.matches("site.yml:").count(), 3, "{err}");
}

#[tokio::test]
async fn a_templated_wait_for_host_is_checked_before_it_reaches_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let book = r#"
- hosts: all
  tasks:
    - name: wait for the database
      wait_for:
        host: "{{ db }}"
        port: 5432
        timeout: 1
"#;
    let evil = format!("127.0.0.1/1; touch {}; #", marker.display());
    let r = run_text(
        book,
        &[target("h1", &[], json!({ "db": evil }))],
        RunOptions::default(),
    )
    .await;
    let t = &r.results[0];
    assert_eq!(t.status, Status::Failed);
    assert!(
        t.msg
            .starts_with("site.yml:4: task \"wait for the database\": `host` \"127.0.0.1/1; touch")
            && t.msg.contains("is not an IP address or a DNS name"),
        "{}",
        t.msg
    );
    assert!(!marker.exists(), "the host value ran as a command");
}
