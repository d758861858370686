"""Run a synface ONNX export in onnxruntime and compare with synface's own embeddings.

Usage: onnx_check.py MODEL.onnx PIXELS.f32 N SIDE EXPECTED.f32 EXPECTED_FLIP.f32 DIM
PIXELS is float32 [N, 3, SIDE, SIDE] (RGB, 0..255); EXPECTED* are float32 [N, DIM]
(tests/integration/py_export.rs writes them). Prints one JSON line; exits 1 when an output
differs from synface's by more than 1e-4: after L2 normalisation (what verification scores),
absolutely; before it, relative to the largest value (raw embeddings of a barely trained
model reach thousands, where float32 itself resolves only ~5e-4).
"""
import json
import sys

import numpy as np
import onnxruntime as ort


def main():
    model, pixels, n, side, expected, expected_flip, dim = sys.argv[1:8]
    n, side, dim = int(n), int(side), int(dim)
    x = np.fromfile(pixels, dtype="<f4").reshape(n, 3, side, side)
    want = np.fromfile(expected, dtype="<f4").reshape(n, dim)
    want_flip = np.fromfile(expected_flip, dtype="<f4").reshape(n, dim)
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    got, got_flip = sess.run(["embedding", "embedding_flip"], {"pixels": x})
    unit = lambda e: e / np.linalg.norm(e, axis=1, keepdims=True)
    scale = max(1.0, float(np.abs(want).max()), float(np.abs(want_flip).max()))
    raw = float(max(np.abs(got - want).max(), np.abs(got_flip - want_flip).max()))
    diff = float(np.abs(unit(got) - unit(want)).max())
    diff_flip = float(np.abs(unit(got_flip) - unit(want_flip)).max())
    print(json.dumps({
        "max_abs_diff_normalised": diff,
        "max_abs_diff_flip_normalised": diff_flip,
        "max_abs_diff_raw": raw,
        "max_rel_diff_raw": raw / scale,
        "scale": scale,
        "arch": meta.get("synface.arch"),
        "preprocessing": meta.get("synface.preprocessing"),
        "onnxruntime": ort.__version__,
    }))
    return 0 if max(diff, diff_flip, raw / scale) <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
