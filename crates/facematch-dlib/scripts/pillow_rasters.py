#!/usr/bin/env python3
"""Decode the golden photos exactly as the dlib reference did (Pillow, RGB, no EXIF
rotation) into raw rasters, for `tests/golden_dlib.rs::exact_on_pillow_pixels`, which
runs this script itself.

usage: pillow_rasters.py FACES_DIR OUT_DIR
Writes OUT_DIR/<row>.raw (RGB8, row-major) and OUT_DIR/<row>.dim ("width height") for
every row of FACES_DIR/golden/dlib_reference.jsonl, and prints the Pillow version.
Needs Pillow only: python3 -m pip install --user -r scripts/requirements.txt
"""
import json
import os
import sys

import PIL
from PIL import Image


def main() -> None:
    faces, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(faces, "golden/dlib_reference.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for i, row in enumerate(rows):
        with Image.open(os.path.join(faces, row["image"])) as img:
            rgb = img.convert("RGB")
        with open(os.path.join(out, f"{i}.raw"), "wb") as f:
            f.write(rgb.tobytes())
        with open(os.path.join(out, f"{i}.dim"), "w") as f:
            f.write(f"{rgb.width} {rgb.height}")
    print(PIL.__version__)


if __name__ == "__main__":
    main()
