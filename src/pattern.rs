//! Ansible host patterns, the one engine behind `hosts:`, `--limit` and `platform run`.
//!
//! As ansible-core's `InventoryManager` evaluates them: terms split on `,` (or on `:` outside
//! brackets); plain terms are unioned first, then `&term` intersections, then `!term`
//! exclusions, whatever their order in the pattern; a pattern with no plain term starts from
//! `all`. A term is `all`, or an fnmatch glob (`*`, `?`, `[seq]`, `[!seq]`) matched against
//! group names (selecting their hosts) and against host names when no group matched or the
//! term has glob characters, optionally followed by a subscript `[i]`, `[-1]`, `[a:b]`
//! (inclusive) or `[a:]` over the term's hosts in inventory order. `~regex` terms are refused.
//! Results keep the inventory order. Matching is O(pattern x name), never exponential.

/// A host as patterns see it.
pub trait Member {
    /// The inventory name.
    fn name(&self) -> &str;
    /// Every group the host belongs to, directly or through children (`all` is ignored).
    fn groups(&self) -> Vec<&str>;
}

/// A pattern that cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("host pattern {pattern:?}: {message}")]
pub struct PatternError {
    pub pattern: String,
    pub message: String,
}

/// Indexes of the members `pattern` selects, in input order.
pub fn select<M: Member>(pattern: &str, members: &[M]) -> Result<Vec<usize>, PatternError> {
    let err = |message: String| PatternError {
        pattern: pattern.to_owned(),
        message,
    };
    let mut plain = Vec::new();
    let mut and = Vec::new();
    let mut not = Vec::new();
    for term in split(pattern) {
        if let Some(t) = term.strip_prefix('!') {
            not.push(t);
        } else if let Some(t) = term.strip_prefix('&') {
            and.push(t);
        } else {
            plain.push(term);
        }
    }
    if plain.is_empty() {
        plain.push("all");
    }
    let eval = |t: &str| term_hosts(t, members).map_err(&err);
    let mut chosen = vec![false; members.len()];
    for t in plain {
        for i in eval(t)? {
            chosen[i] = true;
        }
    }
    for t in and {
        let keep = eval(t)?;
        let mut mask = vec![false; members.len()];
        for i in keep {
            mask[i] = true;
        }
        for (c, m) in chosen.iter_mut().zip(mask) {
            *c &= m;
        }
    }
    for t in not {
        for i in eval(t)? {
            chosen[i] = false;
        }
    }
    Ok((0..members.len()).filter(|&i| chosen[i]).collect())
}

