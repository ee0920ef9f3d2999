"""The per-split index of a sequence dataset: ``<split>/sequences.json`` (docs/data.md,
"Sequences"). JSON only, no NumPy needed to read it.

    {"format": "hand3d_tf.synthetic.sequences", "version": 1, "split": "evaluation",
     "sequence_length": 60,
     "sequences": [{"first_id": 0, "length": 60, "in_frame": [true, true, ...]}, ...]}

Sequence s holds the sample ids first_id .. first_id + length - 1 of the split's RHD files,
in frame order; in_frame[t] is False when no keypoint of the main hand (the one every frame
shows) projects inside frame t.
"""

from __future__ import annotations

import json
import pathlib

from hand3d_tf.atomic import atomic_write
from hand3d_tf.data import manifest
from hand3d_tf.files import sha256_file

SEQUENCES_FILE = "sequences.json"
INDEX_FORMAT = "hand3d_tf.synthetic.sequences"
INDEX_VERSION = 1


class SequenceIndexError(ValueError):
    """A split's sequence index is missing, unreadable or inconsistent (names the file)."""


def write_index(split_dir, split: str, length: int, in_frame: list[list[bool]]) -> pathlib.Path:
    """Write split_dir/sequences.json for sequences of ``length`` frames with consecutive
    ids (sequence s starts at s * length); in_frame: per sequence, per frame."""
    entries = [
        {"first_id": s * length, "length": length, "in_frame": [bool(x) for x in flags]}
        for s, flags in enumerate(in_frame)
    ]
    index = {"format": INDEX_FORMAT, "version": INDEX_VERSION, "split": split,
             "sequence_length": int(length), "sequences": entries}  # fmt: skip
    return atomic_write(pathlib.Path(split_dir) / SEQUENCES_FILE, json.dumps(index) + "\n")


def _is_int(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def read_sequences(split_dir) -> list[dict]:
    """The sequences of a split written with --sequence_length: a list, in id order, of
    {"first_id": int, "length": int, "in_frame": [length] bool}.

    Raises SequenceIndexError naming the file when it is missing (a split of single images),
    not the index format, inconsistent, or not the index the split's manifest was written
    with.
    """
    path = pathlib.Path(split_dir) / SEQUENCES_FILE
    if not path.is_file():
        raise SequenceIndexError(
            f"{path} does not exist: {split_dir} holds no sequences (write them with "
            "hand3d-make-synthetic --sequence_length=N)"
        )
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SequenceIndexError(f"{path}: unreadable sequence index ({err})") from None
    if not isinstance(index, dict) or index.get("format") != INDEX_FORMAT:
        raise SequenceIndexError(f"{path}: not a sequence index (format {INDEX_FORMAT!r})")
    if index.get("version") != INDEX_VERSION:
        raise SequenceIndexError(
            f"{path}: index version {index.get('version')!r}; this reader knows {INDEX_VERSION}"
        )
    entries = index.get("sequences")
    if not isinstance(entries, list):
        raise SequenceIndexError(f"{path}: 'sequences' must be a list")
    next_id = 0
    for s, entry in enumerate(entries):
        ok = (
            isinstance(entry, dict)
            and _is_int(entry.get("first_id"), 0)
            and _is_int(entry.get("length"), 1)
            and isinstance(entry.get("in_frame"), list)
            and len(entry["in_frame"]) == entry["length"]
            and all(isinstance(x, bool) for x in entry["in_frame"])
        )
        if not ok:
            raise SequenceIndexError(
                f"{path}: sequence {s} must be {{'first_id': int >= 0, 'length': int >= 1, "
                f"'in_frame': [length] bool}}; received {str(entry)[:200]}"
            )
        if entry["first_id"] < next_id:
            raise SequenceIndexError(f"{path}: sequence {s} overlaps the one before it")
        next_id = entry["first_id"] + entry["length"]
    written = manifest.read_manifest(split_dir) or {}
    expected = written.get("sequence_index_sha256")
    if expected is not None and expected != sha256_file(path):
        raise SequenceIndexError(
            f"{path} is not the sequence index the split's manifest was written with"
        )
    return [{k: entry[k] for k in ("first_id", "length", "in_frame")} for entry in entries]
