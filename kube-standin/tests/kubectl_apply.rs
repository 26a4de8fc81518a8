//! `kubectl apply --server-side` of a manifest set with a CRD, a custom resource of it, a
//! namespace, a Deployment and a ConfigMap, from a fresh discovery cache and with no flags;
//! then `wait`, `diff`, conflicts, field validation and `delete namespace`, on the newest
//! and the oldest kubectl installed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]
#![allow(
    clippy::print_stderr,
    reason = "which kubectl versions passed must reach the person running the tests"
)]

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::Api;
use support::kubectl::Kubectl;
use support::{kubectls_or_skip, start, within};

const SET: &str = include_str!("data/manifest-set.yaml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_a_manifest_set_server_side() {
    let kubectls = kubectls_or_skip("kubectl_applies_a_manifest_set_server_side");
    for (minor, bin) in &kubectls {
        let c = start().await;
        let k = Kubectl::new(bin, *minor, &c);
        let v = format!("1.{minor}");
        let set = k.file("set.yaml", SET);

        // A fresh cluster: kubectl maps every object before applying any, so the custom
        // resource of a CRD in the same file fails exactly as with a real API server.
        let (code, out, err) = k.try_run(&["apply", "--server-side", "-f", &set]).await;
        assert_eq!(code, 1, "{v}: {out}{err}");
        for line in [
            "customresourcedefinition.apiextensions.k8s.io/widgets.example.com serverside-applied",
            "namespace/demo serverside-applied",
            "deployment.apps/web serverside-applied",
            "configmap/settings serverside-applied",
        ] {
            assert!(out.contains(line), "{v}: {line:?} missing:\n{out}");
        }
        assert!(
            err.contains("no matches for kind \"Widget\" in version \"example.com/v1\""),
            "{v}: {err}"
        );

        let established = k
            .ok(&[
                "wait",
                "--for=condition=Established",
                "crd/widgets.example.com",
            ])
            .await;
        assert!(established.contains("condition met"), "{v}: {established}");
        let second = k.ok(&["apply", "--server-side", "-f", &set]).await;
        assert!(
            second.contains("widget.example.com/w1 serverside-applied"),
            "{v}: {second}"
        );
        let available = k
            .ok(&[
                "wait",
                "--for=condition=Available",
                "deploy/web",
                "-n",
                "demo",
                "--timeout=120s",
            ])
            .await;
        assert!(available.contains("condition met"), "{v}: {available}");
        let widgets = k.ok(&["get", "wd", "-n", "demo"]).await;
        assert_eq!(
            widgets
                .lines()
                .nth(1)
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["w1", "3"],
            "{v}: {widgets}"
        );

        // diff: 0 without changes, 1 with, for client-side and server-side diffs alike.
        for mode in [&["diff", "-f"][..], &["diff", "--server-side", "-f"][..]] {
            let mut args = mode.to_vec();
            args.push(&set);
            let (code, out, err) = k.try_run(&args).await;
            assert_eq!(code, 0, "{v}: {args:?} saw a difference:\n{out}{err}");
        }
        let changed = k.file(
            "changed.yaml",
            &SET.replace("size: 3", "size: 4")
                .replace("mode: fast", "mode: slow"),
        );
        for mode in [&["diff", "-f"][..], &["diff", "--server-side", "-f"][..]] {
            let mut args = mode.to_vec();
            args.push(&changed);
            let (code, out, err) = k.try_run(&args).await;
            assert_eq!(code, 1, "{v}: {args:?}:\n{out}{err}");
            assert!(
                out.contains("-  size: 3")
                    && out.contains("+  size: 4")
                    && out.contains("+  mode: slow"),
                "{v}: {out}"
            );
        }

        // Another manager changing a field kubectl owns: a conflict, then forced.
        let (code, _, err) = k
            .try_run(&[
                "apply",
                "--server-side",
                "--field-manager=other",
                "-f",
                &changed,
            ])
            .await;
        assert_eq!(code, 1, "{v}");
        assert!(
            err.contains("Apply failed with")
                && err.contains("conflict with \"kubectl\"")
                && err.contains(".data.mode"),
            "{v}: {err}"
        );
        k.ok(&[
            "apply",
            "--server-side",
            "--field-manager=other",
            "--force-conflicts",
            "-f",
            &changed,
        ])
        .await;
        let cms: Api<ConfigMap> = Api::namespaced(c.client().await, "demo");
        assert_eq!(
            cms.get("settings").await.unwrap().data.unwrap()["mode"],
            "slow"
        );

        // Field validation: Strict (kubectl's default) refuses unknown fields, Warn warns.
        let bad = k.file("bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\n  namespace: demo\nspec:\n  oops: 1\ndata:\n  a: b\n");
        let (code, _, err) = k.try_run(&["create", "-f", &bad]).await;
        assert_eq!(code, 1, "{v}");
        assert!(
            err.contains("strict decoding error: unknown field \"spec\""),
            "{v}: {err}"
        );
        let (code, _, err) = k.try_run(&["create", "--validate=warn", "-f", &bad]).await;
        assert_eq!(code, 0, "{v}: {err}");
        assert!(
            err.contains("Warning: unknown field \"spec\""),
            "{v}: {err}"
        );

        // delete namespace waits until the namespace and everything in it is gone.
        let deleted = k.ok(&["delete", "namespace", "demo"]).await;
        assert_eq!(deleted.trim(), "namespace \"demo\" deleted", "{v}");
        let client = c.client().await;
        assert!(
            Api::<Namespace>::all(client.clone())
                .get_opt("demo")
                .await
                .unwrap()
                .is_none(),
            "{v}"
        );
        assert!(
            Api::<Deployment>::namespaced(client.clone(), "demo")
                .get_opt("web")
                .await
                .unwrap()
                .is_none(),
            "{v}"
        );
        let gone = within(
            30,
            "widgets listed",
            k.run(&["get", "widgets", "-A", "-o", "name"]),
        )
        .await;
        assert_eq!(String::from_utf8_lossy(&gone.stdout).trim(), "", "{v}");
        eprintln!(
            "kubectl {v}: apply --server-side, wait, diff, conflicts, validation, delete namespace passed"
        );
        c.server.shutdown().await;
    }
}
