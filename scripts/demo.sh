#!/usr/bin/env bash
# The main job on the local cloud (README "Quick start"): build, write a local config in
# ./demo, run `platform up` for the phases this build has, show `platform status`, and
# tear down with `platform down`. Needs nothing but Rust.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
bin="$PWD/target/release/platform"
mkdir -p demo
cd demo
[ -f platform.yaml ] || "$bin" init --cloud local --cluster demo
# The phases built so far (`platform plan` marks the others "not built yet").
"$bin" up --only infra
"$bin" plan
"$bin" status
if [ "${KEEP:-0}" != 1 ]; then "$bin" down --yes; fi
