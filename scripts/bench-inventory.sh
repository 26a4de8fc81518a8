#!/usr/bin/env bash
# Benchmark of the inventory phase against the local cloud (not part of `cargo test`):
# wall time and ARM requests at 10, 100 and 1,000 VMs, next to what a per-VM lookup
# (one GET per VM, NIC and public IP after a list, like the old Python script) would cost.
#
#   scripts/bench-inventory.sh [--release] [--runs N] [--page-size P] [SIZES...]
#
# One `platform local-cloud serve` process serves every cluster; each size gets its own
# resource group (3 servers, the rest agents without public IPs). Everything it starts is
# stopped and removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
runs=5
page=100
sizes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --release) profile=release; shift ;;
    --runs) runs=$2; shift 2 ;;
    --page-size) page=$2; shift 2 ;;
    *) sizes+=("$1"); shift ;;
  esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(10 100 1000)

if [ "$profile" = release ]; then cargo build -q --release; else cargo build -q; fi
bin="$(pwd)/target/$profile/platform"

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" -q local-cloud serve --data-dir "$work/cloud" --time-factor 0.001 --retry-after 0 \
  --page-size "$page" >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 100); do grep -q '^ca: ' "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
endpoint=$(sed -n 's/^endpoint: //p' "$work/serve.out")
ca=$(sed -n 's/^ca: //p' "$work/serve.out")
[ -n "$endpoint" ] || { cat "$work/serve.err" >&2; echo "local cloud did not start" >&2; exit 1; }
token_file=$(sed -n 's/^token file: //p' "$work/serve.out")
# The API token goes in a header file curl reads, so it never appears in a process list.
printf 'Authorization: Bearer %s\n' "$(cat "$token_file")" >"$work/auth.hdr"
ctl() { curl -sS --cacert "$ca" -H @"$work/auth.hdr" -X "$1" "${endpoint}_local/$2"; }

ms_now() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }

echo "platform inventory phase, local cloud page size $page, $profile build, median of $runs runs"
printf '%6s %10s %10s %14s %14s %16s\n' VMs requests bound phase_ms process_ms per_vm_requests
for n in "${sizes[@]}"; do
  agents=$((n - 3))
  dir="$work/c$n"; mkdir -p "$dir"
  cat >"$dir/platform.yaml" <<EOF
cluster: bench-$n
cloud:
  kind: local
  arm_endpoint: $endpoint
  local_ca: $ca
  local_time_factor: 0.001
network:
  admin_cidrs: [192.0.2.0/24]
  node_subnet: 10.0.4.0/22
gitops:
  controller: none
postgres:
  enabled: false
nodes:
  servers: {count: 3}
  agents: {count: $agents, public_ip: false}
EOF
  (cd "$dir" && "$bin" -q up --only infra >/dev/null)
  phase=(); wall=(); requests=
  for _ in $(seq "$runs"); do
    ctl POST reset-stats >/dev/null
    t0=$(ms_now)
    log=$(cd "$dir" && "$bin" up --only inventory --force-phase inventory 2>&1 >/dev/null)
    t1=$(ms_now)
    wall+=($((t1 - t0)))
    phase+=("$(sed -n 's/.* list requests, \([0-9]*\) ms;.*/\1/p' <<<"$log")")
    requests=$(ctl GET stats | jq .total)
  done
  # Four list calls: servers' VMs, agents' VMs, NICs (one per VM), public IPs (3 servers + 2).
  bound=$(( (3 + page - 1) / page + (agents + page - 1) / page + (n + page - 1) / page + (5 + page - 1) / page ))
  # The per-VM way: the same VM list pages, then one NIC GET per VM and one public IP GET
  # per server (agents have none here).
  per_vm=$(( (3 + page - 1) / page + (agents + page - 1) / page + n + 3 ))
  printf '%6d %10d %10d %14d %14d %16d\n' "$n" "$requests" "$bound" \
    "$(printf '%s\n' "${phase[@]}" | median)" "$(printf '%s\n' "${wall[@]}" | median)" "$per_vm"
done
