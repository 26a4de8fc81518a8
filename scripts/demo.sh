#!/usr/bin/env bash
# The main job on the local cloud (README "Quick start"), on real hosts: install what the local
# cloud's hosts need (scripts/install-deps.sh, the test script's installer), build `platform`,
# write a local config, check the machine with `platform doctor`, run every phase with
# `platform up` (infra, inventory, nodes: the hosts prepared and k3s installed on them; no
# GitOps controller yet), list the nodes with `kubectl` through the cluster's own kubeconfig
# (never the user's ~/.kube/config), run a command on every node, then bootstrap Flux:
#
#   - a fleet repository: a bare Git repository on one of the cluster's own agent hosts,
#     served over SSH, with one commit (clusters/demo/hello.yaml: Namespace and ConfigMap
#     `hello`) pushed from a local work tree (DIR/fleet);
#   - `gitops.controller: flux` with `gitops.manifests: tests/fixtures/gitops/flux-install.yaml`,
#     the Flux-SHAPED fixture (no real Flux controller can run on the local cloud: no
#     containers; the k3s stand-in reconciles GitRepository and Kustomization itself, with
#     real git), and the Git host's key pinned through `gitops.known_hosts` (the key
#     platform recorded when it first reached that host);
#   - `platform up`: it prints the deploy key it generated and stops at the source (the Git
#     host does not know the key yet, as with any Git host); the key goes into the Git
#     host's authorized_keys (a read-only deploy key on GitHub), and `platform up` again
#     syncs the repository;
#
# then shows the repository's ConfigMap in the cluster with `kubectl`, `platform status` with
# the GitRepository and Kustomization Ready at the commit, and tears it all down with
# `platform down`. Any failure fails the demo.
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
    -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
# The first `up` builds the cluster without GitOps: the Git host is one of its own hosts, so
# it exists only afterwards (a demo run again in this directory starts over the same way).
sed -i 's/^  controller: flux$/  controller: none/' platform.yaml
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

# --- GitOps: Flux syncing a repository served by one of the cluster's hosts ---------------

