#!/usr/bin/env bash
# Issue 11's benchmark (not part of `cargo test`; needs root): the k3s part of the `nodes`
# phase on real local-cloud hosts at time factor 0.01, for 3 servers + N agents, against
#
#   critical path   computed from the same run's own step times (`platform -v` logs each
#                   host's time in each k3s stage): the init server + each joining server
#                   (one at a time, as k3s requires) + the slowest agent. The lower bound of
#                   any tool that installs in k3s's order.
#   one at a time   k3sup's way: the same playbooks, one host after the other
#                   (`nodes.ssh_fanout: 1`), on a fresh cluster of the same size.
#
#   flock /tmp/platform-hosts.lock scripts/bench-k3s-nodes.sh [--no-serial] [AGENTS...]
#                                                           (default: 2 27 97)
#
# "The k3s part" is from the start of the init server's stage to the end of the wait for every
# Node Ready (the kubeconfig written, read through the API): what follows `prepare.yml`.
# Peak RSS is `platform`'s own VmHWM (`peak memory peak_rss_kib=N`, logged at -v).
# Hosts: per size a local-cloud cluster with real hosts in 10.249.0.0/16
# (`platform up --only infra --only inventory`, then `platform -v up --only nodes`), removed
# with `platform down --yes`, also on failure. Release build. After each run, the memory of
# the k3s processes on the hosts (agents, servers, etcd members).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

serial=1
sizes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-serial) serial=0; shift ;;
    -*) echo "usage: $0 [--no-serial] [AGENTS...]" >&2; exit 2 ;;
    *) sizes+=("$1"); shift ;;
  esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(2 27 97)
[ "$(id -u)" = 0 ] || { echo "bench-k3s-nodes.sh needs root (the local cloud's real hosts)" >&2; exit 1; }

