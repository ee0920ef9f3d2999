"""Weights: the released pickles (read safely), assignment, and our own npz + json format.

Key scheme (docs/original.md §4): ``<Scope>/<layer>/weights`` (conv HWIO / FC [in, out], the
Keras kernel layouts as they are) and ``<Scope>/<layer>/biases``, Scope one of
HandSegNet, PoseNet2D, PosePrior, ViewpointNet. Our own files keep these key names, so a
converted file and a released pickle are interchangeable in :func:`assign_weights`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any, Union

import numpy as np

from hand3d_tf import safe_pickle
from hand3d_tf.atomic import atomic_write
from hand3d_tf.files import sha256_file
from hand3d_tf.spec import nets as spec

__all__ = [
    "SCOPES",
    "LoadReport",
    "WeightMismatchError",
    "WeightsFileError",
    "load_original_weights",
    "original_key_map",
    "assign_weights",
    "model_weights",
    "save_weights",
    "load_weights",
    "read_manifest",
    "load_model",
    "net_of_keys",
]

log = logging.getLogger(__name__)

SCOPES = (spec.HANDSEGNET_SCOPE, spec.POSENET_SCOPE, spec.POSE_PRIOR_SCOPE, spec.VIEWPOINT_SCOPE)
FORMAT_NAME = "hand3d_tf-weights"
FORMAT_VERSION = 1

# Layer-name prefixes of the lifting branches (spec.nets); in the flat Lifting model they
# decide the scope, since one model holds both.
_PREFIX_SCOPES = (
    (spec.POSE_PRIOR_LAYER_PREFIXES, spec.POSE_PRIOR_SCOPE),
    (spec.VIEWPOINT_LAYER_PREFIXES, spec.VIEWPOINT_SCOPE),
)

ModelOrModels = Union[Any, Sequence[Any]]


class WeightMismatchError(ValueError):
    """Weights do not fit the model(s); nothing was assigned."""


class WeightsFileError(ValueError):
    """A weights file is malformed, incomplete or does not match its metadata; the message
    names the file (and the key)."""


@dataclasses.dataclass
class LoadReport:
    """What :func:`assign_weights` did: keys loaded, and keys of the source it ignored."""

    source: str
    loaded: list[str]
    unexpected: list[str]

    def summary(self) -> str:
        text = f"{self.source}: loaded {len(self.loaded)} tensors"
        if self.unexpected:
            text += (
                f"; ignored {len(self.unexpected)} unexpected keys: {', '.join(self.unexpected)}"
            )
        return text


def load_original_weights(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a released weights pickle (docs/original.md §4) without executing anything in it.

    Returns:
      {key: float32 array}, e.g. "HandSegNet/conv1_1/weights" -> [3, 3, 3, 64].

    Raises:
      FileNotFoundError: no such file.
      UnsafePickleError: see safe_pickle.load.
      WeightsFileError (a ValueError): the file is not a complete pickle, not a dict, a
        key is not a str, a value is not a numeric array, or a tensor holds NaN / inf (the
        message names the file and the key).
    """
    try:
        obj = safe_pickle.load(path, what="weights file")
    except safe_pickle.UnsafePickleError:
        raise
    except ValueError as err:
        raise WeightsFileError(str(err)) from err
    if not isinstance(obj, dict):
        raise WeightsFileError(
            f"weights file '{path}' holds a {type(obj).__name__}, expected a dict of key -> array"
        )
    out: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise WeightsFileError(
                f"weights file '{path}': key {key!r} is a {type(key).__name__}, expected str"
            )
        if not isinstance(value, (np.ndarray, np.generic)) or not np.issubdtype(
            value.dtype, np.number
        ):
            raise WeightsFileError(
                f"weights file '{path}': value of key '{key}' is a {type(value).__name__}"
                f"{'' if not hasattr(value, 'dtype') else f' of dtype {value.dtype}'}, expected a numeric array"
            )
        array = np.asarray(value, dtype=np.float32)
        if not np.all(np.isfinite(array)):
            raise WeightsFileError(f"weights file '{path}': key '{key}' contains NaN or inf")
        out[key] = array
    return out


def _as_list(models: ModelOrModels) -> list[Any]:
    if isinstance(models, (list, tuple)):
        return list(models)
    return [models]


