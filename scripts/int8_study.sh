#!/usr/bin/env bash
# The int8 study of issue 14: dlib's ResNet quantized to 8 bits by ONNX Runtime's own
# quantizer (dynamic; static QDQ calibrated on the UTKFace dev chips or on augmented
# open-licence fixture faces, with 8- or 7-bit weights) against the float model the
# server runs, on the served chips of every dev pair list: accuracy,
# AUC, decisions changed, distance drift, and one chip's time on one thread
# (scripts/int8_study.py; results in docs/benchmarks.md). Nothing here is served.
#
#   scripts/int8_study.sh                    # 100 timed runs per model
#   scripts/int8_study.sh --iterations 300   # arguments pass to int8_study.py
#
# Environment: INT8_VENV is the virtual environment it creates once and reuses (default
# target/int8-venv); INT8_OUT where the ONNX graphs and chips go (default target/int8-study).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${INT8_VENV:-target/int8-venv}
OUT=${INT8_OUT:-target/int8-study}
# onnxruntime: the same release as the runtime the server loads (facematch-fetch's manifest).
PINS=(onnxruntime==1.32.0 onnx==1.23.2 numpy==2.3.5 Pillow==11.3.0)

if [[ ! -x $VENV/bin/python ]]; then
    echo "== creating $VENV" >&2
    python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" - "${PINS[@]}" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
sys.exit(any(version(n) != v for n, v in (p.split("==") for p in sys.argv[1:])))
PY
    echo "== pip install ${PINS[*]} (into $VENV)" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
fi

echo "== chips and the float graph (into $OUT)" >&2
cargo run --release --quiet -p facematch-lab --example int8_inputs -- "$OUT" ../shared/data/faces
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
# ONNX Runtime's int8 kernels differ with these (u8 x s8 products saturate without VNNI).
INT8_FLAGS=$(grep -o -w -E 'avx512_vnni|avx_vnni|amx_int8' /proc/cpuinfo | sort -u | xargs || true)
echo "== int8 instructions: ${INT8_FLAGS:-none (no VNNI: 8-bit weights may saturate)}"
exec "$VENV/bin/python" scripts/int8_study.py "$OUT" "$@"
