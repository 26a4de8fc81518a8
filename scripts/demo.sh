#!/usr/bin/env bash
# The main job on the local cloud (README "Quick start"): build, write a local config in
# ./demo, run `platform up`, run a command on every node, show `platform status`, tear
# down with `platform down`. Needs only Rust; as root with openssh-server, sudo and
# iproute2 installed (scripts/test.sh installs them) the local cloud's VMs are real SSH
# hosts and the nodes phase prepares them over SSH.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
bin="$PWD/target/release/platform"
mkdir -p demo
cd demo
[ -f platform.yaml ] || "$bin" init --cloud local --cluster demo
status=0
# Every phase this build has. The nodes phase prepares the hosts and then stops with
# "not built yet" for the k3s install (a later issue): that one exit code 1 is expected.
out=$("$bin" -o json up) || status=$?
echo "$out"
if [ "$status" != 0 ] && ! grep -q 'phase nodes is not built yet' <<<"$out"; then
  "$bin" status || true
  exit "$status"
fi
if grep -q 'prepared' <<<"$out" || "$bin" -q run -- true >/dev/null 2>&1; then
  "$bin" run -- 'hostname; uname -r'
fi
"$bin" status
if [ "${KEEP:-0}" != 1 ]; then "$bin" down --yes; fi