cargo build -q --release --bin platform
bin="$repo/target/release/platform"
work=$(mktemp -d /tmp/bench-k3s-nodes.XXXXXX)
current=""
cleanup() {
  if [ -n "$current" ]; then
    (cd "$current" && "$bin" -q down --yes >/dev/null 2>&1) || echo "warning: platform down failed in $current" >&2
  fi
  if [ -n "${KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# analyse LOG: one line `wall critical init joins slowest_agent agents_stage rss_kib ready`
# (seconds; ready = Nodes seen Ready) from the debug lines of a `platform -v up` log.
analyse() {
  python3 - "$1" <<'EOF'
import re, sys
wall = None
init = []; joins = []; agents = []; stage_agents = None; rss = 0; ready = 0
for line in open(sys.argv[1], errors='replace'):
    m = re.search(r'k3s installed, every node Ready duration_ms=(\d+)', line)
    if m:
        wall = int(m.group(1)) / 1000
    m = re.search(r'k3s host done stage="?(.*?)"? host=(\S+) duration_ms=(\d+)', line)
    if m:
        s, ms = m.group(1), int(m.group(3)) / 1000
        (init if 'initializes' in s else joins if 'joining' in s else agents).append(ms)
    m = re.search(r'k3s stage done stage="?k3s agents"? duration_ms=(\d+)', line)
    if m:
        stage_agents = int(m.group(1)) / 1000
    m = re.search(r'peak_rss_kib=(\d+)', line)
    if m:
        rss = int(m.group(1))
    if re.search(r' nodes: \S+ Ready \(', line):
        ready += 1
if wall is None:
    sys.exit('no "k3s installed" line in ' + sys.argv[1])
crit = sum(init) + sum(joins) + (max(agents) if agents else 0)
print('%.2f %.2f %.2f %s %.2f %s %d %d' % (wall, crit, sum(init), '+'.join('%.2f' % j for j in joins) or '0',
      max(agents) if agents else 0, '%.2f' % stage_agents if stage_agents else '-', rss, ready))
EOF
}

# k3s_memory: RSS, anonymous memory and PSS (medians, MiB) of the k3s processes on the hosts
# (the stand-in is the hosts' init executable, `platform`, started with its k3s marker) and
# of their etcd members, read from this machine's /proc.
k3s_memory() {
  python3 - <<'EOF'
import os, statistics
def kib(pid, field):
    for l in open('/proc/%s/smaps_rollup' % pid):
        if l.startswith(field + ':'):
            return int(l.split()[1])
    return 0
groups = {'agent': [], 'server': [], 'etcd': []}
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        a = [x.decode(errors='replace') for x in open('/proc/%s/cmdline' % pid, 'rb').read().split(b'\0')]
    except OSError:
        continue
    if len(a) > 3 and os.path.basename(a[0]) == 'init' and a[1] == '--local-cloud-k3s':
        if a[3] in groups:
            groups[a[3]].append(pid)
    elif a and os.path.basename(a[0]) == 'etcd' and any('/var/lib/rancher/k3s/server/db/etcd' in x for x in a):
        groups['etcd'].append(pid)
for g, pids in groups.items():
    if pids:
        m = lambda f: statistics.median(kib(p, f) for p in pids) / 1024
        print('   k3s %s on the hosts: %d, median RSS %.1f MiB (anonymous %.1f), PSS %.1f MiB'
              % (g, len(pids), m('Rss'), m('Anonymous'), m('Pss')))
EOF
}

# run AGENTS FANOUT: a fresh cluster of 3 servers + AGENTS agents, the nodes phase measured,
# the cluster removed; appends a result line.
run() {
  local n=$1 fanout=$2 name="benchk$1f$2" dir="$work/c$1-f$2"
  mkdir -p "$dir"
  cat >"$dir/platform.yaml" <<EOF
cluster: $name
cloud:
  kind: local
  local_time_factor: 0.01
  local_hosts: true
network:
  address_space: 10.249.0.0/16
  node_subnet: 10.249.0.0/20
  postgres_subnet: 10.249.16.0/24
  admin_cidrs: ["127.0.0.0/8"]
nodes:
  ssh_address: private
  ssh_fanout: $fanout
  servers: {count: 3, public_ip: false}
  agents: {count: $n, public_ip: false}
postgres:
  enabled: false
gitops:
  controller: none
EOF
  current=$dir
  local t0 t1
  t0=$(date +%s.%N)
  (cd "$dir" && "$bin" -q up --only infra --only inventory >"$dir/infra.log" 2>&1) ||
    { echo "infra failed at $n agents:" >&2; tail -20 "$dir/infra.log" >&2; exit 1; }
  t1=$(date +%s.%N)
  printf '== 3+%s hosts, fan-out %s: hosts up in %.1f s; load average %s\n' "$n" "$fanout" \
    "$(echo "$t1 - $t0" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)" >&2
  t0=$(date +%s.%N)
  (cd "$dir" && "$bin" -v up --only nodes >"$dir/nodes.out" 2>"$dir/nodes.log") ||
    { echo "nodes failed at $n agents, fan-out $fanout:" >&2; grep -v DEBUG "$dir/nodes.log" | tail -30 >&2; exit 1; }
  t1=$(date +%s.%N)
  local phase; phase=$(echo "$t1 - $t0" | bc -l)
  [ -n "${KEEP:-}" ] && cp "$dir/nodes.log" "$work/nodes-$n-f$fanout.log"
  echo "$n $fanout $(printf '%.2f' "$phase") $(analyse "$dir/nodes.log") $(cut -d' ' -f1 /proc/loadavg)" >>"$work/results"
  grep -E ' ok nodes ' "$dir/nodes.log" | sed 's/^[^ ]* /   /' >&2
  sleep 5
  k3s_memory >&2
  (cd "$dir" && "$bin" -q down --yes >"$dir/down.log" 2>&1) || { echo "down failed in $dir" >&2; exit 1; }
  current=""
}

: >"$work/results"
for n in "${sizes[@]}"; do
  run "$n" 256
  [ "$serial" = 1 ] && run "$n" 1
done

echo
printf '%-8s %-7s %9s %9s %9s %7s %9s %12s %8s %9s %6s %9s %6s\n' hosts fan-out phase "k3s part" critical "/crit" "init" joins "agent" "agents" ready "peak RSS" load
while read -r n f phase wall crit init joins slow stage rss ready load; do
  printf '%-8s %-7s %8ss %8ss %8ss %7s %8ss %11ss %7ss %8s %6s %6.1f MiB %6s\n' "3+$n" "$f" "$phase" "$wall" "$crit" \
    "$(awk -v a="$wall" -v b="$crit" 'BEGIN { printf "%.2f", a / b }')" "$init" "$joins" "$slow" \
    "${stage}s" "$ready" "$(echo "$rss / 1024" | bc -l)" "$load"
done <"$work/results"
# One node at a time against all at once, per size.
awk '{ w[$1 " " $2] = $4 } END { for (k in w) { split(k, a, " "); if (a[2] == 1 && ((a[1] " 256") in w))
  printf "3+%s: one at a time %.2f s, all at once %.2f s: %.2fx faster\n", a[1], w[k], w[a[1] " 256"], w[k] / w[a[1] " 256"] } }' "$work/results"
echo "columns: phase = whole nodes phase (connect, prepare.yml, k3s); k3s part = init server stage start to every Node Ready;"
echo "critical = init + joins + agent: the init server's, each joining server's and the slowest agent's own time in its stage;"
echo "agents = the whole agents stage; ready = Node Ready lines seen; peak RSS = platform's VmHWM (MiB)"
