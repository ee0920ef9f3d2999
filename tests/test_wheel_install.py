"""A wheel install (not the Makefile's editable one) still finds the bundled default model,
and the runtime install (no TensorFlow) predicts and benchmarks.

Builds the wheel once. (1) Installs it without dependencies into a fresh virtual environment
that borrows this environment's packages through a path entry, and runs ``from_pretrained``
and the demo's example image from outside the source tree. (2) The runtime install of
docs/devices.md: a fresh virtual environment that sees only the wheel's runtime requirements
(its ``Requires-Dist`` without extras, and what those require in turn, linked from this
environment: offline and in seconds) plus the wheel installed by pip with ``--no-deps``;
TensorFlow must not import there, and ``hand3d-predict`` and ``hand3d-benchmark`` run on
the bundled TFLite default.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from hand3d_tf import pipeline
from tests.test_default_model import assert_stored_prediction

REPO = pathlib.Path(__file__).resolve().parents[1]


# Variables that would let the subprocesses import the checkout (or another tree) instead
# of the wheel, e.g. PYTHONPATH=. set by a developer or a CI step.
_LEAKY_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE")


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in _LEAKY_VARIABLES}


def _run(args, **kwargs):
    done = subprocess.run(args, capture_output=True, text=True, env=_clean_env(), **kwargs)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--wheel-dir", str(out), str(REPO)],
        cwd=build,
    )
    (path,) = out.glob("hand3d_tf-*.whl")
    return path


def test_wheel_holds_only_hand3d_tf(wheel):
    """No top-level benchmarks/ (or anything else): the harness ships as hand3d_tf.harness."""
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.startswith("hand3d_tf")} == set()
    entry_points = _dist_info_file(wheel, "entry_points.txt")
    for script in ("hand3d-predict", "hand3d-benchmark", "hand3d-benchmark-compare",
                   "hand3d-benchmark-android", "hand3d-benchmark-trtexec"):  # fmt: skip
        assert f"\n{script} = hand3d_tf." in entry_points, script


def test_wheel_carries_the_bundled_model(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    data = [n for n in names if ".data/data/share/hand3d_tf/weights/" in n]
    wanted = [f"default/{p.name}" for p in (REPO / "weights" / "default").iterdir()]
    wanted += ["README.md", "example_hand.png"]
    for name in wanted:
        assert any(n.endswith(f"share/hand3d_tf/weights/{name}") for n in data), name


def _install_wheel(wheel, env_dir: pathlib.Path, site: pathlib.Path) -> None:
    """Unpack the wheel as an installer does (purelib into site-packages, <name>.data/data/
    under the prefix). Not pip: ``pip install --prefix`` also uninstalls the running
    environment's own (editable) hand3d_tf."""
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            head, _, rest = name.partition("/")
            if head.endswith(".data"):
                kind, _, rel = rest.partition("/")
                assert kind == "data", name  # no scripts/headers expected in this wheel
                target = env_dir / rel
            else:
                target = site / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))


def test_wheel_install_loads_the_default_model(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)])
    python = env_dir / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = pathlib.Path(_run([str(python), "-c", purelib]).strip())
    # This environment's dependencies by path only: its .pth files (the editable hand3d_tf
    # finder among them) are not processed, so hand3d_tf can only come from the wheel.
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _install_wheel(wheel, env_dir, site)
    script = (
        "import hand3d_tf, pathlib, sys\n"
        "from hand3d_tf import pipeline\n"
        f"assert not pathlib.Path(hand3d_tf.__file__).is_relative_to({str(REPO)!r}), hand3d_tf.__file__\n"
        "print(pipeline.DEFAULT_WEIGHTS_DIR)\n"
        "pipe = pipeline.ColorHandPose3D.from_pretrained()\n"
        "import cv2\n"
        "image = cv2.imread(str(pipeline.BUNDLED_WEIGHTS_ROOT / 'example_hand.png'))[..., ::-1]\n"
        "print(bool(pipe.predict(image, 'left').hand_found[0]))\n"
    )
    out = _run([str(python), "-c", script], cwd=tmp_path).split()
    assert pathlib.Path(out[-2]) == env_dir / "share" / "hand3d_tf" / "weights" / "default"
    assert out[-1] == "True"


# --- the runtime install: no TensorFlow ---------------------------------------------------

TENSORFLOW = {"tensorflow", "tf-keras", "tensorflow-model-optimization", "keras"}


