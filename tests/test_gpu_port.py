"""tools/gpu_train: the lent-GPU trainer's NumPy sample preparation against the pipelines.

train.prepare() turns a rendered sample into what the JAX trainer trains on (hand side,
visibility, lifting targets, hand mask); it must agree with hand3d_tf.data.pipelines, whose
targets the TensorFlow trainer uses (docs/training.md, "Training on a lent GPU"). The JAX
half (networks, losses, crops, score maps, hue) needs JAX, which this project does not
install; check_port.py --compare checks it where JAX is (numbers in docs/training.md), and
the last test runs it here whenever JAX can be imported.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import numpy as np
import pytest

TOOLS = pathlib.Path(__file__).resolve().parents[1] / "tools" / "gpu_train"


@pytest.fixture(scope="module")
def check_port():
    sys.path.insert(0, str(TOOLS))
    spec = importlib.util.spec_from_file_location("check_port", TOOLS / "check_port.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.path.remove(str(TOOLS))


@pytest.fixture(scope="module")
def dump(check_port, tmp_path_factory):
    path = tmp_path_factory.mktemp("port") / "port.npz"
    check_port.dump(str(path))
    return dict(np.load(path))


def test_prepare_matches_the_pipeline_targets(check_port, dump):
    rows: list = []
    check_port.check_prepare(dump, rows)
    assert [r[0] for r in rows] == [
        "posenet visibility", "hand side", "canonical target", "rotation target", "hand mask",
    ]  # fmt: skip
    failed = [r for r in rows if not r[4]]
    assert not failed, failed


def test_prepare_check_catches_a_wrong_hand_side(check_port, dump):
    wrong = dict(dump)
    wrong["l_side"] = dump["l_side"][:, ::-1]
    rows: list = []
    check_port.check_prepare(wrong, rows)
    assert not dict((r[0], r[4]) for r in rows)["hand side"]


def test_jax_port_matches_tensorflow(check_port, dump, tmp_path):
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    path = tmp_path / "port.npz"
    np.savez(path, **dump)
    assert check_port.compare(str(path)) == 0
