//! Jinja2 as Ansible uses it, through minijinja: `{{ }}` in arguments, bare expressions in
//! `when`/`changed_when`/`failed_when`, and the few Ansible filters and tests playbooks use.
//!
//! Undefined variables are errors (minijinja's strict mode), as in Ansible. A string that is
//! exactly one `{{ expr }}` keeps the expression's type (a number stays a number), which is
//! what Ansible's native templating does for the common cases.

use base64::Engine as _;
use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use serde_json::Value as Json;

use super::ast::Cond;

/// The template environments (one for arguments, one for `template` files).
pub struct Jinja {
    env: Environment<'static>,
    files: Environment<'static>,
}

impl Default for Jinja {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Jinja {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Jinja")
    }
}

impl Jinja {
    /// Environments with Ansible's filters and tests and strict undefined variables.
    pub fn new() -> Jinja {
        let mut files = base_env();
        // The template module's defaults in Ansible.
        files.set_trim_blocks(true);
        Jinja {
            env: base_env(),
            files,
        }
    }

    /// Renders a string with `{{ }}`/`{% %}`; plain strings are returned as they are.
    pub fn render_str(&self, s: &str, ctx: &Value) -> Result<String, String> {
        if !has_template(s) {
            return Ok(s.to_owned());
        }
        self.env.render_str(s, ctx).map_err(describe)
    }

    /// Renders a `template` module source file.
    pub fn render_file(&self, name: &str, source: &str, ctx: &Value) -> Result<String, String> {
        let mut env = self.files.clone();
        env.add_template_owned(name.to_owned(), source.to_owned())
            .map_err(describe)?;
        env.get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(describe)
    }

