//! The inventory tests' own local cloud, and reading an Ansible `--list` document, ours or
//! `ansible-inventory`'s.

use serde_json::Value;

use super::cloud::{LocalCloud, Serve};

/// Group name -> sorted host names, and host -> vars, from a `--list` document (ours or
/// `ansible-inventory`'s); groups without hosts are left out, `all`/`ungrouped` too.
pub fn groups_and_hosts(
    v: &Value,
) -> (
    std::collections::BTreeMap<String, Vec<String>>,
    std::collections::BTreeMap<String, Value>,
) {
    let mut groups = std::collections::BTreeMap::new();
    for (g, body) in v.as_object().unwrap() {
        if g == "_meta" || g == "all" || g == "ungrouped" {
            continue;
        }
        let mut hosts: Vec<String> = body["hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| h.as_str().unwrap().to_owned())
            .collect();
        hosts.sort();
        if !hosts.is_empty() {
            groups.insert(g.clone(), hosts);
        }
    }
    let hostvars = v["_meta"]["hostvars"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    (groups, hostvars)
}

/// A local cloud of an inventory test's own: `page_size` items per list page (so the test
/// chooses how many pages its lists take), latencies scaled down 1,000 times, never
/// throttled (the tests count requests).
pub fn cloud(page_size: usize) -> LocalCloud {
    LocalCloud::serve(Serve {
        time_factor: 0.001,
        page_size,
        faults: serde_json::json!({"rate_limits": null}),
    })
}
