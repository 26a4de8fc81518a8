//! Namespace hosts shaped like the local cloud's: each command runs in a persistent network
//! namespace, chrooted into a copy-on-write overlay of `/` (the machine's kernel and UTS
//! namespace), so a playbook run as root changes only the overlay's upper dir.

use platform::ssh::host::{ExecOutput, ExecRequest, Host, HostError, shell_quote};
use std::path::{Path, PathBuf};
use support::Need;

/// What a namespace host takes.
pub(crate) const NS_HOSTS: [Need; 4] = [
    Need::Root,
    Need::Command("ip"),
    Need::Command("unshare"),
    Need::Command("chroot"),
];

/// A host whose every command runs in a persistent network namespace, chrooted into an
/// overlay of `/` whose upper dir persists between commands (the mount itself lives only
/// as long as the command's private mount namespace, so nothing is left mounted).
pub(crate) struct NsHost {
    name: String,
    netns: String,
    /// The overlay's upper dir: every file the host's commands wrote.
    pub(crate) upper: PathBuf,
    work: PathBuf,
    merged: PathBuf,
}

impl NsHost {
    /// A host named `name` with its overlay under `root/name`.
    pub(crate) fn create(root: &Path, name: &str) -> NsHost {
        // Unique per host of this process, even for two hosts of the same name.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let netns = format!("pb-test-{}-{n}-{name}", std::process::id());
        let dir = root.join(name);
        let h = NsHost {
            name: name.into(),
            netns,
            upper: dir.join("upper"),
            work: dir.join("work"),
            merged: dir.join("merged"),
        };
        for d in [&h.upper, &h.work, &h.merged] {
            std::fs::create_dir_all(d).unwrap();
        }
        let ok = std::process::Command::new("ip")
            .args(["netns", "add", &h.netns])
            .status()
            .unwrap()
            .success();
        assert!(ok, "ip netns add {}", h.netns);
        h
    }
}

impl NsHost {
    /// `ansible-playbook ARGS` run inside the host with the interpreter beside it (the
    /// system's may not be usable): its exit status and stdout.
    pub(crate) async fn ansible_playbook(&self, args: &str) -> (i32, String) {
        let ansible = support::ansible("ansible-playbook");
        let cmd = format!(
            "ANSIBLE_NOCOLOR=1 HOME=/root {} -e ansible_python_interpreter={} {args}",
            ansible.display(),
            ansible.with_file_name("python").display(),
        );
        let out = self
            .exec(ExecRequest {
                command: &cmd,
                ..Default::default()
            })
            .await
            .unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

impl Drop for NsHost {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

#[async_trait::async_trait]
impl Host for NsHost {
    fn name(&self) -> &str {
        &self.name
    }

    async fn exec(&self, req: ExecRequest<'_>) -> Result<ExecOutput, HostError> {
        let m = self.merged.display();
        let setup = format!(
            "mount -t overlay overlay -o lowerdir=/,upperdir={u},workdir={w} {m} && mount --bind /proc {m}/proc && mount --bind /dev {m}/dev && mount -t tmpfs tmpfs {m}/run && exec chroot {m} /bin/sh -c {cmd} sh \"$@\"",
            u = self.upper.display(),
            w = self.work.display(),
            cmd = shell_quote(req.command),
        );
        let local = platform::ssh::host::LocalHost::new(&self.name);
        let wrapped = format!(
            // The request's arguments ("$@") are handed down to the command's own shell.
            "exec ip netns exec {} unshare --mount --propagation private /bin/sh -c {} sh \"$@\"",
            self.netns,
            shell_quote(&setup)
        );
        local
            .exec(ExecRequest {
                command: &wrapped,
                become_root: false,
                ..req
            })
            .await
    }
}
