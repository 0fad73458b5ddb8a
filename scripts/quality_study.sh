#!/usr/bin/env bash
# The face-quality study of docs/accuracy.md ("Face quality" and "Error rates with confidence
# intervals"): degraded copies of the dev photos, then `facematch eval` of every list, upright and
# degraded, for each bundle, with the JSON reports and the figures.
#
#   scripts/quality_study.sh [OUT_DIR]        # default /tmp/facematch-quality-study
#
# Needs the release binary (cargo build --release -p facematch) and ../shared/data/faces.
# BUNDLES="default buffalo_s" (buffalo_s is non-commercial research only; fetched on first use).
# CUTOFFS="20,40,60" studies other LOW,MEDIUM,HIGH cut-offs without rebuilding.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FACEMATCH_BIN:-target/release/facematch}
FACES=$(cd ../shared/data/faces && pwd)
OUT=${1:-/tmp/facematch-quality-study}
BUNDLES=${BUNDLES:-default buffalo_s}
CUTOFFS=${CUTOFFS:-}
mkdir -p "$OUT"

# Degraded copies of the right photo of every pair (blur, dark, bright, jpeg10, small, tight).
for list in lfw_dev celebs; do
    "$BIN" degrade --root "$FACES" --pairs "$FACES/pairs_$list.tsv" --out "$OUT/degraded_$list" >/dev/null
done

# Every list with absolute paths, and the union of them all: each same-person pair the dev data
# allows (LFW original and deep-funneled, celebs) plus the degraded copies of each pair.
absolute() { awk -F'\t' -v r="$FACES" 'BEGIN{OFS="\t"}{print r"/"$1, r"/"$2, $3}' "$1"; }
{
    absolute "$FACES/pairs_lfw_dev.tsv"
    absolute "$FACES/pairs_lfw_dev_deepfunneled.tsv"
    absolute "$FACES/pairs_celebs.tsv"
} >"$OUT/pairs_upright.tsv"
cat "$OUT/degraded_lfw_dev/pairs_all.tsv" "$OUT/degraded_celebs/pairs_all.tsv" >"$OUT/pairs_degraded.tsv"
cat "$OUT/pairs_upright.tsv" "$OUT/pairs_degraded.tsv" >"$OUT/pairs_everything.tsv"

extra=()
[ -n "$CUTOFFS" ] && extra+=(--quality-cutoffs "$CUTOFFS")
for bundle in $BUNDLES; do
    for set in upright degraded everything; do
        echo "== $bundle: $set" >&2
        "$BIN" eval "$OUT/pairs_$set.tsv" --root "$FACES" --bundle "$bundle" \
            --json "$OUT/${bundle}_$set.json" "${extra[@]}" >"$OUT/${bundle}_$set.txt" 2>>"$OUT/progress.log"
    done
    for kind in blur dark bright jpeg10 small tight; do
        cat "$OUT/degraded_lfw_dev/pairs_$kind.tsv" "$OUT/degraded_celebs/pairs_$kind.tsv" >"$OUT/pairs_$kind.tsv"
        "$BIN" eval "$OUT/pairs_$kind.tsv" --root "$FACES" --bundle "$bundle" \
            --json "$OUT/${bundle}_$kind.json" "${extra[@]}" >"$OUT/${bundle}_$kind.txt" 2>>"$OUT/progress.log"
    done
done
# Figures (the first bundle's histograms and bands; one DET line per bundle) and the tables.
for set in upright everything; do
    "$BIN" plot --out "$OUT/figure_$set.svg" $(for b in $BUNDLES; do echo "$OUT/${b}_$set.json"; done)
done
python3 scripts/quality_report.py "$OUT" >"$OUT/tables.md"
echo "reports, figures (figure_*.svg) and tables (tables.md) in $OUT" >&2
