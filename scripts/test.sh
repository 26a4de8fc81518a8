#!/usr/bin/env bash
# The project's test command (README "Quick start"): installs what the tests need on a
# fresh Debian machine (scripts/install-deps.sh), then runs every test. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tests need (the Debian packages of the local cloud's hosts, ansible-core and
# ansible-lint in .venv-ansible): the same installer as scripts/demo.sh. Every test gated by
# Need::Ansible in tests/ finds those tools through PLATFORM_ANSIBLE_BIN (support::require).
./scripts/install-deps.sh
venv=.venv-ansible
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
