#!/usr/bin/env python3
"""Markdown tables of the face-quality study (docs/accuracy.md) from the `facematch eval --json`
reports that scripts/quality_study.sh writes: error rates with 95% Wilson intervals per bundle,
per degradation, per quality band, and what each quality_filter level does.

    python3 scripts/quality_report.py /tmp/facematch-quality-study > tables.md

Everything is recomputed from each report's `pairs_detail` (score, same, both compared faces'
quality), with the rules of `facematch eval`: a pair is accepted when its score is at or above
the threshold; a pair without a face is rejected; a photo is rejected by a level when its compared
face's quality is below the level's minimum.
"""
import json
import math
import os
import sys

LEVELS = [("LOW", 10.0), ("MEDIUM / AUTO", 25.0), ("HIGH", 50.0)]
KINDS = ["blur", "dark", "bright", "jpeg10", "small", "tight"]
BANDS = [(0, 20), (20, 40), (40, 60), (60, 80), (80, 101)]


def wilson(k, n, z=1.959964):
    if n == 0:
        return None
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def rate(k, n):
    ci = wilson(k, n)
    if ci is None:
        return "–"
    return f"{100 * k / n:.2f}% [{100 * ci[0]:.2f}–{100 * ci[1]:.2f}] ({k}/{n})"


def load(out, name):
    path = os.path.join(out, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def accepted(p, threshold):
    return p["score"] is not None and p["score"] >= threshold


def counts(pairs, threshold):
    g = [p for p in pairs if p["same"]]
    i = [p for p in pairs if not p["same"]]
    fnm = sum(not accepted(p, threshold) for p in g)
    fm = sum(accepted(p, threshold) for p in i)
    return fnm, len(g), fm, len(i)


def quality(p, side):
    q = p[side + "_quality"]
    return None if q is None else q["quality"]


def weaker(p):
    qs = [quality(p, s) for s in ("left", "right")]
    return None if None in qs else min(qs)


def rates_table(out, bundles):
    print("| bundle | pairs | score ≥ 30: FNMR | FMR | ≥ 50: FNMR | FMR | ≥ 70: FNMR | FMR | ≥ 90: FNMR | FMR |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for b in bundles:
        for s, label in (("upright", "dev photos as they are"), ("degraded", "their degraded copies"), ("everything", "all")):
            r = load(out, f"{b}_{s}")
            if r is None:
                continue
            cells = []
            for t in (30, 50, 70, 90):
                fnm, g, fm, i = counts(r["pairs_detail"], t)
                cells += [rate(fnm, g), rate(fm, i)]
            print(f"| {b} | {label} | " + " | ".join(cells) + " |")


def kinds_table(out, bundles):
    print("| degradation | " + " | ".join(f"{b}: no face | {b}: FNMR at 30 | {b}: at 50" for b in bundles) + " |")
    print("|---|" + "---|---|---|" * len(bundles))
    for k in KINDS:
        cells = []
        for b in bundles:
            r = load(out, f"{b}_{k}")
            if r is None:
                cells += ["–"] * 3
                continue
            cells.append(str(len(r["failures_to_acquire"])))
            for t in (30, 50):
                fnm, g, _, _ = counts(r["pairs_detail"], t)
                cells.append(rate(fnm, g))
        print(f"| {k} | " + " | ".join(cells) + " |")


def bands_table(out, bundle, threshold=30):
    r = load(out, f"{bundle}_everything")
    if r is None:
        return
    print(f"| weaker face's quality | {bundle}: FNMR at {threshold} | FMR at {threshold} |")
    print("|---|---|---|")
    for lo, hi in BANDS:
        sel = [p for p in r["pairs_detail"] if weaker(p) is not None and lo <= weaker(p) < hi]
        fnm, g, fm, i = counts(sel, threshold)
        print(f"| [{lo}, {min(hi, 100)}{']' if hi > 100 else ')'} | {rate(fnm, g)} | {rate(fm, i)} |")


def turned(p):
    """The larger of |yaw| and |pitch| over both compared faces (None without both poses)."""
    angles = []
    for side in ("left", "right"):
        pose = p.get(side + "_pose")
        if pose is None:
            return None
        angles.append(max(abs(pose["yaw"]), abs(pose["pitch"])))
    return max(angles)


def pose_table(out, bundles, threshold=30):
    print("| most turned face: max(\\|yaw\\|, \\|pitch\\|) | " + " | ".join(f"{b}: FNMR at {threshold} | {b}: FMR" for b in bundles) + " |")
    print("|---|" + "---|---|" * len(bundles))
    for lo, hi in ((0, 15), (15, 25), (25, 35), (35, 45), (45, 91)):
        cells = []
        for b in bundles:
            r = load(out, f"{b}_upright")
            sel = [p for p in r["pairs_detail"] if turned(p) is not None and lo <= turned(p) < hi]
            fnm, g, fm, i = counts(sel, threshold)
            cells += [rate(fnm, g), rate(fm, i)]
        print(f"| [{lo}°, {hi if hi < 91 else 90}°{')' if hi < 91 else ']'} | " + " | ".join(cells) + " |")


def levels_table(out, bundles, threshold=30):
    print("| bundle | level (min quality) | photos rejected: as they are | degraded | error rate of the compared pairs | errors removed | FNMR kept | FMR kept |")
    print("|---|---|---|---|---|---|---|---|")
    for b in bundles:
        r = load(out, f"{b}_everything")
        if r is None:
            continue
        pairs = r["pairs_detail"]
        photos = {}
        for p in pairs:
            for s in ("left", "right"):
                photos[p[s]] = quality(p, s)
        compared = [p for p in pairs if p["score"] is not None]
        fnm0, g0, fm0, i0 = counts(compared, threshold)
        base = fnm0 + fm0
        rows = [("NONE", None)] + LEVELS
        for name, cut in rows:
            rej = {k for k, q in photos.items() if cut is not None and q is not None and q < cut}
            up = [k for k in photos if "/degraded_" not in k]
            dg = [k for k in photos if "/degraded_" in k]
            kept = [p for p in compared if p["left"] not in rej and p["right"] not in rej]
            fnm, g, fm, i = counts(kept, threshold)
            removed = "–" if cut is None else f"{100 * (1 - (fnm + fm) / base):.0f}%"
            label = name if cut is None else f"{name} ({cut:g})"
            print(
                f"| {b} | {label} | {100 * sum(k in rej for k in up) / len(up):.1f}% of {len(up)} "
                f"| {100 * sum(k in rej for k in dg) / len(dg):.1f}% of {len(dg)} "
                f"| {rate(fnm + fm, g + i)} | {removed} | {rate(fnm, g)} | {rate(fm, i)} |"
            )


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/facematch-quality-study"
    bundles = [b for b in ("default", "buffalo_s") if load(out, f"{b}_everything")]
    print("### Error rates with 95% intervals\n")
    rates_table(out, bundles)
    print("\n### By degradation (right photo degraded, left as it is)\n")
    kinds_table(out, bundles)
    for b in bundles:
        print(f"\n### By quality band ({b}, all pairs)\n")
        bands_table(out, b)
    print("\n### By head pose (dev photos as they are)\n")
    pose_table(out, bundles)
    print("\n### Quality filter levels (at score 30)\n")
    levels_table(out, bundles)


if __name__ == "__main__":
    main()
