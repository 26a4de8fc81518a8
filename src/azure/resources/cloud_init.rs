//! The cloud-init user data the scale sets boot with, rendered from
//! `templates/cloud-init.yaml` (embedded in the binary).

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

/// The template text, embedded at build time.
pub const TEMPLATE: &str = include_str!("../../../templates/cloud-init.yaml");

/// File cloud-init touches when it has finished; the `nodes` phase waits for it.
pub const DONE_MARKER: &str = "/var/lib/platform/cloud-init-done";

/// Which scale set the VM belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// k3s server (control plane).
    Server,
    /// k3s agent (worker).
    Agent,
}

/// Inputs of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudInitParams {
    /// Cluster name.
    pub cluster: String,
    /// Node role.
    pub role: NodeRole,
}

/// Rendering failed (a bug in the template, not bad input: values are always quoted).
#[derive(Debug, thiserror::Error)]
#[error("rendering cloud-init: {0}")]
pub struct CloudInitError(#[from] minijinja::Error);

#[derive(Serialize)]
struct Context<'a> {
    cluster: &'a str,
    role: NodeRole,
    node_env: String,
}

/// Quotes a value as a YAML double-quoted scalar (JSON strings are valid YAML), so no input
/// can break out of its field.
fn yaml_str(value: String) -> String {
    serde_json::Value::String(value).to_string()
}

/// Renders the cloud-init document for one role.
pub fn render(params: &CloudInitParams) -> Result<String, CloudInitError> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.add_filter("yaml_str", yaml_str);
    env.add_template("cloud-init.yaml", TEMPLATE)?;
    let role = match params.role {
        NodeRole::Server => "server",
        NodeRole::Agent => "agent",
    };
    let ctx = Context {
        cluster: &params.cluster,
        role: params.role,
        node_env: format!(
            "PLATFORM_CLUSTER={}\nPLATFORM_ROLE={role}\n",
            params.cluster
        ),
    };
    Ok(env.get_template("cloud-init.yaml")?.render(ctx)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_minimal_honest_document() {
        let text = render(&CloudInitParams {
            cluster: "demo".into(),
            role: NodeRole::Agent,
        })
        .unwrap();
        assert!(text.starts_with("#cloud-config\n"), "{text}");
        assert!(text.contains("package_update: false"));
        assert!(text.contains(DONE_MARKER));
        assert!(
            text.contains(r#"content: "PLATFORM_CLUSTER=demo\nPLATFORM_ROLE=agent\n""#),
            "{text}"
        );
        assert!(!text.contains("k3s"), "nothing k3s-specific yet");
        // It is YAML cloud-init can read.
        let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(doc["package_update"], false);
        assert_eq!(doc["runcmd"][1][1], DONE_MARKER);
    }

    #[test]
    fn values_cannot_inject_yaml() {
        let evil = "x\"\nruncmd: [[rm, -rf, /]]\n#";
        let text = render(&CloudInitParams {
            cluster: evil.into(),
            role: NodeRole::Server,
        })
        .unwrap();
        let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(doc["runcmd"].as_array().unwrap().len(), 2, "{text}");
        assert!(
            doc["write_files"][0]["content"]
                .as_str()
                .unwrap()
                .contains(evil)
        );
    }
}
