//! A real PostgreSQL server on loopback for tests: Debian's PostgreSQL (the newest
//! `/usr/lib/postgresql/<v>/bin`), a temporary cluster made by `initdb` as the `postgres`
//! user (so root is needed), TLS with a certificate from a test CA for `localhost` and
//! 127.0.0.1, `password_encryption = scram-sha-256`, and a login with a password. Stopped
//! (immediate shutdown) when dropped, also on panic.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kube_standin::pki::CertificateAuthority;

/// The login the tests use, and its password (with characters URLs must encode).
pub const USER: &str = "k3s";
pub const PASSWORD: &str = "s3cret/p@ss:word";

/// The newest PostgreSQL's bin directory.
pub fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

/// The bin directory when the test can run (root, PostgreSQL installed, a `postgres` user),
/// or `None` after saying why it is skipped; under `CI` that is a failure.
pub fn postgres_or_skip(test: &str) -> Option<PathBuf> {
    let root = rustix_is_root();
    let user = Command::new("id")
        .args(["-u", "postgres"])
        .output()
        .is_ok_and(|o| o.status.success());
    let why = match (bin_dir(), root, user) {
        (Some(b), true, true) => return Some(b),
        (None, _, _) => "no PostgreSQL (install Debian's postgresql)",
        (_, false, _) => "not root (initdb must run as the postgres user)",
        (_, _, false) => "no postgres user (install Debian's postgresql)",
    };
    let msg = format!("SKIPPED {test}: {why}\n");
    if super::in_ci() {
        panic!("{msg}(CI is set, so this is a failure)");
    }
    let _ = std::io::stderr().write_all(msg.as_bytes());
    None
}

fn rustix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// One running server.
pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
    /// The CA that signed the server's certificate.
    pub ca_pem: String,
    child: Option<Child>,
}

fn as_postgres(bin: &Path, tool: &str, args: &[&str]) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", "postgres", "--"])
        .arg(bin.join(tool))
        .args(args);
    c
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    let ok = Command::new("chown")
        .arg("postgres:")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "chown {}", path.display());
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

impl Postgres {
    /// A new cluster, started and accepting the test login over TLS.
    pub async fn start(bin: PathBuf) -> Postgres {
        let dir = tempfile::Builder::new()
            .prefix("kube-standin-pg-")
            .tempdir()
            .unwrap();
        let ok = Command::new("chown")
            .arg("postgres:")
            .arg(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let pw = dir.path().join("pw");
        write_private(&pw, PASSWORD);
        let data = dir.path().join("data");
        let out = as_postgres(
            &bin,
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                USER,
                "--pwfile",
                pw.to_str().unwrap(),
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
        )
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(&pw).unwrap();
        let ca = CertificateAuthority::generate("kube-standin test postgres CA").unwrap();
        let cert = ca
            .issue_server(
                "localhost",
                &["localhost".to_owned()],
                &["127.0.0.1".parse().unwrap()],
            )
            .unwrap();
        write_private(&dir.path().join("server.crt"), &cert.cert_pem);
        write_private(&dir.path().join("server.key"), &cert.key_pem);
        let mut pg = Postgres {
            bin,
            dir,
            port: free_port(),
            ca_pem: ca.cert_pem().to_owned(),
            child: None,
        };
        pg.run().await;
        pg
    }

    /// Starts the server on its data directory and waits until it accepts connections.
    pub async fn run(&mut self) {
        assert!(self.child.is_none());
        let d = self.dir.path();
        let data = d.join("data");
        let port = self.port.to_string();
        let (cert, key) = (d.join("server.crt"), d.join("server.key"));
        let settings = [
            "listen_addresses=127.0.0.1".to_owned(),
            format!("port={port}"),
            format!("unix_socket_directories={}", d.display()),
            "ssl=on".to_owned(),
            format!("ssl_cert_file={}", cert.display()),
            format!("ssl_key_file={}", key.display()),
            "password_encryption=scram-sha-256".to_owned(),
            "fsync=off".to_owned(),
        ];
        let mut args = vec!["-D".to_owned(), data.display().to_string()];
        for s in &settings {
            args.push("-c".into());
            args.push(s.clone());
        }
        let log = std::fs::File::create(d.join("postgres.log")).unwrap();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let child = as_postgres(&self.bin, "postgres", &refs)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..200 {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &port, "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("PostgreSQL did not start: {}", self.log());
    }

    /// Stops the server at once (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = as_postgres(
                &self.bin,
                "pg_ctl",
                &[
                    "stop",
                    "-m",
                    "immediate",
                    "-D",
                    self.dir.path().join("data").to_str().unwrap(),
                ],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// A k3s datastore endpoint for database `db` with `sslmode`.
    pub fn endpoint(&self, password: &str, db: &str, sslmode: &str) -> String {
        let enc: String = password
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        format!(
            "postgres://{USER}:{enc}@localhost:{}/{db}?sslmode={sslmode}",
            self.port
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
