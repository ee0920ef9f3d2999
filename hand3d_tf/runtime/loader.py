"""One way to load the networks: check a weights source once, then build its backend.

    from hand3d_tf import runtime
    checked = runtime.check("weights/default")              # cheap: builds nothing
    loaded = runtime.load(checked)                          # or runtime.load("weights/default")
    pipe = ColorHandPose3D.from_loaded(loaded)              # what every constructor does

A source is a weights folder (``<net>.npz`` + ``.json`` for Keras, ``<net>_<mode>.tflite`` +
sidecars for TFLite) or the two released pickles (Keras). ``check`` picks the backend
("auto": tflite when the folder holds the files of ``mode`` for ``input_size`` and a TFLite
runtime is installed, else keras), enforces the rules of the source (both pickles or none;
TFLite reads a folder, never pickles) and checks its metadata through one ``WeightsFolder``,
which reads each JSON and hashes each file at most once; ``load`` builds from that check
without reading them again. TensorFlow is imported only to build Keras networks.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

from hand3d_tf.constants import BACKENDS, DEFAULT_INPUT_SIZE, TENSORFLOW_EXTRA, TENSORFLOW_MODULES
from hand3d_tf.files import sha256_file
from hand3d_tf.lite import backend as lite_backend
from hand3d_tf.lite import sidecar as sc

WEIGHT_STEMS = ("handsegnet", "posenet", "lifting")  # files of a weights directory


class WeightsFolder:
    """A weights folder whose files are read (sidecars, manifests) and hashed at most once."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self._hashes: dict[pathlib.Path, str] = {}
        self._sidecars: dict[pathlib.Path, sc.Sidecar] = {}
        self._manifests: dict[str, dict] = {}

    def sha256(self, path) -> str:
        path = pathlib.Path(path)
        if path not in self._hashes:
            self._hashes[path] = sha256_file(path)
        return self._hashes[path]

    def sidecar(self, path) -> sc.Sidecar:
        path = pathlib.Path(path)
        if path not in self._sidecars:
            self._sidecars[path] = sc.load_sidecar(path)
        return self._sidecars[path]

    def manifest(self, stem: str) -> dict:
        """The checked ``<stem>.json`` (hand3d_tf.weights.read_manifest)."""
        from hand3d_tf import weights

        if stem not in self._manifests:
            self._manifests[stem] = weights.read_manifest(self.path / stem, net=stem)
        return self._manifests[stem]

    def tflite_size(self, mode: str) -> tuple[int, int]:
        """The (H, W) the folder's TFLite HandSegNet of ``mode`` runs at (its sidecar)."""
        model = lite_backend.model_paths(self.path, mode)["handsegnet"]
        return tuple(self.sidecar(sc.sidecar_path(model)).input_size)

    def check_keras(self) -> dict[str, dict]:
        """{stem: manifest} of the three nets' ``.npz`` + ``.json``.

        FileNotFoundError (the folder or a file is missing; the message lists what it needs),
        hand3d_tf.weights.WeightsFileError (a json that is not valid, describes another net
        or does not match its npz)."""
        need = f"{[s + '.npz' for s in WEIGHT_STEMS]} with their .json (hand3d-convert-weights writes them)"
        if not self.path.is_dir():
            raise FileNotFoundError(f"weights directory {self.path} not found; it must hold {need}")
        missing = [s for s in WEIGHT_STEMS if not (self.path / f"{s}.npz").is_file()]
        if missing:
            raise FileNotFoundError(
                f"weights directory {self.path} lacks {[m + '.npz' for m in missing]}; it must "
                f"hold {need}"
            )
        return {stem: self.manifest(stem) for stem in WEIGHT_STEMS}

    def check_tflite(self, mode: str) -> dict[str, sc.Sidecar]:
        """{net: Sidecar} (hand3d_tf.lite.backend.check_dir with this folder's memos)."""
        return lite_backend.check_dir(self.path, mode, self.sidecar, self.sha256)


