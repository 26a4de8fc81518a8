#!/usr/bin/env bash
# The project's test command (README "Quick start"): installs what the tests need on a
# fresh Debian machine, then runs every test. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# Tests of later phases use real OpenSSH servers, sudo and iproute2; install them when
# missing (root only; elsewhere the tests that need them say what is missing).
for pair in ssh:openssh-client sshd:openssh-server sudo:sudo ip:iproute2; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then need_apt+=("$pkg"); fi
done
if [ ${#need_apt[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# Real Ansible for the compatibility tests (every test gated by Need::Ansible in tests/:
# ansible-inventory, ansible-playbook, ansible-lint): ansible-core in a virtualenv of its own,
# found by the tests through PLATFORM_ANSIBLE_BIN (support::require).
venv=.venv-ansible
if [ ! -x "$venv/bin/ansible-inventory" ]; then
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing: python3-venv"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    fi
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
PLATFORM_ANSIBLE_BIN="$(pwd)/$venv/bin"
export PLATFORM_ANSIBLE_BIN

# Python's official Kubernetes client, a peer that checks the k3s stand-in's API
# (kube-standin/tests/python_client.rs, which also creates this virtualenv when missing).
kvenv=.venv-kube-python
if ! "$kvenv/bin/python" -c 'import kubernetes' 2>/dev/null; then
  echo "installing the kubernetes Python client into $kvenv"
  rm -rf "$kvenv"
  python3 -m venv "$kvenv"
  "$kvenv/bin/pip" install -q kubernetes
fi
KUBE_STANDIN_PYTHON="$(pwd)/$kvenv/bin/python"
export KUBE_STANDIN_PYTHON

# The host tests (local-cloud VMs as namespaced SSH hosts, test sshds) need root:
# elsewhere they print "SKIPPED <test>: <why>", and fail when CI is set. Benchmarks are not
# tests: benches/*.rs return at once here; docs/benchmarks.md says how to run them.
# Every crate of the workspace (the product, and local-cloud with its `hosts` feature,
# which the product enables)...
cargo test --locked --workspace --all-targets
# ...and local-cloud as a crate of its own without that feature (no root-only code: asking
# for hosts is refused, the ARM stand-in still serves).
cargo test --locked -p local-cloud --no-default-features --all-targets
