#!/usr/bin/env bash
# Builds and runs every libFuzzer target in fuzz/ for a bounded time, one after the other,
# and prints executions and findings per target.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   # default 60
#   scripts/fuzz.sh --ci                   # 10 s per target
#   FUZZ_TARGETS="decode_image dat_reader" scripts/fuzz.sh 300
#   FUZZ_SKIP_BUILD=1 scripts/fuzz.sh 60   # reuse the last build
#
# Stable Rust only: cargo-fuzz's nightly-only `-Zsanitizer` is not needed, because the
# coverage instrumentation libFuzzer feeds on (SanitizerCoverage) is reachable through
# stable codegen flags, the same ones cargo-fuzz passes. Without AddressSanitizer the
# targets still catch everything that matters for safe Rust: panics (libfuzzer-sys turns
# any panic into an abort), overflow (overflow checks are on), hangs (-timeout) and memory
# blow-ups (-rss_limit_mb / -malloc_limit_mb). Set FUZZ_ASAN=1 to add ASan through
# RUSTC_BOOTSTRAP=1 (slower; finds memory errors in the C-like unsafe code of dependencies).
#
# The corpus grows in fuzz/corpus/<target> (seeded from fuzz/seeds/<target>, plus
# prefixes of the real dlib models from ~/.cache/facematch/models/ for the .dat targets);
# crashes land in fuzz/artifacts/<target>/. Both are git-ignored. Reproduce a finding with
#   fuzz/target/x86_64-unknown-linux-gnu/release/<target> fuzz/artifacts/<target>/<file>
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

SECONDS_PER_TARGET=60
if [[ "${1:-}" == "--ci" ]]; then
    SECONDS_PER_TARGET=10
elif [[ -n "${1:-}" ]]; then
    SECONDS_PER_TARGET=$1
fi
ALL_TARGETS="decode_image multipart_form dat_reader dat_shape_predictor dat_resnet dat_model_splice"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}
MODELS=${FACEMATCH_MODELS:-$HOME/.cache/facematch/models}
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')

# SanitizerCoverage as cargo-fuzz configures it: 8-bit edge counters, the PC table and
# comparison tracing (lets libFuzzer solve magic numbers and length checks).
RUSTFLAGS="-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
--cfg fuzzing"
if [[ "${FUZZ_ASAN:-0}" == 1 ]]; then
    export RUSTC_BOOTSTRAP=1
    RUSTFLAGS="$RUSTFLAGS -Zsanitizer=address"
fi
export RUSTFLAGS

# --target keeps RUSTFLAGS off build scripts and proc macros (as cargo-fuzz does).
# FUZZ_SKIP_BUILD=1 reuses the binaries of the last build (e.g. while the tree does not
# build, or to rerun without waiting for cargo).
if [[ "${FUZZ_SKIP_BUILD:-0}" != 1 ]]; then
    echo "== building fuzz targets ($TRIPLE)"
    cargo build --release --manifest-path fuzz/Cargo.toml --target "$TRIPLE" --bins
fi
BIN=$ROOT/fuzz/target/$TRIPLE/release

# Largest input per target: big enough for a small photo or a form with two of them,
# small enough that each execution stays fast.
max_len() {
    case $1 in
        decode_image) echo 131072 ;;
        multipart_form) echo 65536 ;;
        dat_model_splice) echo 4096 ;;
        *) echo 65536 ;;
    esac
}

# Prefixes of a real model: valid data up to a cut at several depths, so the fuzzer
# starts past the header checks. Generated at run time: the models are 9 and 22 MB.
model_prefixes() {
    local model=$1 dir=$2
    if [[ ! -f "$model" ]]; then
        echo "   (no $model: run \`facematch models fetch\` for real-model seeds)"
        return
    fi
    for n in 16 64 256 1024 4096 16384 65536; do
        head -c "$n" "$model" >"$dir/prefix_$n"
    done
}

SUMMARY=()
for t in $TARGETS; do
    corpus=$ROOT/fuzz/corpus/$t
    artifacts=$ROOT/fuzz/artifacts/$t
    mkdir -p "$corpus" "$artifacts"
    cp -n "$ROOT/fuzz/seeds/$t/"* "$corpus/" 2>/dev/null || true
    case $t in
        dat_shape_predictor) model_prefixes "$MODELS/shape_predictor_5_face_landmarks.dat" "$corpus" ;;
        dat_resnet) model_prefixes "$MODELS/dlib_face_recognition_resnet_model_v1.dat" "$corpus" ;;
    esac
    before=$(find "$artifacts" -type f | wc -l)
    log=$ROOT/fuzz/artifacts/$t.log
    echo "== $t: ${SECONDS_PER_TARGET}s"
    start=$(date +%s)
    # -timeout: one input running 10 s is a hang. -rss_limit_mb: 2 GiB is the memory
    # blow-up line (also the largest single allocation allowed). -print_final_stats for
    # the execution count. A crash stops the run; the script goes on with the next target.
    set +e
    FACEMATCH_MODELS=$MODELS "$BIN/$t" "$corpus" \
        -artifact_prefix="$artifacts/" \
        -max_total_time="$SECONDS_PER_TARGET" \
        -max_len="$(max_len "$t")" \
        -rss_limit_mb=2048 \
        -timeout=10 \
        -print_final_stats=1 \
        >"$log" 2>&1
    rc=$?
    set -e
    took=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    peak=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    corpus_files=$(find "$corpus" -type f | wc -l)
    found=$(($(find "$artifacts" -type f | wc -l) - before))
    status=ok
    if [[ $rc -ne 0 ]]; then
        status="FAILED (exit $rc; see $log)"
    fi
    line=$(printf '%-20s execs=%-10s time=%ss corpus=%s peak_rss=%sMB new_findings=%s %s' \
        "$t" "${execs:-?}" "$took" "$corpus_files" "${peak:-?}" "$found" "$status")
    echo "   $line"
    SUMMARY+=("$line")
done

echo "== summary (${SECONDS_PER_TARGET}s per target)"
printf '%s\n' "${SUMMARY[@]}"
for line in "${SUMMARY[@]}"; do
    if [[ $line == *FAILED* ]]; then
        exit 1
    fi
done
