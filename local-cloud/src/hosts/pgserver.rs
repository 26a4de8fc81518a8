//! One PostgreSQL server's processes: Debian's `postgres`, `initdb` and `psql`, run as the
//! `postgres` user in the server's network namespace. Each runs in a private mount
//! namespace where the server's directory (under the local cloud's data dir, whose parents
//! the `postgres` user may not traverse) is bound at `/var/lib/postgresql`, the package's
//! home for its clusters. Passwords go to the programs on stdin or in the environment,
//! never in argv, and the server never logs statements (`log_statement = none`,
//! `log_min_error_statement = panic`), so `ALTER ROLE ... PASSWORD` stays out of its log.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use super::HostError;
use super::host::log_tail;

/// Where Debian installs each major version (`<major>/bin/postgres`).
const INSTALL_ROOT: &str = "/usr/lib/postgresql";
/// Where the server's directory is bound in its programs' mount namespace.
pub const ROOT: &str = "/var/lib/postgresql";
/// The server's log, in its directory.
pub const LOG: &str = "postgres.log";
/// How long a starting server may take to accept a login.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// One PostgreSQL installation of this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// `15`
    pub major: String,
    /// `15.18`, from `postgres --version`.
    pub full: String,
    pub bin: PathBuf,
}

/// The PostgreSQL installations of this machine, oldest first.
pub fn installed() -> Vec<Install> {
    let mut found: Vec<Install> = std::fs::read_dir(INSTALL_ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_string_lossy().into_owned();
            major.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            let out = std::process::Command::new(bin.join("postgres"))
                .arg("--version")
                .output()
                .ok()?;
            // `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let full = text.split_whitespace().nth(2)?.to_string();
            Some(Install { major, full, bin })
        })
        .collect();
    found.sort_by_key(|i| i.major.parse::<u32>().unwrap_or(0));
    found
}

/// The installation that serves a request for major `requested`: that one if the machine
/// has it, else the newest (the server records which runs).
pub fn pick<'a>(installs: &'a [Install], requested: &str) -> Option<&'a Install> {
    installs
        .iter()
        .find(|i| i.major == requested)
        .or_else(|| installs.last())
}

/// Single-quotes `s` as an SQL string literal (`standard_conforming_strings` is on).
pub fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Double-quotes `s` as an SQL identifier.
pub fn sql_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A server's programs: its directory, namespace and installation.
#[derive(Debug, Clone)]
pub struct Server {
    pub dir: PathBuf,
    pub netns: String,
    pub install: Install,
}

