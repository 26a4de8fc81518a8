//! Embedded minijinja templates, addressed by typed ids so a missing template is a compile
//! error, not a runtime one.

use minijinja::Environment;
use serde::Serialize;

/// A template shipped inside the binary.
#[derive(Clone, Copy, Debug)]
pub enum Template {
    /// The commented `platform.yaml` that `platform init` writes.
    InitConfig,
}

impl Template {
    fn name(self) -> &'static str {
        match self {
            Template::InitConfig => "platform.yaml.j2",
        }
    }

    fn source(self) -> &'static str {
        match self {
            Template::InitConfig => include_str!("../templates/platform.yaml.j2"),
        }
    }
}

/// Renders a template with `ctx`. Undefined variables are errors, not empty strings.
pub fn render(t: Template, ctx: impl Serialize) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.add_template(t.name(), t.source())?;
    env.get_template(t.name())?.render(ctx)
}
