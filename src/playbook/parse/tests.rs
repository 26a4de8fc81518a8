//! The arguments of get_url, stat, slurp, fetch and systemd_service checked when the
//! playbook is parsed: unknown or missing arguments and plain values that cannot work are
//! reported with their line before any host is touched; templated values wait for run time.

use crate::playbook::tests::issues;
use crate::playbook::{ModuleKind, parse_playbook};
use std::path::Path;

#[test]
fn new_modules_arguments_are_checked_with_their_lines() {
    let got = issues(
        r#"- hosts: all
  tasks:
    - ansible.builtin.get_url:
        url: ftp://example.com/k3s
        dest: /usr/local/bin/k3s
        checksum: deadbeef
        backup: true
    - get_url: {url: "https://example.com/k3s"}
    - stat: {path: /x, checksum_algorithm: crc32}
    - slurp: {}
    - fetch: {src: /x}
    - ansible.builtin.systemd:
        name: "k3s; reboot"
        state: running
    - systemd_service: {state: started}
    - systemd_service: {name: k3s}
"#,
    );
    let found: Vec<(u64, &str)> = got.iter().map(|i| (i.line, i.keyword.as_str())).collect();
    assert_eq!(
        found,
        vec![
            (3, "url"),
            (3, "checksum"),
            (7, "backup"),
            (8, "get_url"),
            (9, "checksum_algorithm"),
            (10, "slurp"),
            (11, "fetch"),
            (12, "name"),
            (12, "state"),
            (15, "systemd_service"),
            (16, "systemd_service"),
        ],
        "{got:#?}"
    );
    let text = format!("{got:?}");
    assert!(
        text.contains("the scheme \\\"ftp\\\" is not supported"),
        "{text}"
    );
    assert!(text.contains("<algorithm>:<checksum>"), "{text}");
    assert!(text.contains("`state: running` is not supported"), "{text}");
}

#[test]
fn templated_values_and_the_k3s_forms_parse() {
    let book = parse_playbook(
        r#"- hosts: all
  tasks:
    - ansible.builtin.get_url:
        url: "{{ base }}/download/{{ version | urlencode }}/k3s"
        dest: /usr/local/bin/k3s
        mode: "0755"
        checksum: "sha256:{{ base }}/download/{{ version | urlencode }}/sha256sum-amd64.txt"
        timeout: 300
    - ansible.builtin.systemd_service:
        name: "{{ unit }}"
        daemon_reload: "{{ changed }}"
        enabled: true
        state: "{{ 'restarted' if changed else 'started' }}"
    - ansible.builtin.systemd_service:
        daemon_reload: true
    - ansible.builtin.stat: {path: /var/lib/rancher/k3s/server/token}
      register: st
      until: st.stat.exists
      retries: 30
      delay: 2
"#,
        Path::new("site.yml"),
        Path::new("/tmp"),
    )
    .unwrap();
    let t = &book.plays[0].tasks;
    assert_eq!(t[0].module, ModuleKind::GetUrl);
    assert_eq!(t[1].module, ModuleKind::SystemdService);
    assert_eq!((t[3].retries, t[3].delay), (Some(30), Some(2.0)));
    assert_eq!(t[3].until.len(), 1);
}
