#!/usr/bin/env bash
# The main job on the local cloud (README "Quick start"): build, write a local config in
# ./demo, run `platform up`, show `platform status`. Needs nothing but Rust.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
bin="$PWD/target/release/platform"
mkdir -p demo
cd demo
[ -f platform.yaml ] || "$bin" init --cloud local --cluster demo
status=0
"$bin" up || status=$?
"$bin" status
exit "$status"