def _dist_info_file(wheel, name: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (member,) = [n for n in archive.namelist() if n.endswith(f".dist-info/{name}")]
        return archive.read(member).decode()


def _applies(requirement: Requirement) -> bool:
    """Installed by a plain ``pip install`` (no extra) on this machine."""
    return requirement.marker is None or requirement.marker.evaluate({"extra": ""})


def runtime_requirements(wheel) -> list[Requirement]:
    """The wheel's ``Requires-Dist`` that ``pip install hand3d_tf`` installs here."""
    lines = _dist_info_file(wheel, "METADATA").splitlines()
    found = [Requirement(ln.split(": ", 1)[1]) for ln in lines if ln.startswith("Requires-Dist:")]
    return [r for r in found if _applies(r)]


def runtime_distributions(requirements) -> dict[str, metadata.Distribution]:
    """The installed distributions ``requirements`` need, transitively (this environment's
    versions, each checked against every specifier that reaches it)."""
    found: dict[str, metadata.Distribution] = {}
    todo = list(requirements)
    while todo:
        requirement = todo.pop()
        dist = metadata.distribution(requirement.name)
        assert requirement.specifier.contains(dist.version, prereleases=True), (
            f"{requirement} but {dist.version} is installed"
        )
        key = canonicalize_name(requirement.name)
        if key not in found:
            found[key] = dist
            todo += [r for r in map(Requirement, dist.requires or []) if _applies(r)]
    return found


def _link_runtime(dists, view: pathlib.Path) -> None:
    """Link each distribution's top-level files and folders (from its RECORD) into view."""
    view.mkdir()
    for dist in dists.values():
        for top in {
            f.parts[0] for f in dist.files or [] if f.parts[0] not in ("..", "__pycache__")
        }:
            source = pathlib.Path(dist.locate_file(top))
            if source.exists() and not (view / top).exists():
                (view / top).symlink_to(source)


@pytest.fixture(scope="module")
def runtime_env(wheel, tmp_path_factory):
    """A fresh venv holding only the runtime requirements and the wheel (pip --no-deps).
    Returns its bin/ folder."""
    root = tmp_path_factory.mktemp("runtime")
    env_dir = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)])
    python = env_dir / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = pathlib.Path(_run([str(python), "-c", purelib]).strip())
    dists = runtime_distributions(runtime_requirements(wheel))
    assert not TENSORFLOW & set(dists), sorted(dists)
    _link_runtime(dists, root / "runtime_site")
    (site / "runtime.pth").write_text(str(root / "runtime_site") + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    _run([*pip, "--no-deps", "--no-index", str(wheel)], cwd=root)
    return env_dir / "bin"


def test_runtime_install_has_no_tensorflow_and_its_commands(runtime_env, tmp_path):
    code = (
        "import importlib.util as u; "
        "print([m for m in ('tensorflow', 'tf_keras', 'tensorflow_model_optimization', "
        "'scipy') if u.find_spec(m)]); "
        "import hand3d_tf.runtime.stages, hand3d_tf.harness.benchmark_run, hand3d_tf.predict, sys; "
        "print(sorted(m for m in sys.modules if m.startswith(('tensorflow', 'tf_keras'))))"
    )
    out = _run([str(runtime_env / "python"), "-c", code], cwd=tmp_path).splitlines()
    assert out == ["[]", "[]"]
    for script in ("hand3d-predict", "hand3d-benchmark", "hand3d-benchmark-compare"):
        assert (runtime_env / script).is_file(), script
    # A command that needs TensorFlow says so, naming the extra.
    done = subprocess.run(
        [str(runtime_env / "hand3d-export"), f"--output_dir={tmp_path / 'x'}"],
        capture_output=True, text=True, env=_clean_env(), cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        "hand3d-export: error: this command needs TensorFlow (tensorflow is not installed): "
        "pip install 'hand3d_tf[tf]'\n"
    )


def _bundled_tflite():
    if not sorted((REPO / "weights" / "default").glob("*_fp32.tflite")):
        pytest.skip("weights/default holds no TFLite export yet (tools/export_default.sh)")


def test_runtime_install_predicts_the_stored_example(runtime_env, tmp_path):
    _bundled_tflite()
    share = runtime_env.parent / "share" / "hand3d_tf" / "weights"
    _run(
        [str(runtime_env / "hand3d-predict"), f"--image={share / 'example_hand.png'}",
         f"--output_dir={tmp_path}"],
        cwd=tmp_path,
    )  # fmt: skip
    record = json.loads((tmp_path / "example_hand.json").read_text())
    assert_stored_prediction(record)  # the Keras backend's stored prediction
    assert (tmp_path / "example_hand.png").stat().st_size > 1000


def test_runtime_install_benchmarks_the_bundled_default(runtime_env, tmp_path):
    _bundled_tflite()
    _run(
        [str(runtime_env / "hand3d-benchmark"), "--models=default", "--runs=2", "--warmup=0",
         "--pipeline_runs=1", f"--output_dir={tmp_path}", "--name=wheel", "--no_progress"],
        cwd=tmp_path,
    )  # fmt: skip
    result = json.loads((tmp_path / "wheel.json").read_text())
    models = {r["model"]: r for r in result["models"]}
    shipped = sorted(p.stem for p in (REPO / "weights" / "default").glob("*.tflite"))
    assert sorted(models) == shipped
    assert all(r["status"] == "ok" and r["latency_ms"]["n"] == 2 for r in models.values())
    assert {p["status"] for p in result["pipelines"]} == {"ok"} and result["pipelines"]
    for suffix in (".csv", ".md", "_latency_accuracy.png"):
        assert (tmp_path / f"wheel{suffix}").stat().st_size > 100, suffix


def test_subprocesses_do_not_inherit_pythonpath(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    out = _run([sys.executable, "-c", "import os; print(os.environ.get('PYTHONPATH'))"])
    assert out.strip() == "None"


def test_checkout_root_is_preferred():
    assert pipeline.bundled_weights_root() == REPO / "weights"
