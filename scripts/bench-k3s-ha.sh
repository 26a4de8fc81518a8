#!/usr/bin/env bash
# How long three k3s stand-in servers with embedded etcd take to be Ready, joined one at a
# time as the nodes phase joins them (first with --cluster-init, then two with --server),
# and how much memory a server and its etcd member hold once idle.
#
#   scripts/bench-k3s-ha.sh [--repeat N] [--factor F] [--idle SECONDS]
#
# Each server runs on its own loopback address (127.0.0.2-4) with its own ports
# (LOCAL_CLOUD_K3S_ETCD_PORTS), at LOCAL_CLOUD_TIME_FACTOR=F (default 0.01, the tests'
# factor). "Ready" is the server's `k3s is up and running` line, logged right before it
# sends READY=1. RSS and PSS are read from /proc after --idle seconds (default 10).
# Needs Debian's etcd (etcd-server) and the debug build of the stand-in
# (cargo build -p local-cloud --features k3s).
set -euo pipefail
cd "$(dirname "$0")/.."

repeat=3 factor=0.01 idle=10
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) repeat=$2; shift 2 ;;
    --factor) factor=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    *) echo "usage: $0 [--repeat N] [--factor F] [--idle SECONDS]" >&2; exit 2 ;;
  esac
done
bin=target/debug/local-cloud-k3s
[ -x "$bin" ] || { echo "no $bin: cargo build -p local-cloud --features k3s" >&2; exit 1; }
command -v etcd >/dev/null || [ -x /usr/bin/etcd ] || { echo "no etcd: apt-get install etcd-server" >&2; exit 1; }

work=$(mktemp -d /tmp/bench-k3s-ha.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l | xargs printf '%.2f'; }

# A free TCP port on loopback.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start RUN N EXTRA...: server N of run RUN in the background; its pid in pids, its
# directory in $dir (no command substitution: the server must be this shell's child).
start() {
  local run=$1 n=$2; shift 2
  dir=$work/$run/s$n
  mkdir -p "$dir"
  LOCAL_CLOUD_TIME_FACTOR=$factor LOCAL_CLOUD_K3S_ETCD_PORTS="$(port),$(port)" \
    "$bin" --local-cloud-k3s v1.31.4+k3s1 server --data-dir "$dir/data" \
    --https-listen-port "$(port)" --node-ip "127.0.0.$((n + 1))" --node-name "s$n" \
    --write-kubeconfig "$dir/k3s.yaml" "$@" >"$dir/log" 2>&1 &
  pids+=($!)
}

# ready DIR: waits for the server's ready line (fails if it exits first).
ready() {
  local dir=$1 pid=${pids[-1]}
  until grep -qs 'k3s is up and running' "$dir/log"; do
    kill -0 "$pid" 2>/dev/null || { echo "server in $dir exited:" >&2; tail -20 "$dir/log" >&2; exit 1; }
    sleep 0.05
  done
}

# kib PID FIELD: VmRSS from status, or Pss from smaps_rollup, in KiB.
kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/$([ "$2" = Pss ] && echo smaps_rollup || echo status)"; }

printf '%-4s %8s %8s %8s %8s   %s\n' run first second third total "idle RSS/PSS per server: k3s + etcd (MiB)"
for run in $(seq 1 "$repeat"); do
  pids=()
  t0=$(now)
  start "$run" 1 --cluster-init; ready "$dir"; t1=$(since "$t0")
  url=$(grep -o 'k3s server -s https://[^ ]*' "$dir/log" | head -1 | sed 's/.* -s //')
  token=$(cat "$dir/data/server/token")
  s=$(now); start "$run" 2 --server "$url" --token "$token"; ready "$dir"; t2=$(since "$s")
  s=$(now); start "$run" 3 --server "$url" --token "$token"; ready "$dir"; t3=$(since "$s")
  total=$(since "$t0")
  sleep "$idle"
  mem=""
  for i in 0 1 2; do
    k=${pids[$i]}
    e=$(pgrep -f -- "--data-dir $work/$run/s$((i + 1))/data/server/db/etcd" | head -1)
    mem+=$(printf '%s %.0f/%.0f + %.0f/%.0f' "${mem:+,}" \
      "$(echo "$(kib "$k" VmRSS) / 1024" | bc -l)" "$(echo "$(kib "$k" Pss) / 1024" | bc -l)" \
      "$(echo "$(kib "$e" VmRSS) / 1024" | bc -l)" "$(echo "$(kib "$e" Pss) / 1024" | bc -l)")
  done
  printf '%-4s %7ss %7ss %7ss %7ss  %s\n' "$run" "$t1" "$t2" "$t3" "$total" "$mem"
  for p in "${pids[@]}"; do kill -TERM "$p"; done
  [ -n "${KEEP_LOGS:-}" ] && cp -r "$work/$run" "/tmp/bench-k3s-ha-run$run"
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