def _scope_of(model, layer_name: str) -> str:
    for prefixes, scope in _PREFIX_SCOPES:
        if layer_name.startswith(prefixes):
            return scope
    if model.name in SCOPES:
        return model.name
    raise ValueError(
        f"cannot name the weights of layer '{layer_name}' of model '{model.name}': the model name "
        f"must be one of {SCOPES} (or the layer a lifting layer: conv_pose_*, fc_rel*, fc_xyz, "
        f"fc_bottleneck, conv_vp_*, fc_vp*)"
    )


def original_key_map(model) -> dict[str, Any]:
    """{"<Scope>/<layer>/weights" | ".../biases": tf.Variable} for every Conv2D / Dense layer."""
    from hand3d_tf.keras import keras

    mapping: dict[str, Any] = {}
    for layer in model.layers:
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            continue
        prefix = f"{_scope_of(model, layer.name)}/{layer.name}"
        mapping[f"{prefix}/weights"] = layer.kernel
        mapping[f"{prefix}/biases"] = layer.bias
    return mapping


def _key_map(models: ModelOrModels) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for model in _as_list(models):
        for key, var in original_key_map(model).items():
            if key in merged:
                raise ValueError(f"weight key '{key}' occurs in more than one of the given models")
            merged[key] = var
    return merged


def assign_weights(
    models: ModelOrModels, weights: Mapping[str, Any], *, source: str = "<dict>"
) -> LoadReport:
    """Copy ``weights`` into the model(s), all or nothing.

    Every expected key must be present with exactly the variable's shape and finite
    values; all problems are collected and raised together as WeightMismatchError
    (missing keys, unexpected keys, shape conflicts as (key, expected, got), non-finite
    keys), before any variable is touched. Unexpected keys alone are not an error (a
    released file may carry extra tensors, docs/original.md §4): they are logged and reported.
    """
    expected = _key_map(models)
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    conflicts, nonfinite, arrays = [], [], {}
    for key in sorted(set(expected) & set(weights)):
        try:
            array = np.asarray(weights[key], dtype=np.float32)
        except (TypeError, ValueError) as err:
            raise WeightMismatchError(
                f"weights from {source}: key '{key}' is not numeric ({err})"
            ) from err
        want = tuple(expected[key].shape)
        if array.shape != want:
            conflicts.append((key, want, array.shape))
        elif not np.all(np.isfinite(array)):
            nonfinite.append(key)
        arrays[key] = array
    if missing or conflicts or nonfinite:
        lines = [f"weights from {source} do not fit the model(s); nothing was assigned"]
        if missing:
            lines.append(f"missing keys ({len(missing)}): {', '.join(missing)}")
        if conflicts:
            lines.append(
                "shape conflicts (key, expected, got): "
                + "; ".join(f"{k}, {e}, {g}" for k, e, g in conflicts)
            )
        if nonfinite:
            lines.append(f"keys with NaN or inf: {', '.join(nonfinite)}")
        if unexpected:
            lines.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected)}")
        raise WeightMismatchError("\n  ".join(lines))
    for key, var in expected.items():
        var.assign(arrays[key])
    report = LoadReport(source=source, loaded=sorted(expected), unexpected=unexpected)
    (log.warning if unexpected else log.debug)("%s", report.summary())
    return report


def model_weights(models: ModelOrModels) -> dict[str, np.ndarray]:
    """{original key: float32 array} of the model(s); the inverse of assign_weights."""
    return {key: var.numpy().astype(np.float32) for key, var in _key_map(models).items()}


def _paths(path: str | os.PathLike) -> tuple[pathlib.Path, pathlib.Path]:
    """(<stem>.npz, <stem>.json) for a stem or either file's path."""
    p = pathlib.Path(path)
    if p.suffix in (".npz", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".npz"), p.with_name(p.name + ".json")


def net_of_keys(keys) -> str | None:
    """The models.NETS name whose scope(s) the keys use, or None when mixed / unknown."""
    scopes = {str(k).split("/", 1)[0] for k in keys}
    if scopes == {spec.HANDSEGNET_SCOPE}:
        return "handsegnet"
    if scopes == {spec.POSENET_SCOPE}:
        return "posenet"
    if scopes and scopes <= {spec.POSE_PRIOR_SCOPE, spec.VIEWPOINT_SCOPE}:
        return "lifting"
    return None


