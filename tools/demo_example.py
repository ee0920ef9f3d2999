"""Pick and write the demo image (weights/example_hand.png + example_hand_truth.json).

The rule (weights/README.md, "Data"): among the first 60 held-out samples whose main hand has
at least 19 of 21 keypoints visible, lies inside the frame and fits a 240-row window, take
the one whose full-pipeline 2D median error (the given model, on the 240x320 window) is
closest to the median of those errors: a typical example, neither the best nor the worst.
A right hand is mirrored into a left hand, so every "left" default of the CLIs applies.

    python tools/demo_example.py --heldout=/tmp/h3d/v2_heldout --weights=weights/default \
        --output_dir=weights            # applies the rule, writes the two files
    python tools/demo_example.py --heldout=/tmp/h3d/v2_heldout --index=226 --output_dir=weights
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import cv2
import numpy as np

from hand3d_tf import keypoints as kp
from hand3d_tf.atomic import atomic_write
from hand3d_tf.data.rhd import RHDReader

WINDOW_ROWS = 240
MIN_VISIBLE = 19
NUM_CANDIDATES = 60
MARGIN_PX = 8  # keypoints at least this far inside the 320x320 frame
MAX_HAND_ROWS = 220
MIN_HAND_DIAGONAL_PX = 80


def main_hand(reader: RHDReader, index: int) -> tuple[str, slice]:
    """The side with more mask pixels, and its slice of RHD's 42 keypoints (docs/original.md §8.1)."""
    mask = cv2.imread(reader.mask_path(index), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise FileNotFoundError(f"cannot read mask {reader.mask_path(index)}")
    mask = mask[..., 0] if mask.ndim == 3 else mask
    left = np.sum((mask >= kp.MASK_LEFT_FIRST) & (mask <= kp.MASK_LEFT_PALM))
    right = np.sum(mask >= kp.MASK_RIGHT_FIRST)
    return ("left", kp.RHD_LEFT) if left >= right else ("right", kp.RHD_RIGHT)


def qualifies(reader: RHDReader, index: int) -> bool:
    _, hand = main_hand(reader, index)
    uv, vis = np.asarray(reader.uv[index])[hand], np.asarray(reader.vis[index])[hand]
    rows = uv[:, 1].max() - uv[:, 1].min()
    diagonal = np.hypot(*(uv.max(0) - uv.min(0)))
    inside = uv.min() >= MARGIN_PX and uv.max() <= 320 - MARGIN_PX
    return (
        vis.sum() >= MIN_VISIBLE
        and inside
        and rows <= MAX_HAND_ROWS
        and diagonal >= MIN_HAND_DIAGONAL_PX
    )


def example(reader: RHDReader, index: int, source: str) -> tuple[np.ndarray, dict]:
    """(RGB 240x320 window, ground truth in the window with the palm root) of one sample."""
    side, hand = main_hand(reader, index)
    uv = np.asarray(reader.uv[index], np.float64)[hand]
    vis = np.asarray(reader.vis[index], bool)[hand]
    xyz = np.asarray(reader.xyz[index], np.float64)[hand]
    # The 240-row window that centres the visible keypoints vertically.
    centre = float(np.clip(np.mean(uv[vis, 1]), WINDOW_ROWS / 2, 320 - WINDOW_ROWS / 2))
    top = int(round(centre - WINDOW_ROWS / 2))
    bgr = cv2.imread(reader.image_path(index))
    image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[top : top + WINDOW_ROWS]
    uv[:, 1] -= top
    uv_palm, vis_palm = kp.wrist_to_palm(uv, vis)
    xyz_palm, _ = kp.wrist_to_palm(xyz, vis)
    K = np.asarray(reader.K[index], np.float64).copy()
    K[1, 2] -= top
    where = (
        f"{source}, evaluation/color/{index:05d}.png, rows {top}:{top + WINDOW_ROWS} "
        "(a 240x320 frame, the pipeline's input size)"
    )
    if side == "right":  # mirrored, it is a left hand
        width = image.shape[1]
        image = image[:, ::-1]
        uv_palm[:, 0] = (width - 1) - uv_palm[:, 0]
        xyz_palm[:, 0] = -xyz_palm[:, 0]
        K[0, 2] = (width - 1) - K[0, 2]
        where += ", mirrored left-right (its right hand becomes a left hand)"
    truth = {
        "source": where,
        "hand_side": "left",
        "root": "palm",
        "keypoints_uv": np.round(uv_palm, 3).tolist(),
        "visible": [bool(v) for v in vis_palm],
        "keypoints_xyz_m": np.round(xyz_palm, 5).tolist(),
        "K": np.round(K, 4).tolist(),
    }
    return np.ascontiguousarray(image), truth


def median_error_px(pipe, image: np.ndarray, truth: dict) -> float:
    record = pipe.predict(image, hand_side="left").record(0)
    error = np.linalg.norm(
        np.asarray(record["keypoints_uv"]) - np.asarray(truth["keypoints_uv"]), axis=1
    )
    return float(np.median(error[np.asarray(truth["visible"])]))


def pick(reader: RHDReader, weights: str, source: str) -> dict:
    from hand3d_tf.pipeline import ColorHandPose3D

    pipe = ColorHandPose3D.from_weights_dir(weights)
    candidates = []
    for index in range(len(reader)):
        if qualifies(reader, index):
            candidates.append(index)
        if len(candidates) >= NUM_CANDIDATES:
            break
    errors = {i: median_error_px(pipe, *example(reader, i, source)) for i in candidates}
    typical = float(np.median(list(errors.values())))
    chosen = min(errors, key=lambda i: (abs(errors[i] - typical), i))
    return {"candidates": len(candidates), "median_error_px": typical, "pick": chosen,
            "pick_error_px": errors[chosen]}  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--heldout", required=True, help="held-out synthetic root (evaluation/)")
    parser.add_argument("--weights", default="weights/default", help="model the rule uses")
    parser.add_argument("--output_dir", default="weights", help="where the two files go")
    parser.add_argument("--index", type=int, help="write this sample instead of applying the rule")
    parser.add_argument(
        "--source",
        default="hand3d-make-synthetic --seed=2 --num_eval=500 (generator v2)",
    )
    args = parser.parse_args(argv)
    reader = RHDReader(args.heldout, "evaluation")
    if args.index is None:
        chosen = pick(reader, args.weights, args.source)
        print(json.dumps(chosen))
        args.index = chosen["pick"]
    elif not 0 <= args.index < len(reader):
        parser.error(f"--index={args.index} is outside 0..{len(reader) - 1}")
    image, truth = example(reader, args.index, args.source)
    out = pathlib.Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    ok, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    atomic_write(out / "example_hand.png", png.tobytes())
    atomic_write(out / "example_hand_truth.json", json.dumps(truth, indent=1) + "\n")
    print(f"wrote {out / 'example_hand.png'} and example_hand_truth.json (sample {args.index})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
