#!/usr/bin/env bash
# The main job on the local cloud (README "Quick start"), on real hosts: install what the local
# cloud's hosts need (scripts/install-deps.sh, the test script's installer), build `platform`,
# write a local config, check the machine with `platform doctor`, run every phase with
# `platform up` (infra, inventory, nodes: the hosts prepared and k3s installed on them; the
# local config asks for no GitOps controller), list the nodes with `kubectl` through the
# cluster's own kubeconfig (never the user's ~/.kube/config), run a command on every node,
# show `platform status`, and tear it all down with `platform down`. Any failure fails the
# demo.
#
# Nothing is left running when it ends, on every path (success, a failure in the middle,
# Ctrl-C): no local cloud, no network namespace, no sshd of its hosts. Only --keep keeps the
# cluster; remove it later with `platform down --yes` in the demo directory.
#
#   scripts/demo.sh [--keep] [--dir DIR]     (root; DIR defaults to ./demo)
#   PLATFORM_BIN=/path/to/platform scripts/demo.sh   uses that binary instead of building one
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

keep=0
dir=$root/demo
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=1 ;;
    --dir) dir=${2:?--dir needs a directory}; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--keep] [--dir DIR]" >&2; exit 2 ;;
  esac
  shift
done

say() { printf 'demo: %s\n' "$*"; }

"$root/scripts/install-deps.sh" --hosts
if [ -n "${PLATFORM_BIN:-}" ]; then
  bin=$PLATFORM_BIN
else
  (cd "$root" && cargo build --release --locked)
  bin=$root/target/release/platform
fi

mkdir -p "$dir"
cd "$dir"
dir=$(pwd)

# From here on something may run in the background (the cluster's local cloud and its
# hosts): whatever way the script ends, it is removed unless --keep was given.
log=""
cleanup() {
  local rc=$?
  trap - EXIT
  [ -z "$log" ] || rm -f "$log"
  # A second Ctrl-C must not cut the cleanup short and leave the hosts running.
  trap '' INT TERM
  if [ "$keep" = 1 ]; then
    if [ -f "$dir/.platform/local-cloud/serve.json" ]; then
      say "kept the cluster and its local cloud (--keep); remove them with: (cd $dir && $bin down --yes)"
    fi
    exit "$rc"
  fi
  if [ "$rc" != 0 ] && [ -d "$dir/.platform" ]; then
    say "stopped early (exit $rc): removing the cluster"
    "$bin" -q down --yes || say "platform down failed; stopping the local cloud all the same"
  fi
  # `down` stops the local cloud once nothing is left; this stops it in every other case,
  # and waits until its hosts (namespaces, sshd) are gone.
  if [ -d "$dir/.platform" ]; then
    "$bin" -q local-cloud stop || rc=1
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ -f platform.yaml ] || "$bin" init --cloud local --cluster demo
# Real hosts need root, openssh-server, sudo, iproute2 and free addresses: doctor says what
# is missing and how to install it, before anything is created.
if ! "$bin" doctor; then
  say "this machine lacks what the local cloud's hosts need (see above)"
  exit 1
fi

say "platform up: every phase"
log=$(mktemp)
status=0
"$bin" up 2>&1 | tee "$log" || status=${PIPESTATUS[0]}
for phase in infra inventory nodes gitops; do
  if ! grep -Eq "^$phase +(succeeded|skipped)( |$)" "$log"; then
    say "phase $phase did not succeed (platform up exit $status)"
    exit 1
  fi
  say "phase $phase: $(grep -E "^$phase " "$log" | awk '{print $2}')"
done
if [ "$status" != 0 ]; then
  say "platform up ended with exit $status"
  exit 1
fi

kubeconfig=$("$bin" kubeconfig)
say "kubectl get nodes, through the cluster's own kubeconfig ($kubeconfig)"
if command -v kubectl >/dev/null; then
  kubectl --kubeconfig "$kubeconfig" get nodes -o wide
else
  say "kubectl is not installed; the nodes as platform status sees them follow"
fi

say "platform run: a command on every node over SSH"
"$bin" run -- 'hostname; uname -r'
"$bin" status

if [ "$keep" = 1 ]; then
  exit 0
fi
say "platform down: removing everything the cluster created"
"$bin" down --yes
say "done: nothing left running"
