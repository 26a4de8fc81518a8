#!/usr/bin/env bash
# Fan-out benchmark of issue 5 (not part of `cargo test`; needs root): the same real SSH hosts
# and the same playbook (`playbooks/prepare.yml`, 10 tasks), one run of each tool, at each
# host count:
#
#   platform        `platform play playbooks/prepare.yml` (release build), peak RSS too
#   ansible f5      `ansible-playbook` with its default forks (5), ControlPersist on
#   ansible fN      the same with forks = host count
#   ansible fN+pl   forks = host count and ANSIBLE_PIPELINING=1
#   ssh per task    one `ssh` client process per task over a ControlMaster connection per
#                   host (master set-up and exit included), hosts in parallel
#   one script      one fresh `ssh` per host running every step as one shell script, hosts in
#                   parallel: the practical limit
#
#   scripts/bench-nodes.sh [--no-ansible] [--repeat N] [--keep] [SIZES...]   (default: 10 30)
#
# --repeat N runs platform and the two ssh peers N times (interleaved; Ansible once) and
# reports medians: on a shared machine one run of a 1-5 s tool is noisy.
# Every run is a steady-state run: before measuring, `platform play` runs prepare.yml once
# (which changes the fresh hosts), so every measured run, of every tool, checks all ten
# steps and changes nothing (each run's changed count is printed to prove it). The shell
# peers run the same checks as the playbook's tasks (see `tasks/` below), with sudo like
# `become`, and host keys checked against the cluster's known_hosts, like every other tool.
#
# Hosts: per size a local-cloud cluster with real hosts (`cloud.local_hosts: true`, 1 server
# and N-1 agents in 10.250.0.0/16), created with `platform up --only infra --only inventory`
# and removed with `platform down --yes` on exit, even on failure.
#
# Ansible comes from `.venv-bench` (created with `python3 -m venv` and `pip install
# ansible-core` when missing). Its SSH arguments keep its defaults (-C, ControlMaster=auto,
# ControlPersist=60s) and add the cluster's known_hosts with StrictHostKeyChecking=yes; each
# Ansible run gets its own control-path directory so no run reuses another's masters.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

ansible=1
keep=0
repeat=1
sizes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-ansible) ansible=0; shift ;;
    --keep) keep=1; shift ;;
    --repeat) repeat=$2; shift 2 ;;
    *) sizes+=("$1"); shift ;;
  esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(10 30)