    /// Renders every string inside a JSON value.
    pub fn render_json(&self, v: &Json, ctx: &Value) -> Result<Json, String> {
        Ok(match v {
            Json::String(s) => {
                // Only the whole string keeps the value's type: text around the `{{ }}`,
                // even a newline (`"{{ token }}\n"`), makes it a string, as in Ansible.
                if let Some(expr) = single_expression(s).filter(|_| s.trim() == s) {
                    let value = self
                        .env
                        .compile_expression(expr)
                        .and_then(|e| e.eval(ctx))
                        .map_err(describe)?;
                    if value.is_undefined() {
                        return Err(format!("`{expr}` is undefined"));
                    }
                    serde_json::to_value(&value).map_err(|e| e.to_string())?
                } else {
                    Json::String(self.render_str(s, ctx)?)
                }
            }
            Json::Array(items) => Json::Array(
                items
                    .iter()
                    .map(|i| self.render_json(i, ctx))
                    .collect::<Result<_, _>>()?,
            ),
            Json::Object(m) => Json::Object(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), self.render_json(v, ctx)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }

    /// Whether every condition holds (an empty list holds).
    pub fn all(&self, conds: &[Cond], ctx: &Value) -> Result<bool, String> {
        for c in conds {
            let holds = match c {
                Cond::Literal(b) => *b,
                Cond::Expr(e) => {
                    // `when: "{{ x }}"` is deprecated in Ansible but still seen.
                    let e = single_expression(e).unwrap_or(e);
                    let v = self
                        .env
                        .compile_expression(e)
                        .and_then(|x| x.eval(ctx))
                        .map_err(|err| format!("`{e}`: {}", describe(err)))?;
                    if v.is_undefined() {
                        return Err(format!("`{e}` is undefined"));
                    }
                    truthy(&v)
                }
            };
            if !holds {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Truth as Ansible sees a `when` result: the strings "false"/"no"/"0" are false too.
fn truthy(v: &Value) -> bool {
    match v.as_str() {
        Some(s) => !matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "" | "false" | "no" | "off" | "0"
        ),
        None => v.is_true(),
    }
}

fn has_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// The expression of a string that is exactly `{{ expr }}`.
fn single_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

fn describe(e: Error) -> String {
    let mut msg = e.to_string();
    if let Some(d) = e.detail()
        && !msg.contains(d)
    {
        msg = format!("{msg}: {d}");
    }
    msg
}

fn base_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.add_filter("bool", |v: Value| -> bool {
        match v.as_str() {
            Some(s) => matches!(
                s.trim().to_ascii_lowercase().as_str(),
                "yes" | "on" | "1" | "true" | "y"
            ),
            None => v.as_i64().map_or_else(|| v.is_true(), |n| n == 1),
        }
    });
    env.add_filter("to_json", |v: Value| -> Result<String, Error> {
        serde_json::to_string(&v)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
    });
    env.add_filter("to_nice_json", |v: Value| -> Result<String, Error> {
        serde_json::to_string_pretty(&v)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
    });
    env.add_filter("b64encode", |s: String| {
        base64::engine::general_purpose::STANDARD.encode(s)
    });
    env.add_filter("b64decode", |s: String| -> Result<String, Error> {
        base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "not base64 of UTF-8 text"))
    });
    env.add_filter("quote", |s: String| crate::ssh::host::shell_quote(&s));
    env.add_filter("basename", |s: String| {
        s.rsplit('/').next().unwrap_or("").to_owned()
    });
    env.add_filter("dirname", |s: String| match s.rfind('/') {
        Some(0) => "/".to_owned(),
        Some(i) => s[..i].to_owned(),
        None => String::new(),
    });
    env.add_filter("mandatory", |v: Value| -> Result<Value, Error> {
        if v.is_undefined() {
            Err(Error::new(
                ErrorKind::UndefinedError,
                "mandatory variable not defined",
            ))
        } else {
            Ok(v)
        }
    });
    // Ansible's tests on registered results: `when: result is failed`.
    for (name, field) in [
        ("failed", "failed"),
        ("succeeded", "failed"),
        ("success", "failed"),
        ("changed", "changed"),
        ("skipped", "skipped"),
    ] {
        let negate = name.starts_with("succ");
        env.add_test(name, move |v: Value| -> bool {
            let set = v.get_attr(field).is_ok_and(|x| x.is_true());
            set != negate
        });
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(v: Json) -> Value {
        Value::from_serialize(&v)
    }

    #[test]
    fn renders_strings_and_keeps_native_types_of_single_expressions() {
        let j = Jinja::new();
        let c = ctx(json!({"port": 6443, "name": "srv-0", "list": [1, 2]}));
        assert_eq!(j.render_str("host {{ name }}", &c).unwrap(), "host srv-0");
        assert_eq!(
            j.render_json(&json!("{{ port }}"), &c).unwrap(),
            json!(6443)
        );
        assert_eq!(
            j.render_json(&json!({"a": ["{{ list | length }}", "x{{ port }}"]}), &c)
                .unwrap(),
            json!({"a": [2, "x6443"]})
        );
        // Text around the expression, a newline included, makes a string.
        assert_eq!(
            j.render_json(&json!("{{ name }}\n"), &c).unwrap(),
            json!("srv-0\n")
        );
        assert_eq!(
            j.render_json(&json!(" {{ port }}"), &c).unwrap(),
            json!(" 6443")
        );
        assert_eq!(j.render_str("no template", &c).unwrap(), "no template");
    }

    #[test]
    fn undefined_variables_are_errors() {
        let j = Jinja::new();
        let c = ctx(json!({}));
        let e = j.render_str("{{ nope }}", &c).unwrap_err();
        assert!(e.contains("undefined"), "{e}");
        assert!(j.render_json(&json!("{{ nope }}"), &c).is_err());
        assert!(j.all(&[Cond::Expr("nope == 1".into())], &c).is_err());
    }

    #[test]
    fn conditions_filters_and_tests() {
        let j = Jinja::new();
        let c = ctx(json!({
            "r": {"rc": 1, "failed": true, "changed": false, "stdout": "a\nb"},
            "flag": "yes",
        }));
        let yes = |e: &str| j.all(&[Cond::Expr(e.into())], &c).unwrap();
        assert!(yes("r.rc == 1"));
        assert!(yes("r is failed"));
        assert!(!yes("r is succeeded"));
        assert!(!yes("r is changed"));
        assert!(yes("flag | bool"));
        assert!(yes("'b' in r.stdout"));
        assert!(yes("{{ r.rc == 1 }}"));
        assert!(yes("missing is not defined"));
        assert!(
            !j.all(&[Cond::Literal(true), Cond::Expr("r.rc == 0".into())], &c)
                .unwrap()
        );
        assert_eq!(
            j.render_str(r#"{{ "it's" | quote }}"#, &c).unwrap(),
            r"'it'\''s'"
        );
        assert_eq!(
            j.render_str("{{ '/a/b.txt' | basename }}", &c).unwrap(),
            "b.txt"
        );
    }

    #[test]
    fn template_files_trim_blocks_and_keep_the_last_newline() {
        let j = Jinja::new();
        let c = ctx(json!({"xs": ["a", "b"]}));
        let out = j
            .render_file("t.j2", "{% for x in xs %}\n{{ x }}\n{% endfor %}\n", &c)
            .unwrap();
        assert_eq!(out, "a\nb\n");
    }
}