/// What a program of the server did.
pub struct Ran {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Server {
    /// A command running `program args` of the installation as `postgres` in the server's
    /// namespaces, with a clean environment plus `env`.
    fn command(
        &self,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> tokio::process::Command {
        let mut c = tokio::process::Command::new("ip");
        c.args(["netns", "exec", &self.netns])
            .args(["unshare", "--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount --bind \"$0\" {ROOT} && exec setpriv --reuid=postgres --regid=postgres --init-groups \"$@\""
            ))
            .arg(&self.dir)
            .arg(self.install.bin.join(program))
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LANG", "C.UTF-8")
            .env("HOME", ROOT)
            .envs(env.iter().copied())
            .kill_on_drop(true);
        c
    }

    /// Runs `program args` to its end with `stdin` as its input.
    pub async fn run(
        &self,
        program: &str,
        args: &[&str],
        stdin: &str,
        env: &[(&str, &str)],
    ) -> Result<Ran, HostError> {
        let cmd = || format!("{program} {}", args.join(" "));
        let mut child = self
            .command(program, args, env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| HostError::Command {
                cmd: cmd(),
                detail: e.to_string(),
            })?;
        if let Some(mut input) = child.stdin.take() {
            // A program that exits early closes its stdin: its output says why.
            let _ = input.write_all(stdin.as_bytes()).await;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| HostError::Command {
                cmd: cmd(),
                detail: e.to_string(),
            })?;
        Ok(Ran {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    /// Runs SQL `sql` (on stdin) as `admin` over the server's socket, which only root and
    /// `postgres` can reach (`local all all trust`); returns its unaligned output.
    pub async fn sql(&self, admin: &str, sql: &str) -> Result<String, HostError> {
        let socket = format!("{ROOT}/run");
        let args = [
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            &socket,
            "-U",
            admin,
            "-d",
            "postgres",
            "-f",
            "-",
        ];
        let ran = self.run("psql", &args, sql, &[]).await?;
        if !ran.ok {
            return Err(HostError::Command {
                cmd: "psql (the server's socket)".into(),
                detail: ran.stderr,
            });
        }
        Ok(ran.stdout)
    }

    /// Creates the cluster with `admin` as its superuser and `password` its password, into
    /// `data.new` then renamed to `data`: a crash midway leaves no cluster that looks made.
    /// `initdb` reads the password from a 0600 file of `postgres`, removed when it is done
    /// (its stdin is a pipe of root's, which `postgres` may not open by name).
    pub async fn init(&self, admin: &str, password: &str) -> Result<(), HostError> {
        let fresh = self.dir.join("data.new");
        super::sys::remove_dir(&fresh).await?;
        owned_dir(&fresh)?;
        let pwfile = self.dir.join("initdb.pw");
        write_owned(&pwfile, &format!("{password}\n"), 0o600)?;
        let target = format!("{ROOT}/data.new");
        let pw_arg = format!("--pwfile={ROOT}/initdb.pw");
        let args = [
            "-D",
            &target,
            "-U",
            admin,
            &pw_arg,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-instructions",
        ];
        let ran = self.run("initdb", &args, "", &[]).await;
        let _ = std::fs::remove_file(&pwfile);
        let ran = ran?;
        if !ran.ok {
            return Err(HostError::Command {
                cmd: "initdb".into(),
                detail: ran.stderr,
            });
        }
        let data = self.dir.join("data");
        std::fs::rename(&fresh, &data).map_err(|source| HostError::Io {
            path: data.display().to_string(),
            source,
        })
    }

    /// Whether the cluster exists.
    pub fn initialized(&self) -> bool {
        self.dir.join("data/PG_VERSION").is_file()
    }

    /// Starts the server on `ip:5432` with TLS from `tls/` and waits until it accepts a
    /// login on its socket. The child is the postmaster.
    pub async fn start(
        &self,
        admin: &str,
        ip: std::net::Ipv4Addr,
    ) -> Result<tokio::process::Child, HostError> {
        owned_dir(&self.dir.join("run"))?;
        // Nothing of an earlier run is alive in the namespace (the caller emptied it).
        let _ = std::fs::remove_file(self.dir.join("data/postmaster.pid"));
        let log_path = self.dir.join(LOG);
        let (log, log2) = super::sys::append_log(&log_path)?;
        let settings = [
            format!("listen_addresses={ip}"),
            "port=5432".into(),
            format!("unix_socket_directories={ROOT}/run"),
            format!("hba_file={ROOT}/pg_hba.conf"),
            "ssl=on".into(),
            format!("ssl_cert_file={ROOT}/tls/server.crt"),
            format!("ssl_key_file={ROOT}/tls/server.key"),
            "password_encryption=scram-sha-256".into(),
            "log_statement=none".into(),
            "log_min_error_statement=panic".into(),
            "shared_buffers=16MB".into(),
        ];
        let data = format!("{ROOT}/data");
        let mut args: Vec<&str> = vec!["-D", &data];
        for s in &settings {
            args.extend(["-c", s.as_str()]);
        }
        let mut child = self
            .command("postgres", &args, &[])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| HostError::Command {
                cmd: "postgres".into(),
                detail: e.to_string(),
            })?;
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(HostError::Command {
                    cmd: "postgres".into(),
                    detail: format!("exited ({status}): {}", log_tail(&log_path)),
                });
            }
            if self.sql(admin, "SELECT 1").await.is_ok() {
                return Ok(child);
            }
            if started.elapsed() > START_TIMEOUT {
                let _ = child.kill().await;
                return Err(HostError::Command {
                    cmd: "postgres".into(),
                    detail: format!("no login within {START_TIMEOUT:?}: {}", log_tail(&log_path)),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Logs in over TCP and TLS as a client on the VNet would: `fqdn` verified against
    /// the CA (`tls/ca.pem`), `password` by SCRAM (in the environment, not argv).
    pub async fn login(
        &self,
        fqdn: &str,
        ip: std::net::Ipv4Addr,
        admin: &str,
        password: &str,
    ) -> Result<(), HostError> {
        let conn = format!(
            "host={fqdn} hostaddr={ip} port=5432 dbname=postgres user={admin} sslmode=verify-full sslrootcert={ROOT}/tls/ca.pem"
        );
        let ran = self
            .run(
                "psql",
                &["-X", "-q", "-A", "-t", "-c", "SELECT 1", &conn],
                "",
                &[("PGPASSWORD", password)],
            )
            .await?;
        if ran.ok {
            Ok(())
        } else {
            Err(HostError::Command {
                cmd: format!("psql \"{conn}\""),
                detail: ran.stderr,
            })
        }
    }
}

/// Writes the server's TLS files and `pg_hba.conf` into `dir`: TLS logins only, by SCRAM,
/// from anywhere its network lets through; the socket (root and `postgres` only) trusted.
pub fn configure(dir: &Path, ca_pem: &str, cert: &str, key: &str) -> Result<(), HostError> {
    let tls = dir.join("tls");
    owned_dir(&tls)?;
    write_owned(&tls.join("ca.pem"), ca_pem, 0o644)?;
    write_owned(&tls.join("server.crt"), cert, 0o644)?;
    write_owned(&tls.join("server.key"), key, 0o600)?;
    let hba = "# Written by the platform local cloud: TLS and SCRAM only, as on Azure.\n\
               local all all trust\n\
               hostssl all all 0.0.0.0/0 scram-sha-256\n";
    write_owned(&dir.join("pg_hba.conf"), hba, 0o600)
}

/// The `postgres` user's uid and gid.
fn postgres_ids() -> Result<(u32, u32), HostError> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|source| HostError::Io {
        path: "/etc/passwd".into(),
        source,
    })?;
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&"postgres"))
                .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
        })
        .ok_or_else(|| {
            HostError::Preflight(
                "this machine has no `postgres` user: apt-get install postgresql".into(),
            )
        })
}

fn chown(path: &Path) -> Result<(), HostError> {
    let (uid, gid) = postgres_ids()?;
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|source| HostError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Creates `dir` (mode 0700) owned by `postgres`.
pub fn owned_dir(dir: &Path) -> Result<(), HostError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |source| HostError::Io {
        path: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    chown(dir)
}

fn write_owned(path: &Path, text: &str, mode: u32) -> Result<(), HostError> {
    super::rootfs::write(path, text, mode)?;
    chown(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_identifiers_are_quoted() {
        assert_eq!(sql_literal("it's"), "'it''s'");
        assert_eq!(sql_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn the_requested_version_wins_else_the_newest() {
        let i = |m: &str| Install {
            major: m.into(),
            full: format!("{m}.1"),
            bin: PathBuf::new(),
        };
        let all = [i("15"), i("16")];
        assert_eq!(pick(&all, "15").unwrap().major, "15");
        assert_eq!(pick(&all, "17").unwrap().major, "16");
        assert!(pick(&[], "15").is_none());
    }
}
