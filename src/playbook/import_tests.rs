//! `import_tasks` (files found as Ansible finds them, nested imports, the import's keywords
//! on every imported task, missing files and cycles named with file and line), task `vars`,
//! a templated `timeout`, and the shipped playbooks, which must all load.

use super::tests::{issues, statuses, target};
use super::*;
use serde_json::json;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Files under a temporary directory: `(relative path, text)`.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (p, text) in files {
        let path = dir.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn load_issues(path: &Path) -> Vec<Issue> {
    match load(path) {
        Err(PlaybookError::Invalid { issues, .. }) => issues,
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[test]
fn every_shipped_playbook_loads_with_its_imports() {
    let mut books: Vec<PathBuf> = std::fs::read_dir(repo().join("playbooks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    books.sort();
    assert!(books.len() >= 4, "{books:?}");
    for b in &books {
        if let Err(e) = load(b) {
            panic!("{e}");
        }
    }
    let node = repo().join("playbooks/tasks/k3s-node.yml");
    for (book, unit) in [("k3s-server.yml", "k3s"), ("k3s-agent.yml", "k3s-agent")] {
        let pb = load(&repo().join("playbooks").join(book)).unwrap();
        let play = &pb.plays[0];
        assert_eq!(play.vars["k3s_unit"], json!(unit));
        let tasks = &play.tasks;
        assert_eq!(tasks.len(), 12, "{book}");
        assert!(
            tasks
                .iter()
                .all(|t| t.file.as_deref() == Some(node.as_path()))
        );
        let start = tasks.last().unwrap();
        assert_eq!(start.module, ModuleKind::SystemdService);
        assert_eq!(start.timeout, Some(json!("{{ k3s_start_timeout }}")));
        let templates: Vec<_> = tasks
            .iter()
            .filter(|t| t.module == ModuleKind::Template)
            .map(|t| t.args["src"].as_str().unwrap())
            .collect();
        assert_eq!(templates, ["k3s-config.yaml.j2", "k3s.service.j2"]);
        for t in templates {
            assert!(repo().join("playbooks/templates").join(t).is_file(), "{t}");
        }
    }
}

const SITE: &str = r#"- hosts: all
  gather_facts: false
  vars: {who: play, level: play}
  tasks:
    - name: first
      command: echo first
      register: first
    - name: bring in the outer tasks
      ansible.builtin.import_tasks: tasks/outer.yml
      when: first.rc == 0
      vars: {who: import, level: outer}
      become: false
    - name: last
      command: echo last
"#;

const OUTER: &str = r#"- name: outer says
  shell: echo "{{ who }} {{ level }}" > "{{ out }}/outer"
- import_tasks:
    file: inner.yml
  vars: {level: inner}
  when: mark == 'go'
- name: outer template
  template: {src: t.j2, dest: "{{ out }}/t"}
"#;

const INNER: &str = r#"
- name: inner says
  shell: echo "{{ who }} {{ level }}" > "{{ out }}/inner"
  become: true
"#;

fn site() -> tempfile::TempDir {
    tree(&[
        ("site.yml", SITE),
        ("tasks/outer.yml", OUTER),
        ("tasks/inner.yml", INNER),
        ("tasks/templates/t.j2", "beside the tasks: {{ level }}\n"),
        ("templates/t.j2", "beside the playbook\n"),
    ])
}

#[test]
fn imports_nest_relative_to_the_importing_file_and_pass_their_keywords_down() {
    let dir = site();
    let pb = load(&dir.path().join("site.yml")).unwrap();
    let tasks = &pb.plays[0].tasks;
    let names: Vec<_> = tasks.iter().map(Task::display_name).collect();
    assert_eq!(
        names,
        [
            "first",
            "outer says",
            "inner says",
            "outer template",
            "last"
        ]
    );
    let inner = &tasks[2];
    let inner_file = dir.path().join("tasks/inner.yml");
    assert_eq!(inner.file.as_deref(), Some(inner_file.as_path()));
    assert_eq!(inner.line, 2);
    // The outer import's condition first, then the inner one's.
    assert_eq!(
        inner.when,
        vec![
            Cond::Expr("first.rc == 0".into()),
            Cond::Expr("mark == 'go'".into())
        ]
    );
    assert_eq!(
        inner.vars,
        *json!({"who": "import", "level": "inner"})
            .as_object()
            .unwrap()
    );
    // A task's own keyword wins over the import's.
    assert_eq!(
        (tasks[1].become_root, inner.become_root),
        (Some(false), Some(true))
    );
    assert!(tasks[0].file.is_none() && tasks[4].file.is_none() && tasks[4].when.is_empty());
}

#[tokio::test]
async fn imported_tasks_run_with_the_imports_vars_and_conditions() {
    let dir = site();
    let pb = load(&dir.path().join("site.yml")).unwrap();
    let out = dir.path().display().to_string();
    let run = |mark: &'static str| {
        let opts = RunOptions {
            extra_vars: parse_extra_vars(&[format!("out={out}"), format!("mark={mark}")]).unwrap(),
            ..RunOptions::default()
        };
        let pb = pb.clone();
        async move {
            let targets = [target("h1", &[], json!({}))];
            run_playbook(&pb, &targets, &opts).await.unwrap()
        }
    };
    let r = run("go").await;
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
    assert_eq!(read("outer"), "import outer\n");
    assert_eq!(read("inner"), "import inner\n");
    // The template beside the tasks file is found before the playbook's.
    assert_eq!(read("t"), "beside the tasks: outer\n");
    assert_eq!(r.hosts[0].failed, 0, "{:?}", r.results);
    std::fs::remove_file(dir.path().join("inner")).unwrap();
    let r = run("stop").await;
    let s = statuses(&r, "h1");
    assert_eq!(s[2], ("inner says".to_owned(), Status::Skipped), "{s:?}");
    assert!(!dir.path().join("inner").exists());
}

#[test]
fn missing_files_cycles_and_bad_imports_are_named_with_file_and_line() {
    let dir = tree(&[
        (
            "site.yml",
            "- hosts: all\n  tasks:\n    - import_tasks: tasks/a.yml\n    - import_tasks: nope.yml\n",
        ),
        (
            "tasks/a.yml",
            "- name: a\n  command: echo a\n- import_tasks: b.yml\n",
        ),
        ("tasks/b.yml", "- import_tasks: a.yml\n- bogus_module: {}\n"),
    ]);
    let got = load_issues(&dir.path().join("site.yml"));
    let b = dir.path().join("tasks/b.yml");
    let found: Vec<_> = got
        .iter()
        .map(|i| (i.file.clone(), i.line, i.keyword.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (None, 4, "import_tasks"),
            (Some(b.clone()), 1, "import_tasks"),
            (Some(b.clone()), 2, "bogus_module"),
        ],
        "{got:?}"
    );
    assert!(got[0].message.contains("no such file") && got[0].message.contains("nope.yml"));
    assert!(
        got[1]
            .message
            .contains("import cycle (tasks/a.yml → b.yml → a.yml"),
        "{}",
        got[1].message
    );
    let shown = load(&dir.path().join("site.yml")).unwrap_err().to_string();
    assert!(shown.contains(&format!("{}:1: ", b.display())), "{shown}");
    assert!(shown.contains("site.yml:4: "), "{shown}");

    let got = issues(
        r#"- hosts: all
  tasks:
    - ansible.builtin.include_tasks: x.yml
    - import_tasks: "{{ which }}.yml"
    - import_tasks: x.yml
      register: r
    - import_tasks: x.yml
      command: echo
    - import_tasks: [x.yml]
"#,
    );
    let found: Vec<(u64, &str)> = got.iter().map(|i| (i.line, i.keyword.as_str())).collect();
    assert_eq!(
        found,
        [
            (3, "ansible.builtin.include_tasks"),
            (4, "import_tasks"),
            (5, "import_tasks"),
            (6, "register"),
            (7, "import_tasks"),
            (8, "command"),
            (9, "import_tasks"),
        ],
        "{got:?}"
    );
    assert!(got[0].message.contains("use `import_tasks`"));
    assert!(got[1].message.contains("templated file name"));
    assert!(got[3].message.contains("not supported on `import_tasks`"));
    assert!(
        got[5]
            .message
            .contains("either imports tasks or runs a module")
    );
}

#[tokio::test]
async fn a_templated_timeout_and_task_vars_are_rendered_per_host() {
    let book = r#"- hosts: all
  gather_facts: false
  tasks:
    - name: within the timeout
      command: echo ok
      timeout: "{{ t }}"
    - name: task vars over play vars, under -e
      vars: {greeting: "hi {{ inventory_hostname }}", first: shadowed}
      shell: test "{{ greeting }}" = "hi h1" && test "{{ first }}" = 1
    - name: a var that cannot render is no error when the task is skipped
      vars: {broken: "{{ nothing.here }}"}
      command: echo "{{ broken }}"
      when: false
    - name: but fails a task that runs
      vars: {broken: "{{ nothing.here }}"}
      command: echo "{{ broken }}"
      ignore_errors: true
    - name: a timeout that is not a number
      command: echo no
      timeout: "{{ bad }}"
"#;
    let opts = RunOptions {
        extra_vars: parse_extra_vars(&["t=30".into(), "bad=soon".into(), "first=1".into()])
            .unwrap(),
        ..RunOptions::default()
    };
    let r = super::tests::run_text(book, &[target("h1", &[], json!({}))], opts).await;
    let s: Vec<Status> = statuses(&r, "h1").into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        s,
        [
            Status::Changed,
            Status::Changed,
            Status::Skipped,
            Status::Failed,
            Status::Failed
        ],
        "{:?}",
        r.results
    );
    assert!(
        r.results[3].msg.contains("site.yml:14: vars: `broken`"),
        "{}",
        r.results[3].msg
    );
    assert!(
        r.results[4]
            .msg
            .contains("timeout: must be a positive number of seconds, found \"soon\""),
        "{}",
        r.results[4].msg
    );
}
