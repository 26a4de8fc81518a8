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

/// What [`Template::InitConfig`] needs: the cluster, the cloud kind and its VNet (`/16`; the
/// node subnet is its `.1.0/24`, the Postgres subnet its `.2.0/24`).
#[derive(Clone, Debug)]
pub struct InitConfig<'a> {
    pub cluster: &'a str,
    /// `azure` or `local`.
    pub cloud: &'a str,
    pub address_space: ipnet::Ipv4Net,
}

impl InitConfig<'_> {
    /// The commented `platform.yaml`.
    pub fn render(&self) -> Result<String, minijinja::Error> {
        let [a, b, _, _] = self.address_space.network().octets();
        render(
            Template::InitConfig,
            serde_json::json!({
                "cluster": self.cluster,
                "cloud": self.cloud,
                "address_space": self.address_space.to_string(),
                "node_subnet": format!("{a}.{b}.1.0/24"),
                "postgres_subnet": format!("{a}.{b}.2.0/24"),
            }),
        )
    }
}