/// Splits a pattern into terms: on `,` when it has one, else on `:` outside brackets (so
/// `agents[1:3]` stays one term).
fn split(pattern: &str) -> Vec<&str> {
    let parts: Vec<&str> = if pattern.contains(',') {
        pattern.split(',').collect()
    } else {
        let mut out = Vec::new();
        let (mut depth, mut start) = (0usize, 0usize);
        for (i, c) in pattern.char_indices() {
            match c {
                '[' => depth += 1,
                ']' => depth = depth.saturating_sub(1),
                ':' if depth == 0 => {
                    out.push(&pattern[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.push(&pattern[start..]);
        out
    };
    parts
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

/// `[i]`, `[-i]`, `[a:b]` or `[a:]` at the end of a term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subscript {
    Index(i64),
    Range(usize, Option<usize>),
}

/// Splits `expr[subscript]` like ansible-core's `PATTERN_WITH_SUBSCRIPT`; a bracket that is
/// not a subscript stays part of the glob.
fn split_subscript(term: &str) -> (&str, Option<Subscript>) {
    let Some(body) = term.strip_suffix(']') else {
        return (term, None);
    };
    let Some(open) = body.rfind('[') else {
        return (term, None);
    };
    let (expr, inner) = (&body[..open], &body[open + 1..]);
    if expr.is_empty() {
        return (term, None);
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // `[x-y]` is ansible-core's old range form, still parsed (with a deprecation warning).
    if let Some((a, b)) = inner.split_once([':', '-']).filter(|(a, _)| !a.is_empty()) {
        if digits(a) && (b.is_empty() || digits(b)) {
            let start = a.parse().unwrap_or(usize::MAX);
            let end = (!b.is_empty()).then(|| b.parse().unwrap_or(usize::MAX));
            return (expr, Some(Subscript::Range(start, end)));
        }
    } else if digits(inner.strip_prefix('-').unwrap_or(inner)) {
        return (expr, inner.parse().ok().map(Subscript::Index));
    }
    (term, None)
}

/// The hosts one term selects, in input order.
fn term_hosts<M: Member>(term: &str, members: &[M]) -> Result<Vec<usize>, String> {
    if term.starts_with('~') {
        return Err("regular expressions (`~`) are not supported; use globs (*, ?, [..])".into());
    }
    let (expr, sub) = split_subscript(term);
    let hosts: Vec<usize> = if expr == "all" {
        (0..members.len()).collect()
    } else {
        let glob = Glob::new(expr);
        let group_hit = |m: &M| {
            m.groups()
                .into_iter()
                .any(|g| g != "all" && g != "ungrouped" && glob.matches(g))
        };
        let by_group: Vec<usize> = (0..members.len())
            .filter(|&i| group_hit(&members[i]))
            .collect();
        // Like Ansible: host names are tried when no group matched, or for a glob.
        let any_group = members.iter().any(|m| {
            m.groups()
                .into_iter()
                .any(|g| g != "all" && glob.matches(g))
        });
        if any_group && !glob.special {
            by_group
        } else {
            (0..members.len())
                .filter(|&i| by_group.contains(&i) || glob.matches(members[i].name()))
                .collect()
        }
    };
    Ok(match sub {
        None => hosts,
        // Like ansible-core: a subscript of nothing is nothing, not an error.
        Some(_) if hosts.is_empty() => hosts,
        Some(Subscript::Index(i)) => {
            let n = hosts.len() as i64;
            let at = if i < 0 { n + i } else { i };
            if at < 0 || at >= n {
                return Err(format!(
                    "no host matched the subscript: {expr} has {n} host(s)"
                ));
            }
            vec![hosts[at as usize]]
        }
        Some(Subscript::Range(a, b)) => {
            // Python's hosts[a:b+1]: out-of-range bounds clip, never fail.
            let end = b
                .map_or(hosts.len(), |b| b.saturating_add(1))
                .min(hosts.len());
            hosts.get(a..end).map(<[usize]>::to_vec).unwrap_or_default()
        }
    })
}

/// One element of an fnmatch glob.
#[derive(Debug, Clone)]
enum Tok {
    Star,
    Any,
    Lit(char),
    /// `[seq]` / `[!seq]`: ranges as (low, high) pairs, negated.
    Class(Vec<(char, char)>, bool),
}

/// An fnmatch glob, compiled once per term.
#[derive(Debug, Clone)]
struct Glob {
    toks: Vec<Tok>,
    /// Whether the term has glob characters (Ansible also tries host names then).
    special: bool,
}

impl Glob {
    fn new(p: &str) -> Glob {
        let chars: Vec<char> = p.chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => {
                    // Runs of stars are one star: keeps matching linear in practice.
                    if !matches!(toks.last(), Some(Tok::Star)) {
                        toks.push(Tok::Star);
                    }
                }
                '?' => toks.push(Tok::Any),
                '[' => match class(&chars[i + 1..]) {
                    Some((tok, used)) => {
                        toks.push(tok);
                        i += used;
                    }
                    None => toks.push(Tok::Lit('[')),
                },
                c => toks.push(Tok::Lit(c)),
            }
            i += 1;
        }
        Glob {
            toks,
            special: p.contains(['.', '?', '*', '[']),
        }
    }

    fn matches(&self, text: &str) -> bool {
        self.matches_counting(text).0
    }

    /// Two-pointer wildcard matching with one backtrack point (the last star), returning the
    /// number of steps taken: at most (tokens + 1) x (chars + 1).
    fn matches_counting(&self, text: &str) -> (bool, usize) {
        let t: Vec<char> = text.chars().collect();
        let (mut pi, mut ti) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        let mut steps = 0usize;
        while ti < t.len() {
            steps += 1;
            match self.toks.get(pi) {
                Some(Tok::Star) => {
                    star = Some((pi, ti));
                    pi += 1;
                }
                Some(tok) if one(tok, t[ti]) => {
                    pi += 1;
                    ti += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        pi = sp + 1;
                        ti = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return (false, steps),
                },
            }
        }
        let ok = self.toks[pi..].iter().all(|t| matches!(t, Tok::Star));
        (ok, steps)
    }
}

fn one(tok: &Tok, c: char) -> bool {
    match tok {
        Tok::Any => true,
        Tok::Lit(l) => *l == c,
        Tok::Class(ranges, neg) => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *neg,
        Tok::Star => false,
    }
}

/// Parses a class after `[`; returns it and how many chars it used (up to the `]`).
fn class(rest: &[char]) -> Option<(Tok, usize)> {
    let mut i = 0;
    let neg = matches!(rest.first(), Some('!'));
    if neg {
        i += 1;
    }
    let mut ranges = Vec::new();
    let start = i;
    while i < rest.len() {
        let c = rest[i];
        if c == ']' && i > start {
            return Some((Tok::Class(ranges, neg), i + 1));
        }
        if i + 2 < rest.len() && rest[i + 1] == '-' && rest[i + 2] != ']' {
            ranges.push((c, rest[i + 2]));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    struct H(&'static str, Vec<&'static str>);
    impl Member for H {
        fn name(&self) -> &str {
            self.0
        }
        fn groups(&self) -> Vec<&str> {
            self.1.clone()
        }
    }

    fn inv() -> Vec<H> {
        vec![
            H("s1", vec!["all", "servers", "k3s"]),
            H("s2", vec!["all", "servers", "k3s", "staging"]),
            H("a1", vec!["all", "agents", "k3s", "staging"]),
            H("a2", vec!["all", "agents", "k3s"]),
            H("a3", vec!["all", "agents", "k3s"]),
        ]
    }

    fn names(p: &str) -> Vec<&'static str> {
        let h = inv();
        select(p, &h).unwrap().into_iter().map(|i| h[i].0).collect()
    }

    #[test]
    fn unions_intersections_exclusions_like_ansible() {
        assert_eq!(names("all"), ["s1", "s2", "a1", "a2", "a3"]);
        assert_eq!(names("*"), ["s1", "s2", "a1", "a2", "a3"]);
        assert_eq!(names("servers"), ["s1", "s2"]);
        assert_eq!(names("a1:s1"), ["s1", "a1"]);
        assert_eq!(names("a1,s1"), ["s1", "a1"]);
        assert_eq!(names("k3s:!servers"), ["a1", "a2", "a3"]);
        assert_eq!(names("k3s:&staging"), ["s2", "a1"]);
        // Exclusions apply last, whatever their position.
        assert_eq!(names("!a1:agents"), ["a2", "a3"]);
        assert!(names("nothing").is_empty());
    }

    #[test]
    fn exclusion_or_intersection_alone_starts_from_all() {
        // The defect of two engines: `--limit '!s1'` selected nobody in the playbook one.
        assert_eq!(names("!s1"), ["s2", "a1", "a2", "a3"]);
        assert_eq!(names("&staging"), ["s2", "a1"]);
    }

    #[test]
    fn globs_match_groups_and_hosts() {
        // `s*` matches group `staging` (bringing a1) and hosts s1, s2.
        assert_eq!(names("s*"), ["s1", "s2", "a1"]);
        assert_eq!(names("age*"), ["a1", "a2", "a3"]);
        assert_eq!(names("?2"), ["s2", "a2"]);
        assert_eq!(names("[as]1"), ["s1", "a1"]);
        assert_eq!(names("a[!13]"), ["a2"]);
        assert_eq!(names("a[13]*"), ["a1", "a3"]);
        // A trailing `[digits]` is a subscript, as in ansible-core, even after a glob.
        assert_eq!(names("a*[1]"), ["a2"]);
    }

    #[test]
    fn subscripts_index_the_terms_hosts_inclusively() {
        assert_eq!(names("servers[0]"), ["s1"]);
        assert_eq!(names("agents[-1]"), ["a3"]);
        assert_eq!(names("agents[1:2]"), ["a2", "a3"]);
        assert_eq!(names("agents[1:]"), ["a2", "a3"]);
        assert_eq!(names("agents[1-2]"), ["a2", "a3"]);
        assert_eq!(names("agents[2:1]"), Vec::<&str>::new());
        assert_eq!(names("nothing[3]"), Vec::<&str>::new());
        assert_eq!(names("agents[0:1]:servers[1]"), ["s2", "a1", "a2"]);
        assert_eq!(names("k3s:!agents[0:1]"), ["s1", "s2", "a3"]);
        let e = select("servers[5]", &inv()).unwrap_err();
        assert!(e.message.contains("servers has 2 host(s)"), "{e}");
    }

    #[test]
    fn regexes_are_refused() {
        let e = select("~s.*", &inv()).unwrap_err();
        assert!(e.message.contains("regular expressions"), "{e}");
    }

    #[test]
    fn many_stars_match_in_linear_time() {
        // Backtracking engines take seconds here and grow combinatorially with the stars.
        let p = "*a".repeat(24) + "b";
        let g = Glob::new(&p);
        let text = "a".repeat(200);
        let bound = (g.toks.len() + 1) * (text.len() + 1);
        let (ok, steps) = g.matches_counting(&text);
        assert!(!ok && steps <= bound, "{steps} steps > {bound}");
        let (ok, steps) = g.matches_counting(&(text.clone() + "b"));
        assert!(ok && steps <= bound + g.toks.len(), "{steps} steps");
    }
}
