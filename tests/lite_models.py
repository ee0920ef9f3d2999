"""Tiny stand-in TFLite models with sidecars, and an eval set, for the hand3d_tf.lite and
benchmarks tests (the fixtures ``tiny_tflite_dir`` and ``tiny_eval_arrays`` in conftest.py).

The stand-ins have known outputs, so every accuracy number the runtime reports can be
re-computed independently in NumPy (TensorFlow converts them, in the TEST process only):
- "handsegnet": logits = (-10 a, 10 a), a = 8x8 average of the red channel (stride 8);
- "posenet": 21 copies of the 8x8 average of the red channel (+ 0.001 k to break ties);
- "lifting": xyz_k = mean(scoremap_k) * (1, 2, 3) + hand_side[0] * (0, 0, 1).
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil

import numpy as np

from hand3d_tf.lite import sidecar as sc

FRAME_HW = (48, 64)
N_EVAL = 6


def _tiny_functions(tf):
    def handsegnet(image):
        hand = tf.nn.avg_pool2d(image[..., :1], 8, 8, "VALID") * 10.0
        return {"logits": tf.concat([-hand, hand], -1)}

    def posenet(image):
        s = tf.nn.avg_pool2d(image[..., :1], 8, 8, "VALID")
        return {"scoremap": tf.tile(s, [1, 1, 1, 21]) + tf.range(21, dtype=tf.float32) * 1e-3}

    def lifting(scoremap, hand_side):
        m = tf.reduce_mean(scoremap, axis=[1, 2])
        xyz = m[..., None] * tf.constant([1.0, 2.0, 3.0])
        return {"xyz": xyz + hand_side[:, :1, None] * tf.constant([0.0, 0.0, 1.0])}

    return {
        "handsegnet": (handsegnet, {"image": [1, *FRAME_HW, 3]}, ["logits"]),
        "posenet": (posenet, {"image": [1, 256, 256, 3]}, ["scoremap"]),
        "lifting": (lifting, {"scoremap": [1, 32, 32, 21], "hand_side": [1, 2]}, ["xyz"]),
    }


def _entry(role, detail):
    scale, zero_point = detail["quantization"]
    quant = {"scale": float(scale), "zero_point": int(zero_point)} if scale else None
    return {
        "name": detail["name"],
        "role": role,
        "shape": [int(d) for d in detail["shape"]],
        "dtype": detail["dtype"].__name__,
        "quantization": quant,
    }


def write_sidecar(path: pathlib.Path, net: str, mode: str, in_roles, out_roles, stride: int):
    """Sidecar in the schema hand3d_tf.tflite/1 for the model at ``path``."""
    from ai_edge_litert.interpreter import Interpreter

    blob = path.read_bytes()
    interp = Interpreter(model_content=blob)
    sig = interp.get_signature_runner()
    by_index = {d["index"]: d for d in interp.get_input_details() + interp.get_output_details()}
    ins = [_entry(r, by_index[sig.get_input_details()[r]["index"]]) for r in in_roles]
    outs = [_entry(r, by_index[sig.get_output_details()[r]["index"]]) for r in out_roles]
    car = {
        "format": sc.FORMAT,
        "net": net,
        "mode": mode,
        "model_file": path.name,
        "model_sha256": hashlib.sha256(blob).hexdigest(),
        "model_bytes": len(blob),
        "inputs": ins,
        "outputs": outs,
        "normalization": {"scale": 1 / 255, "offset": -0.5} if net != "lifting" else None,
        "input_size": ins[0]["shape"][1:3],
        "output_stride": stride,
        "keypoint_names": [],
        "lifting_variant": None,
        "weights_sha256": None,
        "weights_path": None,
        "ops": [],
        "converter": {},
        "created": "2025-01-01",
    }
    path.with_suffix(".json").write_text(json.dumps(car, indent=1))
    return car


def _representative(shapes, rng):
    def gen():
        for _ in range(8):
            yield {
                r: (
                    np.float32([[1, 0]])
                    if r == "hand_side"
                    else rng.uniform(-0.5, 0.5, s).astype(np.float32)
                )
                for r, s in shapes.items()
            }

    return gen


def build_tiny_exports(tf, out: pathlib.Path) -> pathlib.Path:
    """An export-like folder: {handsegnet,posenet,lifting}_{fp32,int8} + third_party.tflite."""
    rng = np.random.default_rng(0)
    for net, (fn, shapes, out_roles) in _tiny_functions(tf).items():
        module = tf.Module()
        module.f = tf.function(
            fn, input_signature=[tf.TensorSpec(s, tf.float32, name=r) for r, s in shapes.items()]
        )
        concrete = module.f.get_concrete_function()
        for mode in ("fp32", "int8"):
            conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module)
            if mode == "int8":
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
                conv.representative_dataset = _representative(shapes, rng)
                conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                conv.inference_input_type = tf.int8
                conv.inference_output_type = tf.int8
            path = out / f"{net}_{mode}.tflite"
            path.write_bytes(conv.convert())
            write_sidecar(path, net, mode, list(shapes), out_roles, 8 if net != "lifting" else 1)
    # A "third-party" model: no sidecar (int8 input, timed with random int8 data).
    shutil.copy(out / "posenet_int8.tflite", out / "third_party.tflite")
    return out


def make_eval_arrays(n=N_EVAL, hw=FRAME_HW, seed=1):
    """Eval-set arrays with known structure (``cells``: the bright score-map cell per crop)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 100, (n, *hw, 3), dtype=np.uint8)
    gt_mask = np.zeros((n, *hw), bool)
    crops = np.full((n, 256, 256, 3), -0.5, np.float32)
    cells = rng.integers(1, 31, (n, 2))
    for i in range(n):
        r0, c0 = 8 * rng.integers(1, 3), 8 * rng.integers(1, 4)
        images[i, r0 : r0 + 16, c0 : c0 + 16, 0] = 250  # a bright 2x2-cell "hand"
        gt_mask[i, r0 - 2 : r0 + 18, c0 - 1 : c0 + 17] = True
        r, c = cells[i]
        crops[i, 8 * r : 8 * r + 8, 8 * c : 8 * c + 8, 0] = 0.5  # one bright score-map cell
    return {
        "images": images,
        "hand_side": np.eye(2, dtype=np.float32)[rng.integers(0, 2, n)],
        "gt_mask": gt_mask,
        "gt_uv": rng.uniform(0, hw[1], (n, 21, 2)).astype(np.float32),
        "gt_vis": rng.random((n, 21)) > 0.2,
        "crops": crops,
        "crop_uv": rng.uniform(0, 256, (n, 21, 2)).astype(np.float32),
        "crop_scale": rng.uniform(1, 3, n).astype(np.float32),
        "scoremaps": rng.random((n, 32, 32, 21)).astype(np.float32),
        "gt_xyz": rng.normal(0, 0.05, (n, 21, 3)).astype(np.float32),
        "keypoint_scale": rng.uniform(0.02, 0.04, n).astype(np.float32),
        "cells": cells,
    }


def save_eval(path, arrays):
    """Write ``arrays`` (without ``cells``) as an eval.npz of the hand3d_tf.lite.evalset schema."""
    data = {k: v for k, v in arrays.items() if k != "cells"}
    np.savez(path, meta=json.dumps({"dataset": "test", "has_mask": True}), **data)
    return path
