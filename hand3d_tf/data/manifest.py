"""Split manifests: what a dataset writer promises, and what a reader checks. No TF.

A writer that builds a split in a temporary folder and renames it into place (the synthetic
generator does) leaves ``<split>/manifest.json`` beside the annotation file:

    {"manifest_version": 1, "split": "training", "count": 3000,
     "annotations": "anno_training.pickle", "annotations_sha256": "...",
     "generator": "...", "generator_version": 2, "seed": 0, "config": {...}}

A reader that finds one checks that the annotation file is the one the manifest was written
with and that every sample's colour and mask PNG is there, so a folder whose images and labels
come from different runs (an interrupted write, two datasets mixed) is refused by name
instead of being read with the wrong labels. Real RHD has no manifest and is read as before.
"""

from __future__ import annotations

import json
import os
import pathlib

from hand3d_tf.atomic import atomic_write
from hand3d_tf.files import sha256_file

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
# What the manifest says about where the data came from; two manifests that agree on these
# describe the same dataset (the annotation hash aside, which follows from them).
IDENTITY_KEYS = ("split", "count", "generator", "generator_version", "seed", "config")


class InconsistentDatasetError(ValueError):
    """A split folder's files disagree with its manifest (or the manifest is unreadable)."""


def write_manifest(split_dir, manifest: dict) -> pathlib.Path:
    """Write ``manifest`` (JSON-serialisable) as split_dir/manifest.json, atomically."""
    text = json.dumps({"manifest_version": MANIFEST_VERSION, **manifest}, indent=1, sort_keys=True)
    return atomic_write(pathlib.Path(split_dir) / MANIFEST_NAME, text + "\n")


def read_manifest(split_dir) -> dict | None:
    """The manifest of split_dir, or None when it has none. Raises
    InconsistentDatasetError naming the file when it is not a readable JSON object."""
    path = pathlib.Path(split_dir) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InconsistentDatasetError(f"{path}: unreadable manifest ({err})") from None
    if not isinstance(manifest, dict):
        raise InconsistentDatasetError(f"{path}: manifest is not a JSON object")
    return manifest


def same_dataset(a: dict, b: dict) -> bool:
    """Whether two manifests describe the same data (IDENTITY_KEYS agree)."""
    return all(a.get(k) == b.get(k) for k in IDENTITY_KEYS)


def describe(manifest: dict) -> str:
    """One line naming a dataset: generator, version, seed and count."""
    return (
        f"{manifest.get('generator', 'unknown generator')} "
        f"v{manifest.get('generator_version', '?')}, seed {manifest.get('seed', '?')}, "
        f"{manifest.get('count', '?')} samples"
    )


def _count_pngs(folder: str) -> int:
    try:
        with os.scandir(folder) as entries:
            return sum(1 for e in entries if e.name.endswith(".png"))
    except FileNotFoundError:
        return 0


def verify_split(split_dir, split: str, annotation_path, sample_ids) -> dict | None:
    """Check split_dir against its manifest (if any) and return the manifest.

    sample_ids: the ids of the loaded annotation file. Raises InconsistentDatasetError
    naming the folder when the manifest is for another split, the annotation file is not the
    one it was written with, or the colour/mask folders do not hold one PNG per sample.
    """
    split_dir = os.fspath(split_dir)
    manifest = read_manifest(split_dir)
    if manifest is None:
        return None
    problem = None
    count = manifest.get("count")
    if manifest.get("split") != split:
        problem = f"its manifest is for split {manifest.get('split')!r}, not {split!r}"
    elif manifest.get("annotations_sha256") != sha256_file(annotation_path):
        problem = (
            f"{os.path.basename(os.fspath(annotation_path))} is not the annotation file its "
            "manifest was written with"
        )
    elif sorted(int(i) for i in sample_ids) != list(range(count if isinstance(count, int) else -1)):
        problem = (
            f"its manifest lists {count} samples but the annotation file holds {len(sample_ids)}"
        )
    else:
        for kind in ("color", "mask"):
            found = _count_pngs(os.path.join(split_dir, kind))
            if found != count:
                problem = f"its manifest lists {count} samples but {kind}/ holds {found} PNGs"
                break
    if problem:
        raise InconsistentDatasetError(
            f"dataset folder {split_dir} is incomplete or inconsistent: {problem} (an "
            "interrupted or mixed write; regenerate it, e.g. hand3d-make-synthetic --overwrite)"
        )
    return manifest
