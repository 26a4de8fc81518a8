//! A `platform local-cloud serve` process shared by the tests of one binary, and clusters
//! pointed at it through `cloud.arm_endpoint` + `cloud.local_ca`, as a real deployment points
//! at Azure: killing `platform` never kills the cloud.
//!
//! Cleanup: the server runs under a tiny `sh` watchdog that reads the test's pipe on its
//! stdin and kills the server when that pipe closes. Dropping [`LocalCloud`] closes the pipe
//! and waits; if the test binary ends in any other way (statics are never dropped, a panic
//! aborts, the binary is killed) the kernel closes the pipe and the watchdog still fires.
//! The watchdog also removes the server's temporary directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Run, finish, platform};

/// Default time factor: a full `up --only infra` takes about 2 s.
pub const TIME_FACTOR: f64 = 0.002;

/// A running `platform local-cloud serve`.
pub struct LocalCloud {
    /// `https://127.0.0.1:PORT` without a trailing slash.
    pub endpoint: String,
    /// The CA file to trust.
    pub ca: PathBuf,
    /// Azure-shaped latencies are multiplied by this.
    pub time_factor: f64,
    watchdog: Option<Child>,
    pipe: Option<ChildStdin>,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
    _dir: PathBuf,
}

impl std::fmt::Debug for LocalCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCloud")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl LocalCloud {
    /// Starts a server at [`TIME_FACTOR`] with `faults` (a `FaultConfig` as JSON, `{}` for
    /// none).
    pub fn start(faults: Value) -> LocalCloud {
        Self::start_scaled(TIME_FACTOR, faults)
    }

    /// Starts a server whose latencies are `time_factor` times Azure's.
    pub fn start_scaled(time_factor: f64, faults: Value) -> LocalCloud {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("cloud");
        let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
        // `$0` is the platform binary; the server is killed when our pipe on stdin closes.
        let script = r#""$0" local-cloud serve "$@" & pid=$!
trap 'kill $pid 2>/dev/null; wait $pid; rm -rf "$LC_DIR"' EXIT
read _ignored"#;
        let tf = time_factor.to_string();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(env!("CARGO_BIN_EXE_platform"))
            .args(["--data-dir", data.to_str().unwrap(), "--time-factor", &tf])
            .args(["--retry-after", "0"])
            .env("NO_COLOR", "1")
            .env("LC_DIR", dir.path())
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start local-cloud serve");
        let pipe = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut endpoint, mut ca) = (None, None);
        while endpoint.is_none() || ca.is_none() {
            let Some(Ok(line)) = lines.next() else {
                let log = std::fs::read_to_string(dir.path().join("serve.log"));
                panic!("local-cloud serve ended before printing its endpoint: {log:?}");
            };
            if let Some(e) = line.strip_prefix("endpoint: ") {
                endpoint = Some(e.trim_end_matches('/').to_owned());
            } else if let Some(c) = line.strip_prefix("ca: ") {
                ca = Some(PathBuf::from(c));
            }
        }
        let ca = ca.unwrap();
        let pem = std::fs::read(&ca).unwrap();
        let http = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
            .build()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let cloud = LocalCloud {
            endpoint: endpoint.unwrap(),
            ca,
            time_factor,
            watchdog: Some(child),
            pipe,
            http,
            rt,
            // The watchdog removes it (a static's TempDir would never be dropped).
            _dir: dir.keep(),
        };
        cloud.set_faults(faults);
        cloud
    }

    /// One `/_local/` control call; panics unless it answers 2xx.
    pub fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/_local/{path}", self.endpoint);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.rt.block_on(async {
            let mut req = self.http.request(method, &url);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req.send().await.expect("control request");
            let status = resp.status();
            let text = resp.text().await.unwrap();
            assert!(status.is_success(), "{url}: {status} {text}");
            serde_json::from_str(&text).unwrap_or(Value::Null)
        })
    }

    /// One ARM request, as a colleague with the portal or `az` would make it (any bearer
    /// token): `(status, body)`.
    pub fn arm(&self, method: &str, path_and_query: &str) -> (u16, Value) {
        self.arm_request(method, path_and_query, None)
    }

    /// Like [`LocalCloud::arm`], with a JSON request body (a PUT).
    pub fn arm_json(&self, method: &str, path_and_query: &str, body: &Value) -> (u16, Value) {
        self.arm_request(method, path_and_query, Some(body))
    }

    fn arm_request(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path_and_query}", self.endpoint);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.rt.block_on(async {
            let mut req = self.http.request(method, &url).bearer_auth("a-colleague");
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.expect("ARM request");
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        })
    }

    /// The request counters (`RequestStats` as JSON).
    pub fn stats(&self) -> Value {
        self.control("GET", "stats", None)
    }

    /// Zeroes the request counters.
    pub fn reset_stats(&self) {
        self.control("POST", "reset-stats", None);
    }

    /// Replaces the fault config (JSON, every field optional). ARM's subscription token
    /// buckets are added with their refill sped up by the time factor, as every latency is:
    /// at Azure's real refill rate a 500 times faster cloud would run out of reads in every
    /// test and the client would spend most of the run pacing itself.
    pub fn set_faults(&self, mut faults: Value) {
        let bucket = |size: f64, per_sec: f64| serde_json::json!({"size": size, "refill_per_sec": per_sec / self.time_factor});
        if faults.get("rate_limits").is_none() {
            faults["rate_limits"] = serde_json::json!({
                "reads": bucket(250.0, 25.0),
                "writes": bucket(200.0, 10.0),
                "deletes": bucket(200.0, 10.0),
            });
        }
        self.control("PUT", "faults", Some(faults));
    }

    /// Every stored resource of resource group `rg` (case-insensitive), the group included.
    pub fn resources_in(&self, rg: &str) -> Vec<Value> {
        let needle = format!("/resourcegroups/{}", rg.to_ascii_lowercase());
        let all = self.control("GET", "resources", None);
        all["value"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                let id = r["id"].as_str().unwrap_or_default().to_ascii_lowercase();
                id.ends_with(&needle) || id.contains(&format!("{needle}/"))
            })
            .cloned()
            .collect()
    }
}

