#!/usr/bin/env bash
# The peer comparison of issue 14: times Python's `face_recognition` (dlib's HOG detector,
# 5-point shape predictor and the same dlib ResNet recognizer facematch runs) per image on
# the two ~1 MP photos `facematch bench` uses and on the 150×150 photo it makes, one
# thread, median and p90 (scripts/peer_bench.py). Compare with the rows
# "first photo: decode → … → embed" and "150×150 JPEG: decode → … → embed" of
# `target/release/facematch bench --root ../shared/data/faces` (docs/benchmarks.md).
#
#   scripts/peer_bench.sh                    # 20 timed runs per photo
#   scripts/peer_bench.sh --iterations 50    # arguments pass to peer_bench.py
#
# Environment: PEER_VENV is the virtual environment it creates once and reuses (default
# target/peer-venv); PEER_WHEELS a folder of already downloaded wheels/sdists to install
# from first (pip --find-links), e.g. from
#   pip download --no-deps dlib-bin==20.0.1.post1 face_recognition==1.3.0 \
#       face_recognition_models==0.3.0 -d DIR
# dlib-bin is a binary build of dlib (nothing compiles). face_recognition is installed
# with --no-deps: it requires `dlib` by name, which dlib-bin provides under another name.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${PEER_VENV:-target/peer-venv}
PINS=(dlib-bin==20.0.1.post1 face_recognition_models==0.3.0 numpy==2.3.5 Pillow==11.3.0)
PEER=face_recognition==1.3.0

if [[ ! -x $VENV/bin/python ]]; then
    echo "== creating $VENV" >&2
    python3 -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
if [[ -n ${PEER_WHEELS:-} ]]; then
    PIP+=(--find-links "$PEER_WHEELS")
fi
if ! "$VENV/bin/python" - "${PINS[@]}" "$PEER" <<'EOF' 2>/dev/null; then
import sys
from importlib.metadata import version
sys.exit(any(version(n) != v for n, v in (p.split("==") for p in sys.argv[1:])))
EOF
    echo "== pip install ${PINS[*]} $PEER (into $VENV)" >&2
    "${PIP[@]}" "${PINS[@]}"
    "${PIP[@]}" --no-deps "$PEER"
fi

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
# One thread: dlib itself runs HOG and the ResNet on the calling thread, but a BLAS it
# links may start its own.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
    BLIS_NUM_THREADS=1 VECLIB_MAXIMUM_THREADS=1 NUMEXPR_NUM_THREADS=1
exec "$VENV/bin/python" scripts/peer_bench.py --root ../shared/data/faces "$@"
