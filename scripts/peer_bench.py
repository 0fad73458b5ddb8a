"""The peer of issue 14: Python's face_recognition per image, one thread.

Run through scripts/peer_bench.sh (it creates the pinned virtual environment). For each
photo it times the whole path a face_recognition user runs on one image, from the JPEG
bytes in memory:

    load_image_file (decode) -> face_locations (HOG, upsample 1)
    -> face_encodings (5-point landmarks, model "small", num_jitters=1)

and prints the median and p90 of the wall time (and the median CPU time, which shows the
run stayed on one thread). The photos are those of `facematch bench`: the two ~1 MP JPEGs
and a 150x150 one made the same way as its `small_jpeg` (the first photo's centre square,
shrunk with a triangle filter, JPEG quality 90).
"""

import argparse
import io
import os
import statistics
import sys
import time
from importlib.metadata import version

import face_recognition
from PIL import Image

PHOTOS = ("celebs/Barack_Obama/obama.jpg", "celebs/Barack_Obama/obama1.jpg")


def small_jpeg(data: bytes, side: int = 150) -> bytes:
    """The first photo's centre square at side x side, JPEG q90 (as bench.rs small_jpeg)."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = image.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    square = image.crop((left, top, left + s, top + s))
    small = square.resize((side, side), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=90)
    return out.getvalue()


def whole_path(data: bytes) -> int:
    """Decode, detect, landmark and embed every face; returns the number of faces."""
    image = face_recognition.load_image_file(io.BytesIO(data))
    boxes = face_recognition.face_locations(image, number_of_times_to_upsample=1, model="hog")
    encodings = face_recognition.face_encodings(
        image, known_face_locations=boxes, num_jitters=1, model="small"
    )
    return len(encodings)


def measure(data: bytes, n: int) -> tuple[float, float, float, int]:
    """Median and p90 wall ms, median CPU ms, faces found; one warm-up run first."""
    faces = whole_path(data)
    wall, cpu = [], []
    for _ in range(n):
        t, c = time.perf_counter(), time.process_time()
        whole_path(data)
        cpu.append((time.process_time() - c) * 1000.0)
        wall.append((time.perf_counter() - t) * 1000.0)
    wall.sort()
    p90 = wall[min(len(wall) * 9 // 10, len(wall) - 1)]
    return wall[len(wall) // 2], p90, statistics.median(cpu), faces


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="../shared/data/faces", help="face photo folder")
    parser.add_argument("--iterations", type=int, default=20, help="timed runs per photo")
    args = parser.parse_args()
    if args.iterations < 1:
        parser.error("--iterations must be at least 1")

    photos = []
    for rel in PHOTOS:
        path = os.path.join(args.root, rel)
        with open(path, "rb") as f:
            data = f.read()
        w, h = Image.open(io.BytesIO(data)).size
        photos.append((f"{os.path.basename(rel)} ({w}x{h})", data))
    photos.append(("150x150 JPEG (first photo)", small_jpeg(photos[0][1])))

    versions = ", ".join(
        f"{name} {version(name)}"
        for name in ("dlib-bin", "face_recognition", "face_recognition_models", "numpy", "Pillow")
    )
    print(f"== peer: {versions}; python {sys.version.split()[0]}")
    print(f"== {args.iterations} timed runs per photo after one warm-up; one thread "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})")
    print(f"{'photo: decode → HOG → 5 pts → embed':<38} {'median':>9} {'p90':>9} "
          f"{'CPU med':>9} faces")
    for name, data in photos:
        median, p90, cpu, faces = measure(data, args.iterations)
        print(f"{name:<38} {median:>6.1f} ms {p90:>6.1f} ms {cpu:>6.1f} ms {faces:>5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
