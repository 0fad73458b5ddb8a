"""The int8 study of issue 14: is dlib's ResNet, quantized to 8 bits, as accurate as the
float model the server runs, and how much faster is it on this CPU?

Reads what `int8_inputs` wrote (scripts/int8_study.sh runs both): `resnet.onnx` (the
server's float graph), `chips/*.png` (the recognizer's 150x150 chips) and the rewritten pair
lists. Builds int8 models with ONNX Runtime's own quantizer: dynamic (8-bit weights,
activations quantized per run); static QDQ (per-channel int8 weights) with activation
ranges calibrated on the UTKFace dev chips (research data, a set apart from the pair
lists); the same calibrated on augmented variants of the open-licence fixtures' faces
(public domain / CC0: ranges that could ship); and that again with 7-bit weights
(`reduce_range`), which keeps ONNX Runtime's u8 x s8 products exact on CPUs without
VNNI. For each list: accuracy at dlib's threshold 0.6, the best accuracy over thresholds
0.30-0.90, ROC AUC of the distances, pairs whose decision at 0.6 differs from the float
model's, and how far the distances moved. Then the median time of one chip through each
model, one thread. Integer results depend on the CPU: run it where you deploy.
"""

import argparse
import os
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)
from PIL import Image, ImageEnhance, ImageFilter

LISTS = ["pairs_lfw_dev.tsv", "pairs_lfw_dev_deepfunneled.tsv", "pairs_celebs.tsv"]


def chip(folder, name):
    """A chip as the server feeds it: 1x3x150x150 float RGB, 0-255."""
    pixels = np.asarray(Image.open(os.path.join(folder, name)).convert("RGB"), np.float32)
    return pixels.transpose(2, 0, 1)[None]


def augmented(folder, names, count, seed=14):
    """`count` variants of the open-licence chips: mirrored, turned a little, lighter or
    darker, more or less contrast and colour, blurred or noisy, at a fixed seed."""
    rng = np.random.default_rng(seed)
    bases = [Image.open(os.path.join(folder, n)).convert("RGB") for n in names]
    out = []
    for i in range(count):
        img = bases[i % len(bases)]
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        img = img.rotate(rng.uniform(-8, 8), resample=Image.BILINEAR,
                         translate=tuple(rng.uniform(-4, 4, 2)))
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.5, 1.5))
        img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.6, 1.5))
        img = ImageEnhance.Color(img).enhance(rng.uniform(0.0, 1.6))
        if rng.random() < 0.3:
            img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
        pixels = np.asarray(img, np.float32)
        if rng.random() < 0.3:
            pixels = np.clip(pixels + rng.normal(0, rng.uniform(2, 10), pixels.shape), 0, 255)
        out.append(pixels.astype(np.float32).transpose(2, 0, 1)[None])
    return out


def pairs(folder, listname):
    rows = []
    with open(os.path.join(folder, listname)) as f:
        for line in f:
            a, b, same = line.rstrip("\n").split("\t")
            rows.append((a, b, same == "1"))
    return rows


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def auc(distances, same):
    """P(a same-person pair is closer than a different-person pair); ties count half."""
    genuine = distances[same]
    impostor = distances[~same]
    wins = (genuine[:, None] < impostor[None, :]).sum()
    ties = (genuine[:, None] == impostor[None, :]).sum()
    return (wins + 0.5 * ties) / (len(genuine) * len(impostor))


class Calibration(CalibrationDataReader):
    def __init__(self, inputs, name):
        self.items = iter([{name: x} for x in inputs])

    def get_next(self):
        return next(self.items, None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="what int8_inputs wrote")
    parser.add_argument("--iterations", type=int, default=100, help="timed runs per model")
    parser.add_argument("--open-count", type=int, default=300,
                        help="augmented open-licence chips to calibrate on")
    args = parser.parse_args()
    folder = args.folder

    float_path = os.path.join(folder, "resnet.onnx")
    input_name = session(float_path).get_inputs()[0].name
    lists = {name: pairs(folder, name) for name in LISTS}
    names = sorted({n for rows in lists.values() for a, b, _ in rows for n in (a, b)})
    chips = {n: chip(folder, n) for n in names}
    with open(os.path.join(folder, "calibration.txt")) as f:
        calibration = [chip(folder, line.strip()) for line in f if line.strip()]

    with open(os.path.join(folder, "calibration_open.txt")) as f:
        open_names = [line.strip() for line in f if line.strip()]
    calibration_open = augmented(folder, open_names, args.open_count)

    models = {"float32 (served)": float_path}
    models["int8 dynamic"] = os.path.join(folder, "resnet_int8_dynamic.onnx")
    # ORT's CPU ConvInteger takes unsigned 8-bit weights only.
    quantize_dynamic(float_path, models["int8 dynamic"], weight_type=QuantType.QUInt8)

    def static_qdq(label, file, data, reduce_range=False):
        """A static QDQ model: per-channel int8 weights, uint8 activations whose ranges
        come from running `data` through the float model."""
        models[label] = os.path.join(folder, file)
        quantize_static(float_path, models[label], Calibration(data, input_name),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        reduce_range=reduce_range,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)

    static_qdq("int8 static QDQ", "resnet_int8_qdq.onnx", calibration)
    static_qdq("int8 static QDQ, open calibration", "resnet_int8_qdq_open.onnx",
               calibration_open)
    # 7-bit weights: on CPUs without VNNI ONNX Runtime multiplies u8 x s8 pairs into int16
    # with saturation (VPMADDUBSW); reduce_range keeps every sum exact there.
    static_qdq("int8 static QDQ, open calibration, 7-bit weights",
               "resnet_int8_qdq_open_rr.onnx", calibration_open, reduce_range=True)

    embeddings = {}
    timings = {}
    for label, path in models.items():
        s = session(path)
        embeddings[label] = {n: s.run(None, {input_name: x})[0][0] for n, x in chips.items()}
        sample = chips[names[0]]
        for _ in range(5):
            s.run(None, {input_name: sample})
        runs = []
        for _ in range(args.iterations):
            began = time.perf_counter()
            s.run(None, {input_name: sample})
            runs.append(time.perf_counter() - began)
        timings[label] = np.median(runs) * 1e3

    print(f"chips: {len(names)}; static calibration on {len(calibration)} UTKFace chips, "
          f"or on {len(calibration_open)} augmented variants of {len(open_names)} open-licence chips")
    print("| list | model | pairs | acc at 0.6 | best acc | AUC | decisions at 0.6 changed "
          "| mean abs. distance change | max |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for listname, rows in lists.items():
        same = np.array([s for _, _, s in rows])
        base = None
        for label in models:
            e = embeddings[label]
            d = np.array([np.linalg.norm(e[a] - e[b]) for a, b, _ in rows])
            if base is None:
                base = d
            acc = ((d < 0.6) == same).mean()
            best = max(((d < t) == same).mean() for t in np.arange(0.30, 0.905, 0.01))
            changed = int(((d < 0.6) != (base < 0.6)).sum())
            delta = np.abs(d - base)
            print(f"| {listname} | {label} | {len(rows)} | {acc:.2%} | {best:.2%} | "
                  f"{auc(d, same):.4f} | {changed} | {delta.mean():.4f} | {delta.max():.4f} |")
    print()
    print("| model | one chip, one thread (median) |")
    print("|---|---:|")
    for label, ms in timings.items():
        print(f"| {label} | {ms:.2f} ms |")


if __name__ == "__main__":
    main()