def save_weights(
    path: str | os.PathLike,
    models_or_dict: ModelOrModels | Mapping[str, Any],
    config: dict,
    *,
    provenance: dict | None = None,
) -> tuple[pathlib.Path, pathlib.Path]:
    """Write ``<stem>.npz`` (original key names, float32) and ``<stem>.json`` (metadata).

    Args:
      path: the stem, or a path ending in .npz / .json.
      models_or_dict: model(s) or a {key: array} dict.
      config: JSON-serialisable config of the net, by convention its config dataclass's
        ``to_dict()`` (so ``models.build(net, config)`` rebuilds it; see load_model).
      provenance: optional JSON-serialisable notes (source file, its sha256, ...).

    Returns:
      (npz path, json path). Each file is replaced atomically (temp file in the same
      folder + os.replace); the json records the npz's sha256, so a crash between the
      two replaces is detected by load_weights.
    """
    from hand3d_tf.version import __version__

    if isinstance(models_or_dict, Mapping):
        arrays = {str(k): np.asarray(v, dtype=np.float32) for k, v in models_or_dict.items()}
    else:
        arrays = model_weights(models_or_dict)
    npz_path, json_path = _paths(path)
    npz_path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "hand3d_tf_version": __version__,
        "net": net_of_keys(arrays),
        "config": config,
        "provenance": provenance or {},
        "num_tensors": len(arrays),
        "npz_sha256": "",
    }
    json.dumps(meta)  # fail on a non-JSON config before writing anything
    atomic_write(npz_path, lambda f: np.savez(f, **arrays))
    meta["npz_sha256"] = sha256_file(npz_path)
    atomic_write(json_path, json.dumps(meta, indent=2) + "\n")
    return npz_path, json_path


def read_manifest(path: str | os.PathLike, net: str | None = None) -> dict:
    """The checked ``<stem>.json`` of a file pair written by :func:`save_weights`.

    Cheap (no array is read, no network built): the json must parse, name this format,
    record the npz's sha256 (which must match the npz on disk) and, when ``net`` is given,
    describe that net.

    Raises:
      FileNotFoundError: a file of the pair is missing.
      WeightsFileError (a ValueError): anything else; the message names the file.
    """
    npz_path, json_path = _paths(path)
    for p in (npz_path, json_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"weights file '{p}' not found (save_weights writes .npz and .json)"
            )
    try:
        meta = json.loads(json_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WeightsFileError(f"weights metadata '{json_path}' is not valid JSON: {err}") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise WeightsFileError(f"'{json_path}' is not a {FORMAT_NAME} metadata file")
    if not isinstance(meta.get("config"), dict):
        raise WeightsFileError(f"'{json_path}': key 'config' must be a dict of the net's config")
    if net is not None and meta.get("net") not in (None, net):
        raise WeightsFileError(
            f"'{json_path}' describes a {meta.get('net')} net, expected {net} (key 'net')"
        )
    digest = sha256_file(npz_path)
    if digest != meta.get("npz_sha256"):
        raise WeightsFileError(
            f"'{npz_path}' does not match '{json_path}' (sha256 {digest} != {meta.get('npz_sha256')}); "
            "the pair was not written together or was modified"
        )
    return meta


def load_weights(
    path: str | os.PathLike, manifest: dict | None = None
) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file pair written by :func:`save_weights` (no pickle involved).

    manifest: the pair's :func:`read_manifest`, when the caller checked it already (the
    json is then not read, nor the npz hashed, a second time).

    Returns:
      ({key: float32 array}, the config dict given to save_weights).

    Raises:
      FileNotFoundError: a file of the pair is missing.
      WeightsFileError (a ValueError): see :func:`read_manifest`; also an npz that cannot
        be read or whose tensor count differs from the json's.
    """
    meta = read_manifest(path) if manifest is None else manifest
    npz_path, _ = _paths(path)
    try:
        with np.load(npz_path, allow_pickle=False) as f:
            weights = {key: f[key].astype(np.float32) for key in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise WeightsFileError(f"'{npz_path}' is not a readable npz file: {err}") from err
    if len(weights) != meta.get("num_tensors"):
        raise WeightsFileError(
            f"'{npz_path}' holds {len(weights)} tensors, its json says {meta.get('num_tensors')}"
        )
    return weights, meta["config"]


def load_model(path: str | os.PathLike):
    """Build the net a saved file pair holds (net from its key scopes) and load it.

    Returns:
      The keras.Model (models.build(net, config)) with the weights assigned.
    """
    from hand3d_tf import models

    weights, config = load_weights(path)
    net = net_of_keys(weights)
    if net is None:
        raise WeightsFileError(
            f"weights '{path}' mix scopes {sorted({k.split('/', 1)[0] for k in weights})}; "
            f"load_model needs one net of {models.NETS}"
        )
    model = models.build(net, config)
    assign_weights(model, weights, source=str(_paths(path)[0]))
    return model
