//! Running one kubectl binary against a test cluster, with its own HOME and cache.

use std::path::{Path, PathBuf};
use std::process::Output;

use super::{Cluster, within};

/// One kubectl binary with its own HOME and discovery cache.
pub struct Kubectl {
    pub bin: PathBuf,
    pub minor: u32,
    kubeconfig: PathBuf,
    pub home: tempfile::TempDir,
}

impl Kubectl {
    pub fn new(bin: &Path, minor: u32, cluster: &Cluster) -> Self {
        Self {
            bin: bin.to_path_buf(),
            minor,
            kubeconfig: cluster.kubeconfig.clone(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.arg("--kubeconfig").arg(&self.kubeconfig);
        cmd.arg("--cache-dir").arg(self.home.path().join("cache"));
        cmd.args(args);
        cmd.env("HOME", self.home.path())
            .env_remove("KUBECONFIG")
            .kill_on_drop(true);
        cmd
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        within(
            120,
            &format!("kubectl 1.{} {args:?}", self.minor),
            self.command(args).output(),
        )
        .await
        .unwrap()
    }

    /// Runs and returns (exit code, stdout, stderr).
    pub async fn try_run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.run(args).await;
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    /// Writes a file in this kubectl's HOME and returns its path.
    pub fn file(&self, name: &str, text: &str) -> String {
        let p = self.home.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }

    /// Runs and returns stdout; fails the test with stderr when kubectl fails.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "kubectl 1.{} {args:?} failed ({}):\n{stdout}\n{}",
            self.minor,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}
