//! `until`, `retries` and `delay` as Ansible's task executor runs them: the condition sees
//! the latest registered result, `attempts` is in it, the task fails when attempts run out
//! (then `attempts` counts the retries), `retries` alone retries until the task does not
//! fail, and each retry is announced before its delay.

use super::tests::{issues, run_text, statuses, target};
use super::*;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// Options whose event callback runs `on_retry` at each retry and records the events.
fn recording(on_retry: impl Fn() + Send + Sync + 'static) -> (RunOptions, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let opts = RunOptions {
        on_event: Some(Arc::new(move |e: &Event| {
            if let Event::Retry {
                host,
                task,
                retries_left,
            } = e
            {
                l.lock()
                    .unwrap()
                    .push(format!("{host} {task} {retries_left}"));
                on_retry();
            }
        })),
        ..RunOptions::default()
    };
    (opts, log)
}

#[tokio::test]
async fn until_reruns_with_the_latest_result_and_counts_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let n = dir.path().join("n");
    let book = format!(
        r#"
- hosts: all
  tasks:
    - name: count
      shell: "echo x >> {n}; wc -l < {n}"
      register: c
      until: c.stdout | int >= 3 and c.attempts == c.stdout | int
      retries: 5
      delay: 0
    - name: after
      command: "test {{{{ c.attempts }}}} = 3"
      changed_when: false
"#,
        n = n.display()
    );
    let (opts, log) = recording(|| {});
    let r = run_text(&book, &[target("h1", &[], json!({}))], opts).await;
    assert_eq!(
        statuses(&r, "h1"),
        vec![
            ("count".into(), Status::Changed),
            ("after".into(), Status::Ok)
        ],
        "{:#?}",
        r.results
    );
    assert_eq!(r.results[0].data["attempts"], 3);
    assert_eq!(*log.lock().unwrap(), ["h1 count 5", "h1 count 4"]);
}

#[tokio::test]
async fn out_of_attempts_the_task_fails_and_retries_alone_wait_for_success() {
    let dir = tempfile::tempdir().unwrap();
    let n = dir.path().join("n");
    let book = format!(
        r#"
- hosts: all
  tasks:
    - name: never
      shell: "echo x >> {n}"
      register: never
      until: false
      retries: 2
      delay: 0
      ignore_errors: true
    - name: retried until it succeeds
      shell: "echo y >> {n}; [ $(wc -l < {n}) -ge 5 ]"
      retries: 3
      delay: 0.01
"#,
        n = n.display()
    );
    let (opts, _) = recording(|| {});
    let r = run_text(&book, &[target("h1", &[], json!({}))], opts).await;
    let never = &r.results[0];
    assert_eq!((never.status, never.ignored), (Status::Failed, true));
    // Ansible's count after the last attempt: the retries, not the runs.
    assert_eq!(never.data["attempts"], 2);
    assert!(
        never.msg.contains("still false after 3 attempts"),
        "{}",
        never.msg
    );
    assert_eq!(r.results[1].status, Status::Changed, "{:#?}", r.results);
    assert_eq!(r.results[1].data["attempts"], 2);
    assert_eq!(std::fs::read_to_string(&n).unwrap().lines().count(), 5);
}

#[tokio::test]
async fn until_waits_for_a_file_written_between_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    let book = format!(
        r#"
- hosts: all
  tasks:
    - name: wait for the token
      stat:
        path: {t}
      register: st
      until: st.stat.exists
      retries: 10
      delay: 0
    - name: read it
      slurp:
        src: {t}
      register: tok
      no_log: true
    - name: use it
      command: "test {{{{ tok.content | b64decode }}}} = K10secret"
      changed_when: false
"#,
        t = token.display()
    );
    let t = token.clone();
    // The token appears when the first retry is announced: no timing involved.
    let (opts, log) = recording(move || std::fs::write(&t, "K10secret").unwrap());
    let r = run_text(&book, &[target("h1", &[], json!({}))], opts).await;
    assert!(r.success(), "{:#?}", r.results);
    assert_eq!(log.lock().unwrap().len(), 1);
    assert_eq!(r.results[0].data["attempts"], 2);
    let hidden = &r.results[1];
    assert!(
        hidden.data.is_empty() && hidden.msg.contains("no_log"),
        "{hidden:?}"
    );
    let json = serde_json::to_string(&r).unwrap();
    assert!(
        !json.contains("SzEwc2VjcmV0") && !json.contains("K10secret"),
        "{json}"
    );
}

#[test]
fn bad_retries_delay_and_until_are_reported_at_parse_time() {
    let got = issues(
        r#"- hosts: all
  tasks:
    - command: "true"
      register: r
      until: [r.rc == 0]
      retries: -1
      delay: soon
"#,
    );
    let found: Vec<(u64, &str)> = got.iter().map(|i| (i.line, i.keyword.as_str())).collect();
    assert_eq!(found, vec![(6, "retries"), (7, "delay")], "{got:#?}");
}

#[tokio::test]
async fn an_until_that_cannot_be_evaluated_fails_the_task_naming_it() {
    let book = r#"
- hosts: all
  tasks:
    - name: bad until
      command: "true"
      register: r
      until: r.nope.deeper
      delay: 0
"#;
    let r = run_text(book, &[target("h1", &[], json!({}))], RunOptions::default()).await;
    assert_eq!(r.results[0].status, Status::Failed);
    assert!(
        r.results[0].msg.contains("site.yml:4: until:"),
        "{}",
        r.results[0].msg
    );
}