impl Drop for LocalCloud {
    fn drop(&mut self) {
        drop(self.pipe.take()); // EOF on the watchdog's stdin: it kills the server
        if let Some(mut c) = self.watchdog.take() {
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The cloud shared by every test of this binary (started on first use).
pub fn shared() -> &'static LocalCloud {
    static CLOUD: OnceLock<LocalCloud> = OnceLock::new();
    CLOUD.get_or_init(|| LocalCloud::start(serde_json::json!({})))
}

/// Serializes the tests of one binary: they share the cloud's counters and faults.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A cluster directory with a config pointing at `cloud`.
#[derive(Debug)]
pub struct Cluster {
    pub name: String,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Writes `platform.yaml` for cluster `name` with `extra` YAML sections appended
    /// (`nodes:`, `postgres:`; `network:` comes from `admin_cidrs`).
    pub fn new(cloud: &LocalCloud, name: &str, admin_cidrs: &str, extra: &str) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let c = Cluster {
            name: name.to_owned(),
            dir,
        };
        c.write_config(cloud, admin_cidrs, extra);
        c
    }

    /// Rewrites the config (same cluster, new settings).
    pub fn write_config(&self, cloud: &LocalCloud, admin_cidrs: &str, extra: &str) {
        let text = format!(
            "cluster: {}\ncloud:\n  kind: local\n  arm_endpoint: {}\n  local_ca: {}\n  local_time_factor: {}\nnetwork:\n  admin_cidrs: {admin_cidrs}\ngitops:\n  controller: none\n{extra}",
            self.name,
            cloud.endpoint,
            cloud.ca.display(),
            cloud.time_factor,
        );
        std::fs::write(self.dir.path().join("platform.yaml"), text).unwrap();
    }

    /// The directory holding `platform.yaml`.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The resource group the config uses (the default `<cluster>-rg`).
    pub fn rg(&self) -> String {
        format!("{}-rg", self.name)
    }

    /// Runs `platform ARGS` for this cluster.
    pub fn run(&self, args: &[&str]) -> Run {
        finish(platform(self.path()).args(args).output().unwrap())
    }

    /// The state file as JSON, if any.
    pub fn state(&self) -> Option<Value> {
        let p = self.path().join(".platform/state.json");
        let text = std::fs::read_to_string(p).ok()?;
        Some(serde_json::from_str(&text).unwrap())
    }

    /// The infra phase's recorded status (`succeeded`, `failed`, `running`), if any.
    pub fn infra_status(&self) -> Option<String> {
        let s = self.state()?;
        s["phases"]["infra"]["status"].as_str().map(str::to_owned)
    }
}

/// The client's own counters from the `infra ARM requests` line that `-v` logs:
/// `(requests, puts, retries, throttled)`.
pub fn client_stats(stderr: &str) -> Option<(u64, u64, u64, u64)> {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains("infra ARM requests"))?;
    let field = |k: &str| -> Option<u64> {
        let at = line.find(&format!("{k}="))? + k.len() + 1;
        let digits: String = line[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    Some((
        field("requests")?,
        field("puts")?,
        field("retries")?,
        field("throttled")?,
    ))
}
