#!/usr/bin/env python3
"""Decode the golden photos exactly as the dlib reference did (Pillow, RGB, no EXIF
rotation) into raw rasters for `tests/golden_dlib.rs::exact_on_pillow_pixels`.

usage: pillow_rasters.py OUT_DIR   (needs Pillow and numpy)
then:  FACEMATCH_PIL_RASTERS=OUT_DIR cargo test -p facematch-dlib --test golden_dlib -- --ignored
"""
import json
import os
import sys

import numpy as np
from PIL import Image

FACES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../../shared/data/faces")


def main() -> None:
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(FACES, "golden/dlib_reference.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for i, row in enumerate(rows):
        a = np.asarray(Image.open(os.path.join(FACES, row["image"])).convert("RGB"))
        with open(os.path.join(out, f"{i}.raw"), "wb") as f:
            f.write(a.tobytes())
        with open(os.path.join(out, f"{i}.dim"), "w") as f:
            f.write(f"{a.shape[1]} {a.shape[0]}")


if __name__ == "__main__":
    main()
