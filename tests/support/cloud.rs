//! A `platform local-cloud serve` process, shared by the tests of one binary or a test's own,
//! which clusters point at through `cloud.arm_endpoint` + `cloud.local_ca` as a real
//! deployment points at Azure: killing `platform` never kills the cloud. And [`CloudApi`], the
//! HTTPS client of any local cloud's ARM and `/_local/` control endpoints.
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

use super::{block_on, platform_bin};

/// Default time factor: a full `up --only infra` takes about 2 s.
pub const TIME_FACTOR: f64 = 0.002;

/// How a [`LocalCloud`] is started.
#[derive(Clone, Debug)]
pub struct Serve {
    /// Azure-shaped latencies are multiplied by this.
    pub time_factor: f64,
    /// Items per page of list calls.
    pub page_size: usize,
    /// A `FaultConfig` as JSON (`{}` for none); see [`LocalCloud::set_faults`].
    pub faults: Value,
}

impl Default for Serve {
    fn default() -> Self {
        Serve {
            time_factor: TIME_FACTOR,
            page_size: 100,
            faults: serde_json::json!({}),
        }
    }
}

/// A running `platform local-cloud serve`; its [`CloudApi`] is reached through it (`Deref`).
pub struct LocalCloud {
    /// Azure-shaped latencies are multiplied by this.
    pub time_factor: f64,
    api: CloudApi,
    watchdog: Option<Child>,
    pipe: Option<ChildStdin>,
}

impl std::fmt::Debug for LocalCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCloud")
            .field("endpoint", &self.api.endpoint)
            .finish()
    }
}

impl std::ops::Deref for LocalCloud {
    type Target = CloudApi;

    fn deref(&self) -> &CloudApi {
        &self.api
    }
}

impl LocalCloud {
    /// Starts a server at [`TIME_FACTOR`] with `faults` (a `FaultConfig` as JSON, `{}` for
    /// none).
    pub fn start(faults: Value) -> LocalCloud {
        Self::serve(Serve {
            faults,
            ..Serve::default()
        })
    }

    /// Starts a server whose latencies are `time_factor` times Azure's.
    pub fn start_scaled(time_factor: f64, faults: Value) -> LocalCloud {
        Self::serve(Serve {
            time_factor,
            faults,
            ..Serve::default()
        })
    }

    /// Starts a server as `how` says.
    pub fn serve(how: Serve) -> LocalCloud {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("cloud");
        let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
        // `$0` is the platform binary; the server is killed when our pipe on stdin closes.
        let script = r#""$0" local-cloud serve "$@" & pid=$!
trap 'kill $pid 2>/dev/null; wait $pid; rm -rf "$LC_DIR"' EXIT
read _ignored"#;
        let (tf, page) = (how.time_factor.to_string(), how.page_size.to_string());
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(platform_bin())
            .args(["--data-dir", data.to_str().unwrap(), "--time-factor", &tf])
            .args(["--retry-after", "0", "--page-size", &page])
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
                endpoint = Some(e.to_owned());
            } else if let Some(c) = line.strip_prefix("ca: ") {
                ca = Some(PathBuf::from(c));
            }
        }
        // The watchdog removes the directory (a static's TempDir would never be dropped).
        let _ = dir.keep();
        let cloud = LocalCloud {
            time_factor: how.time_factor,
            api: CloudApi::new(&endpoint.unwrap(), &ca.unwrap()),
            watchdog: Some(child),
            pipe,
        };
        cloud.set_faults(how.faults);
        cloud
    }

    /// Replaces the fault config (JSON, every field optional). ARM's subscription token
    /// buckets are added with their refill sped up by the time factor, as every latency is:
    /// at Azure's real refill rate a 500 times faster cloud would run out of reads in every
    /// test and the client would spend most of the run pacing itself. An explicit
    /// `"rate_limits": null` leaves them out (never throttled).
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

/// Serializes the tests of one binary that share the cloud's counters and faults.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A local cloud's endpoints over HTTPS, trusting only its CA: the ARM API as a colleague
/// with the portal or `az` would call it, and the `/_local/` control API.
#[derive(Debug)]
pub struct CloudApi {
    /// `https://127.0.0.1:PORT/` (with the trailing slash).
    pub endpoint: String,
    /// The CA file to trust.
    pub ca: PathBuf,
    /// The cloud's API token, read from `api-token` beside the CA (its data directory).
    token: String,
    http: reqwest::Client,
}

impl CloudApi {
    /// A client of the cloud at `endpoint` whose certificates `ca` signs.
    pub fn new(endpoint: &str, ca: &Path) -> CloudApi {
        let pem = std::fs::read(ca).unwrap();
        let http = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
            .build()
            .unwrap();
        let mut endpoint = endpoint.to_owned();
        if !endpoint.ends_with('/') {
            endpoint.push('/');
        }
        let token_file = ca.with_file_name(local_cloud::TOKEN_FILE);
        let token = std::fs::read_to_string(&token_file)
            .unwrap_or_else(|e| panic!("{}: {e}", token_file.display()))
            .trim()
            .to_owned();
        CloudApi {
            endpoint,
            ca: ca.to_owned(),
            token,
            http,
        }
    }

    /// One `/_local/` control call; panics unless it answers 2xx.
    pub fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}_local/{path}", self.endpoint);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        block_on(async {
            let mut req = self.http.request(method, &url).bearer_auth(&self.token);
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

    /// One ARM request, as a colleague with the portal or `az` would make it (with the
    /// cloud's API token): `(status, body)`.
    pub fn arm(&self, method: &str, path_and_query: &str) -> (u16, Value) {
        self.arm_request(method, path_and_query, None)
    }

    /// Like [`CloudApi::arm`], with a JSON request body (a PUT).
    pub fn arm_json(&self, method: &str, path_and_query: &str, body: &Value) -> (u16, Value) {
        self.arm_request(method, path_and_query, Some(body))
    }

    fn arm_request(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let url = format!(
            "{}{}",
            self.endpoint,
            path_and_query.trim_start_matches('/')
        );
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        block_on(async {
            let mut req = self.http.request(method, &url).bearer_auth(&self.token);
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

    /// `GET /_local/vms/{name}`: the VM with its address and, for real hosts, its `host`
    /// (state, netns, sshd_pid, host key).
    pub fn vm(&self, name: &str) -> Value {
        self.control("GET", &format!("vms/{name}"), None)
    }

    /// A power action on VM `name` (`stop`, `start`, `deallocate`), as the portal would.
    pub fn power(&self, name: &str, action: &str) {
        self.control("POST", &format!("vms/{name}/{action}"), None);
    }

    /// Polls VM `name` until its host is in `state` (power actions return at once; the
    /// host's actor applies them in the background). Returns the VM.
    pub fn wait_host_state(&self, name: &str, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let vm = self.vm(name);
            if vm["host"]["state"] == state {
                return vm;
            }
            assert!(Instant::now() < deadline, "{name} never {state}: {vm}");
            std::thread::sleep(Duration::from_millis(50));
        }
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
