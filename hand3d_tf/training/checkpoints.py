"""Atomic training checkpoints: write into a hidden temporary folder, then rename.

Layout of an output directory::

    config.json                 resolved TrainConfig of the run (written atomically)
    checkpoints/ckpt-00005000/  one complete checkpoint: ckpt.index, ckpt.data-*, meta.json
    checkpoints/.tmp-...        a write in progress (or one killed midway): never read

A checkpoint folder only appears under its final name through ``os.rename`` of a folder
that already holds every file, so a process killed at any moment leaves either the new
checkpoint complete or no trace of it besides a ``.tmp-`` folder, which later saves delete.

The trainer writes a checkpoint's tensors as soon as its step is done but renames it into
place (``commit``) only once the weights proved good: finite, and the next step's loss from
them finite. A run that explodes therefore never leaves a checkpoint that a resume would
explode from. Resuming reads the newest checkpoint and falls back past damaged ones
(``restore_newest``). The file-layout part of this module imports no TensorFlow, so the CLI
checks an output folder before loading it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import tempfile
import uuid

from hand3d_tf import paths
from hand3d_tf.atomic import atomic_write

log = logging.getLogger(__name__)

CHECKPOINT_SUBDIR = "checkpoints"
CONFIG_FILE = "config.json"
META_FILE = "meta.json"
PREFIX_NAME = "ckpt"
_FINAL = re.compile(r"^ckpt-(\d+)$")
_TMP = ".tmp-"


class CheckpointError(RuntimeError):
    """A checkpoint folder is missing, incomplete or does not fit the model."""


class CheckpointCorruptError(CheckpointError):
    """A checkpoint's files cannot be read (truncated, overwritten, missing a shard) or hold
    NaN/inf: a resume falls back to the previous checkpoint."""


class OutputDirError(ValueError):
    """The output directory holds a run this one must not overwrite or cannot resume."""


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


@dataclasses.dataclass(frozen=True)
class PendingCheckpoint:
    """A checkpoint written but not yet renamed into place; tmp None: nothing to rename."""

    step: int
    tmp: str | None
    final: str


class CheckpointManager:
    """Saves ``checkpoint`` (a tf.train.Checkpoint) atomically and keeps the last ``keep``.

    is_chief: in multi-worker training every worker must take part in a save; only the
    chief's copy is kept, the others write to a throw-away folder.
    """

    def __init__(
        self,
        directory: str,
        checkpoint,  # tf.train.Checkpoint
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
        return self.commit(self.write_pending(step), meta)

    def write_pending(self, step: int) -> PendingCheckpoint:
        """Write the tensors of ``step`` into a hidden folder; ``commit`` or ``discard`` it.

        Until committed the checkpoint is invisible: a kill leaves only a ``.tmp-`` folder.
        """
        final = os.path.join(self.directory, f"ckpt-{int(step):08d}")
        if not self.is_chief:
            scratch = tempfile.mkdtemp(prefix="hand3d-worker-ckpt-")
            try:
                self.checkpoint.write(checkpoint_prefix(scratch))
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            return PendingCheckpoint(int(step), None, final)
        if os.path.isdir(final):
            return PendingCheckpoint(int(step), None, final)
        tmp = os.path.join(self.directory, f"{_TMP}ckpt-{int(step):08d}-{uuid.uuid4().hex[:8]}")
        os.makedirs(tmp)
        try:
            self.checkpoint.write(checkpoint_prefix(tmp))
            for name in os.listdir(tmp):
                with open(os.path.join(tmp, name), "rb") as f:
                    os.fsync(f.fileno())
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return PendingCheckpoint(int(step), tmp, final)

    def commit(self, pending: PendingCheckpoint, meta: dict | None = None) -> str:
        """Rename a pending checkpoint into place (with its meta file); returns its folder."""
        if pending.tmp is None:
            return pending.final
        try:
            # The meta file is written last: its presence marks a complete folder.
            write_json_atomic(
                os.path.join(pending.tmp, META_FILE), dict(meta or {}, step=pending.step)
            )
            self._finalize(pending.tmp, pending.final)
        except BaseException:
            shutil.rmtree(pending.tmp, ignore_errors=True)
            raise
        self._prune()
        return pending.final

    @staticmethod
    def discard(pending: PendingCheckpoint | None) -> None:
        """Delete a pending checkpoint that proved bad (or cannot be verified)."""
        if pending is not None and pending.tmp is not None:
            shutil.rmtree(pending.tmp, ignore_errors=True)

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


def restore_checkpoint(checkpoint, folder: str) -> dict:
    """Read a checkpoint folder into ``checkpoint`` (a tf.train.Checkpoint); returns its meta.

    Raises:
      CheckpointCorruptError: a file is truncated, overwritten or missing (the reader's
        IndexError "Read less bytes than requested", DataLossError, other OpErrors) or the
        meta file is not JSON.
      CheckpointError: the folder is not a checkpoint, or it does not fit the model.
    """
    import tensorflow as tf

    meta_path = os.path.join(folder, META_FILE)
    if not os.path.isfile(meta_path):
        raise CheckpointError(f"{folder} is not a complete checkpoint (no {META_FILE})")
    try:
        meta = read_json(meta_path)
    except (OSError, ValueError) as err:  # ValueError: JSON or UTF-8 decoding
        raise CheckpointCorruptError(
            f"checkpoint {folder}: unreadable {META_FILE} ({err})"
        ) from err
    try:
        status = checkpoint.read(checkpoint_prefix(folder))
    except (IndexError, EOFError, OSError, tf.errors.OpError) as err:
        raise CheckpointCorruptError(
            f"checkpoint {folder} is damaged: {type(err).__name__}: {err}"
        ) from err
    except ValueError as err:  # e.g. a saved shape that differs from the model's
        raise CheckpointError(f"checkpoint {folder} does not fit this model: {err}") from err
    try:
        status.assert_existing_objects_matched()
    except AssertionError as err:
        raise CheckpointError(f"checkpoint {folder} does not fit this model: {err}") from err
    status.expect_partial()
    return meta


def restore_newest(
    checkpoint, folders: list[str], check=None, set_aside: bool = False
) -> tuple[str, dict]:
    """Restore the newest of ``folders`` (newest first) that reads cleanly.

    check: optional callable(folder) run after a restore; it raises CheckpointCorruptError
    when the restored state is unusable (e.g. NaN weights). A damaged checkpoint is skipped
    with a warning that names it; one that does not fit the model stops the search
    (CheckpointError). set_aside (the chief of a resumed run): rename the skipped ones to
    ``<name>.damaged`` (kept for inspection, never read) so the run can write those steps
    again. Returns (folder, meta); CheckpointCorruptError when none is usable.
    """
    skipped = []
    for folder in folders:
        try:
            meta = restore_checkpoint(checkpoint, folder)
            if check is not None:
                check(folder)
        except CheckpointCorruptError as err:
            skipped.append(folder)
            log.warning("skipping checkpoint %s: %s; trying the previous one", folder, err)
            continue
        for bad in skipped if set_aside else ():
            aside = f"{bad}.damaged"
            if os.path.exists(aside):
                aside = f"{aside}-{uuid.uuid4().hex[:8]}"
            os.rename(bad, aside)
            log.warning("damaged checkpoint %s moved to %s", bad, aside)
        return folder, meta
    raise CheckpointCorruptError(
        f"no usable checkpoint to resume: {', '.join(skipped) or 'none found'} could not be read"
    )


def check_output_dir(config) -> list[str]:
    """Check ``config.output_dir`` for a run of ``config`` (a TrainConfig); no TensorFlow.

    Returns the checkpoint folders to resume from, newest first (empty when not resuming).
    Raises OutputDirError: no folder given, a path that is a file or not writable,
    checkpoints of a run without ``resume``, a different config with ``resume``, or
    ``resume`` with no checkpoint (resume never silently starts from scratch).
    """
    from hand3d_tf.training.presets import TrainConfig

    out = config.output_dir
    if not out:
        raise OutputDirError("output_dir is empty; give the folder for checkpoints and logs")
    try:
        paths.check_output_folder(out, f"output dir {out}")
    except paths.OutputPathError as err:
        raise OutputDirError(str(err)) from None
    ckpt_dir = os.path.join(out, CHECKPOINT_SUBDIR)
    found = list_checkpoints(ckpt_dir)
    if not found:
        if config.resume:
            raise OutputDirError(
                f"resume: {ckpt_dir} holds no complete checkpoint; drop --resume to start a "
                "new run there"
            )
        return []
    existing = [path for _, path in reversed(found)]
    saved, latest = None, existing[0]
    for folder in existing:  # the newest meta file that reads (damaged ones are skipped)
        try:
            saved = TrainConfig.from_dict(read_json(os.path.join(folder, META_FILE))["config"])
            latest = folder
            break
        except (OSError, ValueError, KeyError, TypeError):
            continue
    if not config.resume:
        described = (
            "a run with unreadable metadata"
            if saved is None
            else f"run {saved.run_name} (preset {saved.preset}, width {saved.width})"
        )
        raise OutputDirError(
            f"output dir {out} already holds checkpoints of {described} up to step "
            f"{found[-1][0]}; pass --resume to continue it or choose another --output_dir"
        )
    diffs = {} if saved is None else config.resume_differences(saved)
    if diffs:
        listed = "; ".join(f"{k}: saved {a!r}, requested {b!r}" for k, (b, a) in diffs.items())
        raise OutputDirError(
            f"cannot resume in {out}: it holds a {saved.run_name} run with a different config "
            f"({listed}) in {latest}; resume with the saved values or use another --output_dir"
        )
    return existing
