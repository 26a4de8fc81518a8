//! Ansible host patterns (`hosts:` and `--limit`): `all`, `*`, host or group names, `*`
//! wildcards, unions `a:b` (or `a,b`), intersections `a:&b` and exclusions `a:!b`.

/// A host as patterns see it: its name and its groups.
pub trait Member {
    fn name(&self) -> &str;
    fn groups(&self) -> &[String];
}

/// Indexes of the members that `pattern` selects, in input order.
pub fn select<M: Member>(pattern: &str, members: &[M]) -> Vec<usize> {
    let terms: Vec<&str> = pattern
        .split([':', ','])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let matches = |term: &str, m: &M| {
        term == "all" || glob(term, m.name()) || m.groups().iter().any(|g| glob(term, g))
    };
    let plain: Vec<&str> = terms
        .iter()
        .copied()
        .filter(|t| !t.starts_with(['&', '!']))
        .collect();
    (0..members.len())
        .filter(|&i| {
            let m = &members[i];
            plain.iter().any(|t| matches(t, m))
                && terms
                    .iter()
                    .filter_map(|t| t.strip_prefix('&'))
                    .all(|t| matches(t, m))
                && !terms
                    .iter()
                    .filter_map(|t| t.strip_prefix('!'))
                    .any(|t| matches(t, m))
        })
        .collect()
}

/// `*` matches any run of characters; everything else is literal.
fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, rest)) => {
            let Some(tail) = s.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|&i| tail.is_char_boundary(i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct H(&'static str, Vec<String>);
    impl Member for H {
        fn name(&self) -> &str {
            self.0
        }
        fn groups(&self) -> &[String] {
            &self.1
        }
    }

    fn hosts() -> Vec<H> {
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        vec![
            H("srv-0", g(&["servers", "k3s"])),
            H("srv-1", g(&["servers", "k3s"])),
            H("agt-0", g(&["agents", "k3s"])),
        ]
    }

    #[test]
    fn patterns_select_like_ansible() {
        let h = hosts();
        assert_eq!(select("all", &h), vec![0, 1, 2]);
        assert_eq!(select("*", &h), vec![0, 1, 2]);
        assert_eq!(select("servers", &h), vec![0, 1]);
        assert_eq!(select("agents:srv-1", &h), vec![1, 2]);
        assert_eq!(select("agents,srv-1", &h), vec![1, 2]);
        assert_eq!(select("k3s:!srv-0", &h), vec![1, 2]);
        assert_eq!(select("k3s:&servers", &h), vec![0, 1]);
        assert_eq!(select("srv-*", &h), vec![0, 1]);
        assert_eq!(select("nothing", &h), Vec::<usize>::new());
    }
}
