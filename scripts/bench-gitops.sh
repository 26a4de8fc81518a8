#!/usr/bin/env bash
# Issue 12's benchmark (benches/gitops.rs), no root needed: on ONE k3s stand-in API server
# (kube-standin, in memory, on loopback), platform's Flux bootstrap of the Flux-shaped
# fixture (tests/fixtures/gitops/flux-install.yaml: what the gitops phase does before its
# Ready wait, CRD and Deployment waits included) against the machine's
# `kubectl apply --server-side -f` of the same file, `kubectl wait` for the CRDs Established
# and the Deployments Available, and `kubectl apply --server-side -f` of the same
# GitRepository and Kustomization; each peer's first run on an empty cluster (everything
# deleted and waited for between peers) and its no-op re-run. Objects, requests (counted by
# the server itself), writes, dry runs, watches, store writes and wall time per run, medians
# over the rounds, and the ratios platform/kubectl.
#
#   scripts/bench-gitops.sh          # env: BENCH_ROUNDS=3 BENCH_READY_DELAY_MS=50
#                                    #      KUBECTL=kubectl (the binary measured)
#
# Release build (`cargo bench`'s profile). kubectl's own `-v=6` request log is counted beside
# the server's count as a cross-check.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v "${KUBECTL:-kubectl}" >/dev/null || { echo "bench-gitops.sh needs kubectl (or KUBECTL=/path/to/kubectl)" >&2; exit 1; }
exec cargo bench --bench gitops "$@"
