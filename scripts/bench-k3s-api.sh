#!/usr/bin/env bash
# Issue 10's benchmark of the k3s stand-in (benches/k3s_api.rs), no root needed: API latency
# p50/p99 of a get, a list of 1,000 ConfigMaps and a server-side apply against a `k3s server`
# (in-memory store, then with --cluster-init and its etcd member), next to a GET, the list of
# 1,000 resource groups and a PUT through the local cloud's ARM server in the same run; RSS of
# the server holding 5,000 ConfigMaps; BENCH_AGENTS (100) agents started at once at time
# factor 0.01 (time to every Node Ready) and the RSS of an idle agent.
#
#   scripts/bench-k3s-api.sh            # env: BENCH_STORES=memory,etcd BENCH_OPS=500
#                                       #      BENCH_AGENTS=100 BENCH_IDLE=10
#
# Release build (`cargo bench`'s profile): the latencies are the servers' own CPU. Needs
# Debian's etcd (etcd-server) for the etcd store and the agents' server.
set -euo pipefail
cd "$(dirname "$0")/.."
# The stand-in as its own executable (inside a host `platform` itself is the stand-in, but
# only there), then the benchmark, which finds it beside the release `platform`.
cargo build -q --release -p local-cloud --features k3s --bin local-cloud-k3s
exec cargo bench --bench k3s_api "$@"
