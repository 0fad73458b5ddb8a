#!/usr/bin/env bash
# Builds and runs every libFuzzer target in fuzz/ for a bounded time, one after the other,
# and prints executions and findings per target.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   # default 60
#   scripts/fuzz.sh --ci                   # 10 s per target
#   FUZZ_TARGETS="decode_image dat_reader" scripts/fuzz.sh 300
#   FUZZ_SKIP_BUILD=1 scripts/fuzz.sh 60   # reuse the last build
#   FUZZ_TARGETS="register_body verify_email_body update_status_body" scripts/fuzz.sh 600
#
# register_body, verify_email_body and update_status_body drive the server's real router
# in process (one in-memory store per process, sign-ups open, the in-memory mailer); they
# fail on a panic, a 5xx, a non-JSON or malformed error body, or an answer their inputs
# could not have earned. A built target also runs alone on a corpus folder (new inputs
# go to the first folder; the seeds folder is only read), e.g.
#   mkdir -p fuzz/corpus/register_body fuzz/artifacts/register_body
#   fuzz/target/x86_64-unknown-linux-gnu/release/register_body \
#       fuzz/corpus/register_body fuzz/seeds/register_body \
#       -artifact_prefix=fuzz/artifacts/register_body/ -max_total_time=600 \
#       -max_len=69632 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
# and FUZZ_TRACE=1 makes those three print each input they decode and its status.
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
ALL_TARGETS="decode_image multipart_form dat_reader dat_shape_predictor dat_resnet dat_model_splice \
register_body verify_email_body update_status_body"
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
        # Past the JSON routes' 64 KiB body limit, so the 413 path is reachable.
        register_body | verify_email_body) echo 69632 ;;
        # Structured: the long strings come from the input's description, not its size.
        update_status_body) echo 16384 ;;
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
    # The sign-up targets hash a password with Argon2id (19 MiB) on most valid inputs,
    # hundreds of times a second: glibc's dynamic mmap threshold then keeps those buffers
    # in the heap, where fragmentation holds ~1.2 GB of RSS after 20k inputs (measured:
    # peak 1,203 MB in 150 s, flat after ~19k inputs). A fixed threshold gives each buffer
    # back on free (peak 64 MB), so -rss_limit_mb keeps meaning "one input blew up".
    malloc_env=()
    case $t in
        register_body | verify_email_body) malloc_env=(MALLOC_MMAP_THRESHOLD_=1048576) ;;
    esac
    set +e
    env ${malloc_env[@]+"${malloc_env[@]}"} FACEMATCH_MODELS=$MODELS "$BIN/$t" "$corpus" \
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
