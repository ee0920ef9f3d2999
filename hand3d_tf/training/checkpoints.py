"""Atomic training checkpoints: write into a hidden temporary folder, then rename.

Layout of an output directory::

    config.json                 resolved TrainConfig of the run (written atomically)
    checkpoints/ckpt-00005000/  one complete checkpoint: ckpt.index, ckpt.data-*, meta.json
    checkpoints/.tmp-...        a write in progress (or one killed midway): never read

A checkpoint folder only appears under its final name through ``os.rename`` of a folder
that already holds every file, so a process killed at any moment leaves either the new
checkpoint complete or no trace of it besides a ``.tmp-`` folder, which later saves delete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid

import tensorflow as tf

from hand3d_tf.atomic import atomic_write

CHECKPOINT_SUBDIR = "checkpoints"
CONFIG_FILE = "config.json"
META_FILE = "meta.json"
PREFIX_NAME = "ckpt"
_FINAL = re.compile(r"^ckpt-(\d+)$")
_TMP = ".tmp-"


class CheckpointError(RuntimeError):
    """A checkpoint folder is missing, incomplete or does not fit the model."""


def _fsync_dir(path: str) -> None:
    # Make the rename durable; not every filesystem allows opening a directory.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(path: str, obj) -> None:
    """Write JSON to ``path`` via a temporary file in the same folder and ``os.replace``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    atomic_write(path, json.dumps(obj, indent=2, sort_keys=True))
    _fsync_dir(folder)


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def list_checkpoints(directory: str) -> list[tuple[int, str]]:
    """Complete checkpoints in ``directory`` as (step, folder), oldest first.

    A folder counts only if it has its final name and holds the meta file and the index.
    """
    if not os.path.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        match = _FINAL.match(name)
        path = os.path.join(directory, name)
        if (
            match
            and os.path.isfile(os.path.join(path, META_FILE))
            and os.path.isfile(os.path.join(path, PREFIX_NAME + ".index"))
        ):
            found.append((int(match.group(1)), path))
    return sorted(found)


def checkpoint_prefix(folder: str) -> str:
    """The tf.train.Checkpoint prefix inside a checkpoint folder."""
    return os.path.join(folder, PREFIX_NAME)


def resolve_checkpoint(path: str) -> str | None:
    """A checkpoint folder from a checkpoint folder, a checkpoints/ folder or an output dir."""
    if os.path.isfile(os.path.join(path, PREFIX_NAME + ".index")):
        return path
    for candidate in (os.path.join(path, CHECKPOINT_SUBDIR), path):
        found = list_checkpoints(candidate)
        if found:
            return found[-1][1]
    return None


class CheckpointManager:
    """Saves ``checkpoint`` (a tf.train.Checkpoint) atomically and keeps the last ``keep``.

    is_chief: in multi-worker training every worker must take part in a save; only the
    chief's copy is kept, the others write to a throw-away folder.
    """

    def __init__(
        self,
        directory: str,
        checkpoint: tf.train.Checkpoint,
        keep: int = 3,
        is_chief: bool = True,
    ):
        if keep < 1:
            raise ValueError(f"keep must be >= 1; received {keep}")
        self.directory = directory
        self.checkpoint = checkpoint
        self.keep = keep
        self.is_chief = is_chief
        os.makedirs(directory, exist_ok=True)

    def checkpoints(self) -> list[tuple[int, str]]:
        return list_checkpoints(self.directory)

    def latest(self) -> str | None:
        found = self.checkpoints()
        return found[-1][1] if found else None

    def save(self, step: int, meta: dict | None = None) -> str:
        """Write the checkpoint for ``step``; returns its folder. Existing steps are kept."""
        final = os.path.join(self.directory, f"ckpt-{int(step):08d}")
        if not self.is_chief:
            scratch = tempfile.mkdtemp(prefix="hand3d-worker-ckpt-")
            try:
                self.checkpoint.write(checkpoint_prefix(scratch))
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            return final
        if os.path.isdir(final):
            return final
        tmp = os.path.join(self.directory, f"{_TMP}ckpt-{int(step):08d}-{uuid.uuid4().hex[:8]}")
        os.makedirs(tmp)
        try:
            self.checkpoint.write(checkpoint_prefix(tmp))
            for name in os.listdir(tmp):
                with open(os.path.join(tmp, name), "rb") as f:
                    os.fsync(f.fileno())
            # The meta file is written last: its presence marks a complete folder.
            write_json_atomic(os.path.join(tmp, META_FILE), dict(meta or {}, step=int(step)))
            self._finalize(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._prune()
        return final

    def _finalize(self, tmp: str, final: str) -> None:
        os.rename(tmp, final)
        _fsync_dir(self.directory)

    def _prune(self) -> None:
        for _, path in self.checkpoints()[: -self.keep]:
            shutil.rmtree(path, ignore_errors=True)
        # Leftovers of writes killed midway (this process has none in flight now).
        for name in os.listdir(self.directory):
            if name.startswith(_TMP):
                path = os.path.join(self.directory, name)
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.remove(path)

    def restore(self, folder: str | None = None) -> dict:
        """Restore from ``folder`` (default: the latest); returns its meta dict.

        Every object of the live checkpoint (model weights, optimizer slots, step) must be
        found in the file; otherwise CheckpointError names the folder.
        """
        folder = folder or self.latest()
        if folder is None:
            raise CheckpointError(f"no complete checkpoint in {self.directory}")
        return restore_checkpoint(self.checkpoint, folder)


def restore_checkpoint(checkpoint: tf.train.Checkpoint, folder: str) -> dict:
    """Read a checkpoint folder into ``checkpoint``; returns its meta dict."""
    meta_path = os.path.join(folder, META_FILE)
    if not os.path.isfile(meta_path):
        raise CheckpointError(f"{folder} is not a complete checkpoint (no {META_FILE})")
    try:
        status = checkpoint.read(checkpoint_prefix(folder))
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as err:
        raise CheckpointError(f"checkpoint {folder} does not fit this model: {err}") from err
    status.expect_partial()
    return read_json(meta_path)
