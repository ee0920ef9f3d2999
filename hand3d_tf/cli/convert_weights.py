"""hand3d-convert-weights: released pickles -> our npz + json weight files (docs/original.md §4).

  hand3d-convert-weights --handsegnet=weights/handsegnet-rhd.pickle \
      --posenet=weights/posenet3d-rhd-stb-slr-finetuned.pickle --output_dir=weights/

writes handsegnet.npz/json, posenet.npz/json and (when the posenet pickle carries the
PosePrior / ViewpointNet tensors, or --lifting is given) lifting.npz/json, and prints
the max abs difference between the pickle and the re-read files (0 when faithful).

All or nothing: every pickle is read and assigned to its network before anything is
written; the files are written into a hidden temporary folder, which becomes --output_dir
by one rename (a new or empty folder) or whose files are moved into an existing folder
only once all were written. A failed or killed conversion leaves --output_dir as it was.
Exit status 2 on a user error (one line naming the file or flag).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import uuid

import numpy as np
from absl import flags

from hand3d_tf.cli.errors import UserError, check_input_file, check_output_dir, user_errors
from hand3d_tf.cli.errors import run as run_cli
from hand3d_tf.files import sha256_file

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


def _lifting_variant(flag: str | None, path: str, weights: dict) -> str:
    from hand3d_tf.evaluation.predictors import infer_lifting_variant

    if flag:
        return flag
    try:
        return infer_lifting_variant(path, weights)
    except ValueError as err:  # ambiguous keys: the user must name the variant
        raise UserError(f"{err} (--lifting_variant)") from err


_STAGING = ".hand3d-convert-"  # <prefix><pid>-<random>: a conversion in progress


def _save(stage: pathlib.Path, stem: str, model, cfg, source: str, original: dict, shown):
    from hand3d_tf import weights as W

    provenance = {"converted_from": pathlib.Path(source).name, "source_sha256": sha256_file(source)}
    npz, _ = W.save_weights(stage / stem, model, cfg.to_dict(), provenance=provenance)
    reread, _ = W.load_weights(npz)
    diff = max(float(np.max(np.abs(reread[k] - original[k]))) for k in reread)
    print(f"  {shown / npz.name} (+ .json): {len(reread)} tensors, max |pickle - file| = {diff:g}")
    return shown / npz.name


def _remove_stale_staging(folder: pathlib.Path) -> None:
    """Delete staging folders left by conversions that were killed (their pid is gone)."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if not (entry.name.startswith(_STAGING) and entry.is_dir()):
            continue
        try:
            pid = int(entry.name[len(_STAGING) :].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(entry, ignore_errors=True)
        except (ValueError, PermissionError):
            pass  # not ours to judge, or a live process of another user


def _staging(out_dir: pathlib.Path) -> pathlib.Path:
    """A new hidden folder for the files: beside a new/empty out_dir (renamed onto it at
    the end), inside a non-empty one (its files moved in at the end)."""
    empty = not out_dir.exists() or not any(out_dir.iterdir())
    parent = out_dir.parent if empty else out_dir
    parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(parent)
    stage = parent / f"{_STAGING}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    stage.mkdir()
    return stage


def _publish(stage: pathlib.Path, out_dir: pathlib.Path) -> None:
    if stage.parent != out_dir:
        os.rename(stage, out_dir)  # atomic; replaces out_dir only if it is an empty folder
        return
    # Into an existing folder: every file is complete; each json follows its npz, so a
    # reader never sees a json without the npz it describes.
    for path in sorted(stage.iterdir(), key=lambda p: p.suffix != ".npz"):
        os.replace(path, out_dir / path.name)
    stage.rmdir()


def _jobs(handsegnet, posenet, lifting, lifting_variant) -> list[tuple]:
    """(stem, model, config, source, original) per output, every pickle read and assigned."""
    from hand3d_tf import weights as W

    # Every pickle is read (safely, NaN-checked) before TensorFlow is even imported.
    read = {p: W.load_original_weights(p) for p in (handsegnet, posenet, lifting) if p}
    from hand3d_tf import models

    jobs = []
    if handsegnet:
        original = read[handsegnet]
        cfg = models.HandSegNetConfig()
        model = models.HandSegNet(cfg)
        print(W.assign_weights(model, original, source=handsegnet).summary())
        jobs.append(("handsegnet", model, cfg, handsegnet, original))

    lifting_src = (lifting, read[lifting]) if lifting else None
    if posenet:
        original = read[posenet]
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
        jobs.append(("posenet", model, cfg, posenet, original))

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
        jobs.append(("lifting", model, cfg, path, original))
    return jobs


def convert(
    output_dir: str,
    handsegnet: str | None = None,
    posenet: str | None = None,
    lifting: str | None = None,
    lifting_variant: str | None = None,
) -> list[pathlib.Path]:
    """Convert the given pickles into output_dir, all or nothing; returns the .npz paths.

    Raises (before anything is written) FileNotFoundError, UnsafePickleError,
    WeightsFileError or WeightMismatchError naming the file and the keys.
    """
    jobs = _jobs(handsegnet, posenet, lifting, lifting_variant)
    out_dir = pathlib.Path(output_dir)
    stage = _staging(out_dir)
    try:
        written = [_save(stage, *job, shown=out_dir) for job in jobs]
        _publish(stage, out_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return written


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments: {argv[1:]}")
    out_dir = check_output_dir(FLAGS.output_dir)
    given = [(f, getattr(FLAGS, f)) for f in ("handsegnet", "posenet", "lifting")]
    if not any(path for _, path in given):
        raise UserError("give at least one of --handsegnet, --posenet, --lifting")
    for flag, path in given:
        if path:
            check_input_file(path, f"--{flag}")
    from hand3d_tf import safe_pickle
    from hand3d_tf import weights as W

    with user_errors(
        FileNotFoundError, safe_pickle.UnsafePickleError, W.WeightsFileError,
        W.WeightMismatchError,
    ):  # fmt: skip
        convert(str(out_dir), FLAGS.handsegnet, FLAGS.posenet, FLAGS.lifting, FLAGS.lifting_variant)
    return 0


def run():
    run_cli(main, "hand3d-convert-weights")


if __name__ == "__main__":
    run()