# The Git host: the first agent, as the inventory's INI form lists it.
agent=$("$bin" inventory --format ini | awk '
  /^\[/ { group = $0; next }
  group == "[agents]" && NF > 1 {
    for (i = 2; i <= NF; i++) { n = index($i, "="); v[substr($i, 1, n - 1)] = substr($i, n + 1) }
    print $1, v["ansible_host"], v["ansible_user"]; exit
  }' | tr -d "'")
read -r git_host git_ip git_user <<<"$agent"
if [ -z "${git_user:-}" ]; then
  say "no agent host in the inventory to serve the fleet repository"
  exit 1
fi
# Its host key, pinned: the one platform recorded when `nodes` first reached it.
known=$dir/git-known-hosts
{ ssh-keygen -F "$git_ip" -f "$dir/.platform/known_hosts" || true; } | { grep -v '^#' || true; } >"$known"
if [ ! -s "$known" ]; then
  say "platform recorded no host key for $git_host ($git_ip)"
  exit 1
fi
ssh_args=(ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -i "$dir/.platform/secrets/id_ed25519"
  -o "UserKnownHostsFile=$known" -o StrictHostKeyChecking=yes)
say "fleet repository: bare, on $git_host ($git_ip), served over SSH"
repo_path=$("${ssh_args[@]}" "$git_user@$git_ip" 'git init -q --bare -b main fleet.git && cd fleet.git && pwd')
url="ssh://$git_user@$git_ip$repo_path"

work=$dir/fleet
rm -rf "$work"
mkdir -p "$work/clusters/demo"
cat >"$work/clusters/demo/hello.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata:
  name: hello
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: hello
  namespace: hello
data:
  greeting: hello from Git
EOF
git -C "$work" init -q -b main
git -C "$work" add .
git -C "$work" -c user.name=demo -c user.email=demo@example.invalid commit -q -m "hello from Git"
GIT_SSH_COMMAND=$(printf '%q ' "${ssh_args[@]}") git -C "$work" push -q --force "$url" main
revision="main@sha1:$(git -C "$work" rev-parse HEAD)"
say "pushed clusters/demo/hello.yaml to $url ($revision)"

# Flux with the Flux-SHAPED fixture as its install manifests: no real Flux controller can run
# on the local cloud (no containers); the k3s stand-in reconciles GitRepository and
# Kustomization itself, with real git from a server host.
sed -i \
  -e 's|^  controller: none$|  controller: flux|' \
  -e "s|^  \(# \)\{0,1\}repository: .*\$|  repository: $url|" \
  -e "s|^  \(# \)\{0,1\}known_hosts: .*\$|  known_hosts: $known|" \
  -e "s|^  \(# \)\{0,1\}manifests: .*\$|  manifests: $root/tests/fixtures/gitops/flux-install.yaml|" \
  platform.yaml
for want in "  controller: flux" "  repository: $url" "  known_hosts: $known" "  path: clusters/demo"; do
  if ! grep -qxF "$want" platform.yaml; then
    say "platform.yaml's gitops section is not the one \`platform init\` writes (no \"$want\")"
    exit 1
  fi
done
say "gitops: controller flux, repository $url, manifests tests/fixtures/gitops/flux-install.yaml (Flux-shaped fixture)"

say "platform up: Flux through the Kubernetes API, then its source"
status=0
"$bin" up 2>&1 | tee "$log" || status=${PIPESTATUS[0]}
if [ "$status" != 0 ]; then
  # Expected on the first run: the Git host refuses the deploy key platform just generated.
  if ! grep -q 'GitRepository flux-system/flux-system is not Ready' "$log"; then
    say "platform up failed (exit $status) before Flux's source"
    exit 1
  fi
  key=$({ grep -o 'deploy key to .*: ssh-ed25519 [A-Za-z0-9+/=]*' "$log" || true; } | grep -o 'ssh-ed25519 .*' | head -n 1 || true)
  if [ -z "$key" ]; then
    # Generated by an earlier run of the demo in this directory: up printed it then.
    key=$(ssh-keygen -y -f "$dir/.platform/secrets/flux-deploy-key" | cut -d' ' -f1,2)
  fi
  say "the Git host does not know the deploy key platform printed; adding it to $git_host's authorized_keys (a read-only deploy key on a Git service)"
  "${ssh_args[@]}" "$git_user@$git_ip" "printf '%s\\n' '$key' >> ~/.ssh/authorized_keys"
  say "platform up: again, with the deploy key on the Git host"
  status=0
  "$bin" up 2>&1 | tee "$log" || status=${PIPESTATUS[0]}
fi
if [ "$status" != 0 ] || ! grep -Eq '^gitops +succeeded( |$)' "$log"; then
  say "platform up did not sync the repository (exit $status)"
  exit 1
fi
if ! grep -qF "$revision" "$log"; then
  say "platform up did not report the pushed revision $revision"
  exit 1
fi
say "gitops: Flux synced $revision"

if command -v kubectl >/dev/null; then
  say "kubectl: the repository's objects in the cluster, applied by the Kustomization"
  kubectl --kubeconfig "$kubeconfig" get configmap hello -n hello -L kustomize.toolkit.fluxcd.io/name
  greeting=$(kubectl --kubeconfig "$kubeconfig" get configmap hello -n hello -o 'jsonpath={.data.greeting}')
  if [ "$greeting" != "hello from Git" ]; then
    say "ConfigMap hello/hello says ${greeting:-nothing}, not what the repository holds"
    exit 1
  fi
  say "from the repository, in the cluster: ConfigMap hello/hello greeting=$greeting"
fi

say "platform status: the GitRepository and Kustomization Ready at $revision"
"$bin" status | tee "$log"
for kind in GitRepository Kustomization; do
  if ! grep -qF "$kind flux-system/flux-system: Ready=True $revision" "$log"; then
    say "platform status does not show $kind Ready at $revision"
    exit 1
  fi
done

if [ "$keep" = 1 ]; then
  exit 0
fi
say "platform down: removing everything the cluster created"
"$bin" down --yes
say "done: nothing left running"