[ "$(id -u)" = 0 ] || { echo "bench-nodes.sh needs root (the local cloud's real hosts)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "install GNU time: apt-get install time" >&2; exit 1; }

cargo build -q --release
bin="$repo/target/release/platform"
playbook="$repo/playbooks/prepare.yml"
venv="$repo/.venv-bench"
if [ "$ansible" = 1 ] && [ ! -x "$venv/bin/ansible-playbook" ]; then
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q ansible-core
fi
# The hosts are overlays of this machine's `/`: its system Python is theirs.
py=/usr/bin/python3

work=$(mktemp -d /tmp/bench-nodes.XXXXXX)
clusters=()
cleanup() {
  for d in "${clusters[@]}"; do
    (cd "$d" && "$bin" -q down --yes >/dev/null 2>&1) || echo "warning: platform down failed in $d" >&2
  done
  if [ "$keep" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The playbook's ten tasks as shell, for the ssh peers: the same checks, changing only what
# differs (a steady-state run changes nothing). `$want` is the inventory name.
mkdir -p "$work/tasks"
cat >"$work/tasks/01" <<'EOF'
if [ -e /var/lib/platform/cloud-init-done ]; then exit 0; fi
if [ -d /run/cloud-init ] && command -v cloud-init >/dev/null 2>&1; then
  cloud-init status --wait >/dev/null; rc=$?
  if [ "$rc" != 0 ] && [ "$rc" != 2 ]; then exit "$rc"; fi
fi
EOF
cat >"$work/tasks/02" <<'EOF'
if [ "$(cat /etc/hostname 2>/dev/null)" != "$want" ]; then printf '%s\n' "$want" > /etc/hostname; echo changed; fi
net1=$(readlink /proc/1/ns/net 2>/dev/null); uts1=$(readlink /proc/1/ns/uts 2>/dev/null)
if [ -z "$net1" ] || [ -z "$uts1" ]; then exit 0; fi
if [ "$net1" != "$(readlink /proc/self/ns/net)" ] && [ "$uts1" = "$(readlink /proc/self/ns/uts)" ]; then exit 0; fi
if [ "$(hostname)" != "$want" ]; then hostname "$want"; echo changed; fi
EOF
cat >"$work/tasks/03" <<'EOF'
line="127.0.1.1 $want"
if ! grep -qxF "$line" /etc/hosts; then
  sed -i '/^127\.0\.1\.1[[:space:]]/d' /etc/hosts; printf '%s\n' "$line" >> /etc/hosts; echo changed
fi
EOF
cat >"$work/tasks/04" <<'EOF'
f=/etc/modules-load.d/k3s.conf; want_c=$(printf 'overlay\nbr_netfilter')
if [ "$(cat "$f" 2>/dev/null)" != "$want_c" ]; then mkdir -p "${f%/*}"; printf '%s\n' "$want_c" > "$f"; echo changed; fi
[ "$(stat -c %a "$f")" = 644 ] || { chmod 0644 "$f"; echo changed; }
EOF
cat >"$work/tasks/05" <<'EOF'
loaded() {
  case "$1" in
    overlay) grep -qw overlay /proc/filesystems && return 0 ;;
    br_netfilter) [ -d /proc/sys/net/bridge ] && return 0 ;;
  esac
  [ -d "/sys/module/$1" ]
}
for m in overlay br_netfilter; do
  loaded "$m" && continue
  if ! modprobe "$m" || ! loaded "$m"; then echo "cannot load $m" >&2; exit 1; fi
  echo "loaded $m"
done
EOF
cat >"$work/tasks/06" <<'EOF'
f=/etc/sysctl.d/90-k3s.conf
want_c=$(printf 'net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1')
if [ "$(cat "$f" 2>/dev/null)" != "$want_c" ]; then mkdir -p "${f%/*}"; printf '%s\n' "$want_c" > "$f"; echo changed; fi
[ "$(stat -c %a "$f")" = 644 ] || { chmod 0644 "$f"; echo changed; }
EOF
cat >"$work/tasks/07" <<'EOF'
for kv in net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1; do
  k=${kv%%=*}; v=${kv#*=}
  f=/proc/sys/$(printf '%s' "$k" | tr . /)
  if [ ! -e "$f" ]; then echo "sysctl $k does not exist" >&2; exit 1; fi
  [ "$(cat "$f")" = "$v" ] && continue
  printf '%s\n' "$v" > "$f" || exit 1
  echo "set $k=$v"
done
EOF
cat >"$work/tasks/08" <<'EOF'
d=/etc/rancher/k3s
[ -d "$d" ] || { mkdir -p "$d"; echo changed; }
[ "$(stat -c %a "$d")" = 755 ] || { chmod 0755 "$d"; echo changed; }
EOF
cat >"$work/tasks/09" <<'EOF'
[ -d /var/lib/rancher/k3s/server/manifests ] || { mkdir -p /var/lib/rancher/k3s/server/manifests; echo changed; }
EOF
cat >"$work/tasks/10" <<'EOF'
[ -d /var/lib/rancher/k3s/agent/images ] || { mkdir -p /var/lib/rancher/k3s/agent/images; echo changed; }
EOF
# The one-script peer: every task in a subshell (each `exit` ends only its own step), failing
# the script at the first failed step like a play stops a host.
for t in "$work"/tasks/*; do printf '( %s\n) || exit 1\n' "$(cat "$t")"; done >"$work/all-steps.sh"

ms_now() { echo $(( $(date +%s%N) / 1000000 )); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# User + system CPU seconds of this shell's waited-for children so far (bash `times`, second
# line); the difference around a peer is the CPU of its ssh clients (including the key
# exchange done before `ssh -f` backgrounds a master) and of the local shells.
# `times` must run in this shell, not in a `$(...)` subshell (whose own counters start at 0).
mark_cpu() { times >"$work/times.$1"; }
cpu_since() {
  tail -qn1 "$work/times.$1" "$work/times.$2" | awk '{ t = 0
    for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
    v[NR] = t } END { printf "%.2f", v[2] - v[1] }'
}

# `NAME ADDRESS` per host of the cluster in $1, from the inventory platform wrote.
hosts_of() {
  awk '/^            [^ ].*:$/ {name=$1; sub(/:$/, "", name)}
       /ansible_host:/ {gsub(/"/, "", $2); print name, $2}' "$1/inventories/$2/hosts.yml"
}

results="$work/results.txt"
: >"$results"
log="$work/log"; mkdir -p "$log"

run_size() {
  local n=$1 name="benchn$1" dir="$work/c$1"
  mkdir -p "$dir"
  cat >"$dir/platform.yaml" <<EOF
cluster: $name
cloud:
  kind: local
  local_time_factor: 0.001
  local_hosts: true
network:
  address_space: 10.250.0.0/16
  node_subnet: 10.250.0.0/20
  postgres_subnet: 10.250.16.0/24
  admin_cidrs: ["127.0.0.0/8"]
nodes:
  ssh_address: private
  servers: {count: 1, public_ip: false}
  agents: {count: $((n - 1)), public_ip: false}
postgres:
  enabled: false
gitops:
  controller: none
EOF
  clusters+=("$dir")
  local t0 t1
  t0=$(ms_now)
  (cd "$dir" && "$bin" -q up --only infra --only inventory >"$log/up-$n.txt" 2>&1)
  t1=$(ms_now)
  echo "== $n hosts: cluster with real hosts up in $((t1 - t0)) ms; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  # The first run changes the fresh hosts and records their keys (trust on first use); every
  # measured run below starts from this state.
  t0=$(ms_now)
  (cd "$dir" && "$bin" play "$playbook" >"$log/warmup-$n.txt" 2>&1)
  t1=$(ms_now)
  echo "== $n hosts: first platform play (fresh hosts, changes, records host keys) $((t1 - t0)) ms" >&2
  local kh="$dir/.platform/known_hosts" key="$dir/.platform/secrets/id_ed25519"
  local inv="$dir/inventories/$name/hosts.yml"
  hosts_of "$dir" "$name" >"$work/hosts-$n"
  [ "$(wc -l <"$work/hosts-$n")" = "$n" ] || { echo "inventory has not $n hosts" >&2; exit 1; }
  local sshopts=(-o BatchMode=yes -o "UserKnownHostsFile=$kh" -o StrictHostKeyChecking=yes -i "$key" -l azureuser)

  local wall rss cpu changed u s
  measure_platform() {
    t0=$(ms_now)
    (cd "$dir" && /usr/bin/time -o "$log/time-platform-$n" -f '%M %U %S' "$bin" play "$playbook" >"$log/platform-$n.txt" 2>&1)
    t1=$(ms_now)
    wall=$((t1 - t0))
    read -r rss u s <"$log/time-platform-$n"
    changed=$(awk '/changed=/ {sub(/.*changed=/, ""); c += $1} END {print c + 0}' "$log/platform-$n.txt")
    echo "$n platform $wall $rss $(awk -v u="$u" -v s="$s" 'BEGIN {print u + s}') $changed" >>"$results"
  }
  measure_platform

  if [ "$ansible" = 1 ]; then
    local variant forks pipe
    for variant in f5 fN fN+pl; do
      case $variant in
        f5) forks=5; pipe=0 ;;
        fN) forks=$n; pipe=0 ;;
        fN+pl) forks=$n; pipe=1 ;;
      esac
      local cp; cp=$(mktemp -d "$work/cp.XXXX")
      t0=$(ms_now)
      (cd "$dir" && ANSIBLE_NOCOLOR=1 ANSIBLE_FORKS=$forks ANSIBLE_PIPELINING=$pipe \
        ANSIBLE_SSH_CONTROL_PATH_DIR="$cp" ANSIBLE_LOCAL_TEMP="$work/ansible-tmp" \
        ANSIBLE_SSH_ARGS="-C -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=$kh -o StrictHostKeyChecking=yes" \
        /usr/bin/time -o "$log/time-ansible-$variant-$n" -f '%M %U %S' \
        "$venv/bin/ansible-playbook" -i "$inv" -e "ansible_python_interpreter=$py" "$playbook" \
        >"$log/ansible-$variant-$n.txt" 2>&1)
      t1=$(ms_now)
      wall=$((t1 - t0))
      read -r rss u s <"$log/time-ansible-$variant-$n"
      changed=$(awk '/changed=/ {sub(/.*changed=/, ""); c += $1} END {print c + 0}' "$log/ansible-$variant-$n.txt")
      echo "$n ansible-$variant $wall $rss $(awk -v u="$u" -v s="$s" 'BEGIN {print u + s}') $changed" >>"$results"
      # Close this run's masters now rather than leave them to ControlPersist.
      for sock in "$cp"/*; do [ -S "$sock" ] && ssh -o ControlPath="$sock" -O exit x >/dev/null 2>&1; done
      true
    done
  fi

  local failed
  measure_mux() {
    # One ssh client per task over a ControlMaster connection per host.
    mkdir -p "$work/mux-$n"
    mark_cpu a
    t0=$(ms_now)
    while read -r h addr; do
      (
        ctl="$work/mux-$n/$h"
        ssh "${sshopts[@]}" -o ControlMaster=yes -o "ControlPath=$ctl" -o ControlPersist=yes -f -N "$addr"
        for t in "$work"/tasks/*; do
          { printf 'want=%s\n' "$h"; cat "$t"; } | ssh "${sshopts[@]}" -o "ControlPath=$ctl" "$addr" 'sudo sh -s' || exit 1
        done
        ssh -o "ControlPath=$ctl" -O exit "$addr" 2>/dev/null
      ) >"$log/mux-$n-$h.txt" 2>&1 &
    done <"$work/hosts-$n"
    failed=0
    for job in $(jobs -p); do wait "$job" || failed=$((failed + 1)); done
    t1=$(ms_now)
    [ "$failed" = 0 ] || { echo "ssh per task: $failed hosts failed (see $log)" >&2; exit 1; }
    changed=$(cat "$log"/mux-"$n"-*.txt | grep -c . || true)
    mark_cpu b
    echo "$n ssh-per-task $((t1 - t0)) - $(cpu_since a b) $changed" >>"$results"
  }
  measure_script() {
    # One fresh ssh per host, every step in one script.
    mark_cpu a
    t0=$(ms_now)
    while read -r h addr; do
      { printf 'want=%s\n' "$h"; cat "$work/all-steps.sh"; } |
        ssh "${sshopts[@]}" "$addr" 'sudo sh -s' >"$log/script-$n-$h.txt" 2>&1 &
    done <"$work/hosts-$n"
    failed=0
    for job in $(jobs -p); do wait "$job" || failed=$((failed + 1)); done
    t1=$(ms_now)
    [ "$failed" = 0 ] || { echo "one script: $failed hosts failed (see $log)" >&2; exit 1; }
    changed=$(cat "$log"/script-"$n"-*.txt | grep -c . || true)
    mark_cpu b
    echo "$n one-script $((t1 - t0)) - $(cpu_since a b) $changed" >>"$results"
  }
  measure_mux
  measure_script
  # More runs of the cheap tools (not Ansible), interleaved, for medians.
  local r
  for r in $(seq 2 "$repeat"); do measure_platform; measure_mux; measure_script; done

  (cd "$dir" && "$bin" -q down --yes >/dev/null 2>&1)
  unset 'clusters[-1]'
}

for n in "${sizes[@]}"; do run_size "$n"; done

echo
echo "prepare.yml (10 tasks), steady state (every run changes nothing)"
echo "wall_ms, cpu_s: median of the runs; rss_kb: the largest; cpu_s: user+sys of the tool and"
echo "the children it waited for (ssh clients included); changed: the tool's changed count"
echo "(ssh peers: lines of output, 0 when nothing changed), summed over the runs"
# One line per (hosts, tool), in first-seen order: runs, median wall, max rss, median cpu.
summary=$(awk '
  { k = $1 " " $2; if (!(k in seen)) { seen[k] = 1; order[++m] = k }
    n[k]++; w[k, n[k]] = $3; c[k, n[k]] = $5; ch[k] += $6
    if ($4 != "-" && $4 > r[k]) r[k] = $4 }
  function med(arr, k, cnt,   i, j, t, v) {
    for (i = 1; i <= cnt; i++) v[i] = arr[k, i]
    for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    return v[int((cnt + 1) / 2)]
  }
  END { for (i = 1; i <= m; i++) { k = order[i]
    print k, n[k], med(w, k, n[k]), (k in r ? r[k] : "-"), med(c, k, n[k]), ch[k] } }' "$results")
printf '%5s  %-15s %5s %9s %10s %8s %8s %11s\n' hosts tool runs wall_ms rss_kb cpu_s changed "platform/x"
while read -r n tool runs wall rss cpu changed; do
  pw=$(awk -v n="$n" '$1 == n && $2 == "platform" {print $4}' <<<"$summary")
  printf '%5s  %-15s %5s %9s %10s %8s %8s %11s\n' "$n" "$tool" "$runs" "$wall" "$rss" "$cpu" "$changed" "$(ratio "$pw" "$wall")"
done <<<"$summary"
echo
echo "raw runs (hosts tool wall_ms rss_kb cpu_s changed):"
cat "$results"
