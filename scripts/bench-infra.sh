#!/usr/bin/env bash
# Benchmark of `platform up --only infra` from empty on the local cloud (benches/infra.rs):
# median wall time vs. the sum of operation latencies and the longest dependency chain.
# BENCH_TIME_FACTOR (default 0.01) scales the Azure-shaped latencies; BENCH_RUNS (default 5).
# The dev profile is enough: the run waits on the cloud's clock, not on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --profile dev --bench infra "$@"
