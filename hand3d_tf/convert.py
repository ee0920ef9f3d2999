"""Released pickles -> the project's npz + json weight files (docs/original.md §4).

    from hand3d_tf.convert import convert_released_weights
    convert_released_weights("weights/released", handsegnet="handsegnet-rhd.pickle",
                             posenet="posenet3d-rhd-stb-slr-finetuned.pickle")

The library behind ``hand3d-convert-weights``. Writes handsegnet.npz/json, posenet.npz/json
and (when the posenet pickle carries the PosePrior / ViewpointNet tensors, or a lifting
pickle is given) lifting.npz/json, and logs the max abs difference between each pickle and
its re-read file (0 when faithful).

All or nothing: every pickle is read (safely, before TensorFlow is imported) and assigned
to its network before anything is written; the files are written into a hidden temporary
folder, which becomes ``output_dir`` by one rename (a new or empty folder) or whose files
are moved into an existing folder only once all were written. A failed or killed
conversion leaves ``output_dir`` as it was.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import uuid
from collections.abc import Callable

import numpy as np

from hand3d_tf.atomic import remove_dead_temporaries, temporary_prefix
from hand3d_tf.files import sha256_file

LIFTING_SCOPES = ("PosePrior/", "ViewpointNet/")
STAGING_PREFIX = ".hand3d-convert-"  # <prefix><pid>-<random>: a conversion in progress


class LiftingVariantError(ValueError):
    """The lifting variant of a pickle cannot be told from its name or keys: name it."""


def lifting_variant_of(given: str | None, path, arrays: dict) -> str:
    """``given``, else the variant a lifting-<variant>.pickle name or the keys imply."""
    from hand3d_tf.evaluation.predictors import infer_lifting_variant

    if given:
        return given
    try:
        return infer_lifting_variant(path, arrays)
    except ValueError as err:  # direct / local / local_w_xyz_loss share their keys
        raise LiftingVariantError(str(err)) from err


def _staging(out_dir: pathlib.Path) -> pathlib.Path:
    """A new hidden folder for the files: beside a new/empty out_dir (renamed onto it at
    the end), inside a non-empty one (its files moved in at the end)."""
    empty = not out_dir.exists() or not any(out_dir.iterdir())
    parent = out_dir.parent if empty else out_dir
    parent.mkdir(parents=True, exist_ok=True)
    remove_dead_temporaries(parent, STAGING_PREFIX)  # left by killed conversions
    stage = parent / f"{temporary_prefix(STAGING_PREFIX)}{uuid.uuid4().hex[:8]}"
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


def _save(stage, stem, model, cfg, source, original, shown, log) -> pathlib.Path:
    from hand3d_tf import weights as W

    provenance = {"converted_from": pathlib.Path(source).name, "source_sha256": sha256_file(source)}
    npz, _ = W.save_weights(stage / stem, model, cfg.to_dict(), provenance=provenance)
    reread, _ = W.load_weights(npz)
    diff = max(float(np.max(np.abs(reread[k] - original[k]))) for k in reread)
    log(f"  {shown / npz.name} (+ .json): {len(reread)} tensors, max |pickle - file| = {diff:g}")
    return shown / npz.name


def _jobs(handsegnet, posenet, lifting, lifting_variant, log) -> list[tuple]:
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
        log(W.assign_weights(model, original, source=handsegnet).summary())
        jobs.append(("handsegnet", model, cfg, handsegnet, original))

    lifting_src = (lifting, read[lifting]) if lifting else None
    if posenet:
        original = read[posenet]
        has_lifting = any(k.startswith(LIFTING_SCOPES) for k in original)
        if has_lifting and lifting_src is not None:
            log(f"a lifting pickle is given: the lifting tensors of {posenet} are not converted")
        elif has_lifting:
            lifting_src = (posenet, original)
        else:
            log(f"{posenet} has no PosePrior/ViewpointNet tensors: no lifting file from it")
        cfg = models.PoseNetConfig()
        model = models.PoseNet(cfg)
        # Lifting keys are accounted for separately; do not report them as unexpected.
        posenet_part = {k: v for k, v in original.items() if not k.startswith(LIFTING_SCOPES)}
        log(W.assign_weights(model, posenet_part, source=posenet).summary())
        jobs.append(("posenet", model, cfg, posenet, original))

    if lifting_src is not None:
        path, original = lifting_src
        variant = lifting_variant_of(lifting_variant, path, original)
        cfg = models.PosePriorConfig(variant=variant)
        model = models.Lifting(config=cfg)
        # From a posenet pickle only its lifting part; a lifting pickle is taken whole so
        # that foreign keys in it are reported.
        part = original if path == lifting else {
            k: v for k, v in original.items() if k.startswith(LIFTING_SCOPES)
        }  # fmt: skip
        log(
            f"lifting variant {cfg.variant}: "
            + W.assign_weights(model, part, source=path).summary()
        )
        jobs.append(("lifting", model, cfg, path, original))
    return jobs


def convert_released_weights(
    output_dir,
    handsegnet=None,
    posenet=None,
    lifting=None,
    lifting_variant: str | None = None,
    log: Callable[[str], None] = print,
) -> list[pathlib.Path]:
    """Convert the given released pickles into ``output_dir``, all or nothing.

    Args:
      handsegnet / posenet / lifting: paths of the released pickles (any may be None, not
        all); a lifting pickle takes precedence over lifting tensors in the posenet one.
      lifting_variant: one of constants.LIFTING_VARIANTS; default: from a
        ``lifting-<variant>.pickle`` name, else from the keys.
      log: receives the assignment summaries and each file's max |pickle - file|.

    Returns:
      The written .npz paths (each with its .json).

    Raises (before anything is written): ValueError when no pickle is given;
    FileNotFoundError, safe_pickle.UnsafePickleError, weights.WeightsFileError,
    weights.WeightMismatchError or LiftingVariantError, naming the file and the keys.
    """
    if not any((handsegnet, posenet, lifting)):
        raise ValueError("give at least one released pickle (handsegnet, posenet, lifting)")
    jobs = _jobs(handsegnet, posenet, lifting, lifting_variant, log)
    out_dir = pathlib.Path(output_dir)
    stage = _staging(out_dir)
    try:
        written = [_save(stage, *job, shown=out_dir, log=log) for job in jobs]
        _publish(stage, out_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return written
