"""A wheel install (not the Makefile's editable one) still finds the bundled default model.

Builds the wheel, installs it without dependencies into a fresh virtual environment that
borrows this environment's packages through a path entry, and runs ``from_pretrained`` and the
demo's example image from outside the source tree.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from hand3d_tf import pipeline

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


def test_subprocesses_do_not_inherit_pythonpath(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    out = _run([sys.executable, "-c", "import os; print(os.environ.get('PYTHONPATH'))"])
    assert out.strip() == "None"


def test_checkout_root_is_preferred():
    assert pipeline.bundled_weights_root() == REPO / "weights"
