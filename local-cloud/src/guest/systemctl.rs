//! `systemctl` on a host: a small client of the host's init. It sends its arguments over
//! the init's control socket and prints what the init answers, with its exit code; the
//! init parses and runs the verb (`verbs`). Started under another name (`reboot`,
//! `poweroff`, ... are symlinks to `systemctl` on Debian) it asks for that verb.

use std::io::{Read as _, Write as _};

use serde::{Deserialize, Serialize};

use super::manager::SOCKET;

/// What `systemctl` sends.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    pub argv: Vec<String>,
}

/// What the init answers: the text for stdout and stderr, and the exit code.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Response {
    pub out: String,
    pub err: String,
    pub code: i32,
}

/// Runs `systemctl` (or `argv0`, a verb under another name) with `args`.
pub fn main(argv0: &str, args: &[String]) -> i32 {
    let mut argv: Vec<String> = Vec::new();
    if argv0 != "systemctl" {
        argv.push(argv0.to_string());
    }
    argv.extend(args.iter().cloned());
    let resp = match ask(&argv) {
        Ok(r) => r,
        Err(_) => Response {
            err: "System has not been booted with systemd as init system (PID 1). Can't operate.\n\
                  Failed to connect to bus: Host is down\n"
                .into(),
            code: 1,
            ..Response::default()
        },
    };
    let _ = std::io::stdout().lock().write_all(resp.out.as_bytes());
    let _ = std::io::stderr().lock().write_all(resp.err.as_bytes());
    resp.code
}

fn ask(argv: &[String]) -> std::io::Result<Response> {
    let mut sock = std::os::unix::net::UnixStream::connect(SOCKET)?;
    let mut line = serde_json::to_string(&Request {
        argv: argv.to_vec(),
    })
    .map_err(std::io::Error::other)?;
    line.push('\n');
    sock.write_all(line.as_bytes())?;
    let mut answer = String::new();
    sock.read_to_string(&mut answer)?;
    serde_json::from_str(&answer).map_err(std::io::Error::other)
}
