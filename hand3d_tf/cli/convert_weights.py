"""hand3d-convert-weights: released pickles -> our npz + json weight files (facts §4).

  hand3d-convert-weights --handsegnet=weights/handsegnet-rhd.pickle \
      --posenet=weights/posenet3d-rhd-stb-slr-finetuned.pickle --output_dir=weights/

writes handsegnet.npz/json, posenet.npz/json and (when the posenet pickle carries the
PosePrior / ViewpointNet tensors, or --lifting is given) lifting.npz/json, and prints
the max abs difference between the pickle and the re-read files (0 when faithful).
"""

from __future__ import annotations

import hashlib
import pathlib
import sys

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
# allow_override: other CLI modules define flags of the same names (pytest imports several).
_OVR = {"allow_override": True}
flags.DEFINE_string("handsegnet", None, "HandSegNet pickle, e.g. handsegnet-rhd.pickle", **_OVR)
flags.DEFINE_string(
    "posenet",
    None,
    "PoseNet2D (+ lifting) pickle, e.g. posenet3d-rhd-stb-slr-finetuned.pickle",
    **_OVR,
)
flags.DEFINE_string(
    "lifting", None, "lifting-<variant>.pickle (PosePrior [+ ViewpointNet] only)", **_OVR
)
flags.DEFINE_enum(
    "lifting_variant",
    None,
    ["proposed", "direct", "bottleneck", "local", "local_w_xyz_loss"],
    "lifting variant; default: from a lifting-<variant>.pickle name, else from the keys",
    **_OVR,
)
flags.DEFINE_string("output_dir", None, "folder for the .npz + .json files (required)", **_OVR)

_LIFTING_SCOPES = ("PosePrior/", "ViewpointNet/")


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _lifting_variant(flag: str | None, path: str, weights: dict) -> str:
    from hand3d_tf.evaluation_inputs import infer_lifting_variant

    return flag or infer_lifting_variant(path, weights)


def _save(
    out_dir: pathlib.Path, stem: str, model, cfg, source: str, original: dict
) -> pathlib.Path:
    from hand3d_tf import weights as W

    provenance = {"converted_from": pathlib.Path(source).name, "source_sha256": _sha256(source)}
    npz, _ = W.save_weights(out_dir / stem, model, cfg.to_dict(), provenance=provenance)
    reread, _ = W.load_weights(npz)
    diff = max(float(np.max(np.abs(reread[k] - original[k]))) for k in reread)
    print(f"  wrote {npz} (+ .json): {len(reread)} tensors, max |pickle - file| = {diff:g}")
    return npz


def convert(
    output_dir: str,
    handsegnet: str | None = None,
    posenet: str | None = None,
    lifting: str | None = None,
    lifting_variant: str | None = None,
) -> list[pathlib.Path]:
    """Convert the given pickles into output_dir; returns the .npz paths written."""
    from hand3d_tf import models
    from hand3d_tf import weights as W

    out_dir, written = pathlib.Path(output_dir), []
    if handsegnet:
        original = W.load_original_weights(handsegnet)
        cfg = models.HandSegNetConfig()
        model = models.HandSegNet(cfg)
        print(W.assign_weights(model, original, source=handsegnet).summary())
        written.append(_save(out_dir, "handsegnet", model, cfg, handsegnet, original))

    lifting_src = (lifting, W.load_original_weights(lifting)) if lifting else None
    if posenet:
        original = W.load_original_weights(posenet)
        has_lifting = any(k.startswith(_LIFTING_SCOPES) for k in original)
        if has_lifting and lifting_src is not None:
            print(f"--lifting given: the lifting tensors of {posenet} are not converted")
        elif has_lifting:
            lifting_src = (posenet, original)
        else:
            print(f"{posenet} has no PosePrior/ViewpointNet tensors: no lifting file from it")
        cfg = models.PoseNetConfig()
        model = models.PoseNet(cfg)
        # Lifting keys are accounted for separately; do not report them as unexpected.
        posenet_part = {k: v for k, v in original.items() if not k.startswith(_LIFTING_SCOPES)}
        print(W.assign_weights(model, posenet_part, source=posenet).summary())
        written.append(_save(out_dir, "posenet", model, cfg, posenet, original))

    if lifting_src is not None:
        path, original = lifting_src
        cfg = models.PosePriorConfig(variant=_lifting_variant(lifting_variant, path, original))
        model = models.Lifting(config=cfg)
        # From a posenet pickle only its lifting part; a lifting pickle is taken whole so
        # that foreign keys in it are reported.
        part = (
            original
            if path == lifting
            else {k: v for k, v in original.items() if k.startswith(_LIFTING_SCOPES)}
        )
        print(
            f"lifting variant {cfg.variant}: "
            + W.assign_weights(model, part, source=path).summary()
        )
        written.append(_save(out_dir, "lifting", model, cfg, path, original))
    return written


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not FLAGS.output_dir:
        raise app.UsageError("--output_dir is required")
    if not (FLAGS.handsegnet or FLAGS.posenet or FLAGS.lifting):
        raise app.UsageError("give at least one of --handsegnet, --posenet, --lifting")
    try:
        convert(
            FLAGS.output_dir, FLAGS.handsegnet, FLAGS.posenet, FLAGS.lifting, FLAGS.lifting_variant
        )
    except (OSError, ValueError) as err:  # bad / unsafe / mismatching files: message, no traceback
        print(f"hand3d-convert-weights: {err}", file=sys.stderr)
        return 1
    return 0


def run():
    app.run(main)


if __name__ == "__main__":
    run()
