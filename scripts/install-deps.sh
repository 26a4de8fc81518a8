#!/usr/bin/env bash
# Installs what platform's demo and tests need on a fresh Debian machine; the one installer
# both scripts/demo.sh and scripts/test.sh call. Safe to re-run: it installs only what is
# missing.
#
#   scripts/install-deps.sh           everything the tests need: the Debian packages below,
#                                     man-db, then ansible-core + ansible-lint in .venv-ansible
#   scripts/install-deps.sh --hosts   only the Debian packages the local cloud's hosts need
#                                     (what the demo needs)
#
# Debian packages (root only; elsewhere it says what is missing and goes on, and
# `platform doctor` names the same items): openssh-client and openssh-server (every host
# runs Debian's sshd), sudo, iproute2 (network namespaces, bridges), the tools a host is
# made with (util-linux's unshare, mount, coreutils' chroot and mknod, hostname), and
# etcd-server (the k3s stand-in's servers run a real etcd member with embedded etcd; also
# what kube-standin's etcd store tests run), git (the stand-in's Flux reconcilers fetch
# with it from the server hosts; the demo serves its fleet repository with it), and
# postgresql (the local cloud's Flexible Servers are Debian's PostgreSQL, run as its
# `postgres` user; kube-standin's PostgreSQL store tests start one too).
set -euo pipefail
cd "$(dirname "$0")/.."

hosts_only=0
case "${1:-}" in
  --hosts) hosts_only=1 ;;
  "") ;;
  *) echo "usage: $0 [--hosts]" >&2; exit 2 ;;
esac

is_root() { [ "$(id -u)" = 0 ]; }

apt_install() {
  echo "installing: $*"
  # The package lists of a fresh machine are empty until the first update.
  if [ -z "${apt_updated:-}" ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need_apt=()
# command:package; sshd is looked for where Debian puts it (root's PATH may lack /usr/sbin).
for pair in ssh:openssh-client sshd:openssh-server sudo:sudo ip:iproute2 \
  unshare:util-linux mount:mount chroot:coreutils mknod:coreutils hostname:hostname \
  etcd:etcd-server git:git; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
    case " ${need_apt[*]} " in *" $pkg "*) ;; *) need_apt+=("$pkg") ;; esac
  fi
done
# The server is not on PATH: Debian installs each major version under /usr/lib/postgresql.
if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || ! id postgres >/dev/null 2>&1; then
  need_apt+=(postgresql)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if is_root && command -v apt-get >/dev/null; then
    apt_install "${need_apt[@]}"
  else
    echo "missing (install as root: apt-get install -y ${need_apt[*]}): the local cloud's hosts and the tests that use them need them" >&2
  fi
fi
[ "$hosts_only" = 1 ] && exit 0

# man, for the test that renders `platform man` with `man -l` (tests/cli/newcomer_cli.rs).
if ! command -v man >/dev/null 2>&1 && is_root && command -v apt-get >/dev/null; then
  apt_install man-db
fi

# Real Ansible for the compatibility tests (those gated by Need::Ansible in tests/):
# ansible-core in a virtualenv of its own, found by the tests through PLATFORM_ANSIBLE_BIN
# (scripts/test.sh sets it to .venv-ansible/bin).
venv=.venv-ansible
if [ ! -x "$venv/bin/ansible-inventory" ]; then
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    if is_root && command -v apt-get >/dev/null; then apt_install python3-venv; fi
  fi
  echo "installing ansible-core into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q ansible-core
fi
# ansible-lint in the same virtualenv, for tests/cli/playbooks_lint.rs (every shipped playbook
# passes its production profile, checked offline). ansible-core is pinned to the installed
# version so that adding the linter never changes the Ansible the other tests run.
if [ ! -x "$venv/bin/ansible-lint" ]; then
  core=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("ansible-core"))')
  echo "installing ansible-lint into $venv (ansible-core $core kept)"
  "$venv/bin/pip" install -q ansible-lint "ansible-core==$core"
fi