def resolve_backend(folder, backend="auto", mode="fp32", input_size=DEFAULT_INPUT_SIZE) -> str:
    """ "tflite" or "keras" for a weights folder (a path or a WeightsFolder; cheap: file names
    and one sidecar). ValueError for another backend or mode."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}; received {backend!r}")
    if backend != "auto":
        return backend
    folder = folder if isinstance(folder, WeightsFolder) else WeightsFolder(folder)
    if not (lite_backend.has_tflite(folder.path, mode) and lite_backend.runtime_installed()):
        return "keras"
    fits = input_size is not None and tuple(int(v) for v in input_size) == folder.tflite_size(mode)
    return "tflite" if fits else "keras"


@dataclasses.dataclass
class Checked:
    """A weights source after ``check``: what ``load`` builds without reading it again."""

    backend: str  # "keras" or "tflite"
    mode: str
    input_size: tuple | None
    folder: WeightsFolder | None = None  # None for the pickles
    pickles: tuple | None = None
    sidecars: dict | None = None  # tflite: {net: Sidecar}
    manifests: dict | None = None  # keras folder: {net: manifest}


@dataclasses.dataclass
class Loaded:
    """What ``ColorHandPose3D.from_loaded`` takes: a backend, its input size, its source."""

    backend: object  # hand3d_tf.runtime.backends.KerasBackend | ModelFileBackend
    input_size: tuple | None
    source: dict


def _pickles(handsegnet_pickle, posenet_pickle) -> tuple | None:
    """Both released pickles, or None for neither; ValueError for only one."""
    if not handsegnet_pickle and not posenet_pickle:
        return None
    if not (handsegnet_pickle and posenet_pickle):
        raise ValueError("handsegnet_pickle and posenet_pickle go together; give both")
    return handsegnet_pickle, posenet_pickle


def check(weights, backend="auto", mode="fp32", input_size=DEFAULT_INPUT_SIZE,
          handsegnet_pickle=None, posenet_pickle=None) -> Checked:  # fmt: skip
    """Check a source without building a network (see the module docstring).

    Raises ValueError (a bad backend or mode, one pickle only, pickles with tflite),
    FileNotFoundError, hand3d_tf.weights.WeightsFileError, TfliteBackendError, SidecarError.
    """
    pickles = _pickles(handsegnet_pickle, posenet_pickle)
    if pickles is not None:
        if backend == "tflite":
            raise ValueError("the TFLite backend reads a weights folder, not the released pickles")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {list(BACKENDS)}; received {backend!r}")
        for path in pickles:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"weight pickle not found: {path}")
        return Checked("keras", mode, input_size, pickles=tuple(pickles))
    folder = weights if isinstance(weights, WeightsFolder) else WeightsFolder(weights)
    chosen = resolve_backend(folder, backend, mode, input_size)
    if chosen == "tflite":
        return Checked(chosen, mode, input_size, folder, sidecars=folder.check_tflite(mode))
    return Checked(chosen, mode, input_size, folder, manifests=folder.check_keras())


def load(weights, backend="auto", mode="fp32", input_size=DEFAULT_INPUT_SIZE, threads=None,
         handsegnet_pickle=None, posenet_pickle=None) -> Loaded:  # fmt: skip
    """The networks of a source (a path, a WeightsFolder, or a ``check`` result, which is
    then used as it is and the other arguments but ``threads`` are ignored).

    tflite: ``input_size`` None takes the model's, another size than the model's is a
    ValueError (TFLite shapes are fixed); threads: interpreter threads (default: every
    core); ImportError when no TFLite runtime is installed. keras: ModuleNotFoundError
    naming the [tf] extra when TensorFlow is missing.
    """
    checked = weights
    if not isinstance(checked, Checked):
        checked = check(weights, backend, mode, input_size, handsegnet_pickle, posenet_pickle)
    if checked.pickles is not None:
        return _load_pickles(checked)
    if checked.backend == "tflite":
        return _load_tflite(checked, threads)
    return _load_keras(checked)


def keras_modules():
    """(hand3d_tf.models, hand3d_tf.weights) for the Keras backend. Without TensorFlow or
    tf_keras: a ModuleNotFoundError (of the missing module) that names the [tf] extra and
    the TFLite backend, as the CLIs do, not a bare "No module named 'tf_keras'"."""
    try:
        from hand3d_tf import models, weights
    except ModuleNotFoundError as err:
        if not (err.name and err.name.split(".")[0] in TENSORFLOW_MODULES):
            raise
        raise ModuleNotFoundError(
            f"the Keras backend needs TensorFlow ({err.name} is not installed): "
            f"{TENSORFLOW_EXTRA}; or run the TFLite backend (backend='tflite') on a folder "
            "with <net>_<mode>.tflite files",
            name=err.name,
        ) from err
    return models, weights


def _load_keras(checked: Checked) -> Loaded:
    from hand3d_tf.runtime.backends import KerasBackend

    models, weights = keras_modules()
    directory = checked.folder.path
    nets, configs = [], {}
    for stem in WEIGHT_STEMS:
        values, config = weights.load_weights(directory / stem, checked.manifests[stem])
        try:
            net = models.build(stem, config)
        except (TypeError, ValueError) as err:
            raise weights.WeightsFileError(
                f"'{directory / stem}.json': its config does not build a {stem}: {err}"
            ) from err
        weights.assign_weights([net], values, source=str(directory / stem))
        nets.append(net)
        configs[stem] = config
    source = {"backend": "keras", "format": "hand3d_tf", "weights": str(directory),
              "configs": configs}  # fmt: skip
    return Loaded(KerasBackend(*nets), checked.input_size, source)


def _load_pickles(checked: Checked) -> Loaded:
    from hand3d_tf.runtime.backends import KerasBackend

    models, weights = keras_modules()
    handsegnet_pickle, posenet_pickle = checked.pickles
    nets = [models.HandSegNet(), models.PoseNet(), models.Lifting("proposed")]
    # run.py loads the HandSegNet file first, then the PoseNet + lifting file, a later
    # key overwriting an earlier one (docs/original.md §4); extra keys are logged, not fatal.
    merged = weights.load_original_weights(handsegnet_pickle)
    merged.update(weights.load_original_weights(posenet_pickle))
    weights.assign_weights(nets, merged, source=f"{handsegnet_pickle} + {posenet_pickle}")
    source = {
        "backend": "keras",
        "format": "original pickles",
        "handsegnet": str(handsegnet_pickle),
        "posenet_lifting": str(posenet_pickle),
    }
    return Loaded(KerasBackend(*nets), checked.input_size, source)


def _load_tflite(checked: Checked, threads=None) -> Loaded:
    from hand3d_tf.lite import nets as lite_nets
    from hand3d_tf.lite import runner
    from hand3d_tf.quiet import LITERT_NOISE, filtered_stderr
    from hand3d_tf.runtime.backends import ModelFileBackend

    cars, directory = checked.sidecars, checked.folder.path
    size = tuple(cars["handsegnet"].input_size)
    if checked.input_size is not None and tuple(int(v) for v in checked.input_size) != size:
        raise ValueError(
            f"input_size {tuple(checked.input_size)} differs from the TFLite HandSegNet's "
            f"{size} ({cars['handsegnet'].path}); use the Keras backend for other sizes"
        )
    runtime = runner.load_runtime()
    threads = int(threads or os.cpu_count() or 1)
    models = {}
    for net, car in cars.items():
        entry = lite_nets.ModelEntry(directory / car.model_file, car)
        with filtered_stderr(LITERT_NOISE):  # LiteRT's "Created ... XNNPACK delegate" line
            model = lite_nets.NetModel(entry, runner.Model(entry.path, runtime, threads=threads))
        if model.batch != 1:
            raise lite_backend.TfliteBackendError(
                f"{entry.path}: the backend needs batch 1, not {model.batch}"
            )
        models[net] = model
    source = {"backend": "tflite", "format": "tflite", "mode": checked.mode,
              "weights": str(directory), "runtime": f"{runtime.name} {runtime.version}",
              "files": {net: car.model_file for net, car in cars.items()}}  # fmt: skip
    backend = ModelFileBackend(models["handsegnet"], models["posenet"], models["lifting"])
    return Loaded(backend, size, source)
