"""hand3d_tf.constants is the one home of the shared names, and it imports no TensorFlow."""

from __future__ import annotations

import pathlib
import re

from hand3d_tf import constants
from tests.helpers import tensorflow_after

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "hand3d_tf"
BENCHMARKS = PACKAGE.parent / "benchmarks"
SHARED = ("NETS", "LIFTING_VARIANTS", "DATASETS", "SPLITS", "CROP_SIZE", "EVAL_FRAME_HW",
          "KEYPOINT_NAMES")  # fmt: skip


def test_no_module_defines_its_own_copy():
    pattern = re.compile(rf"^({'|'.join(SHARED)})\s*(:[^=]*)?=", re.MULTILINE)
    offenders = []
    for path in [*PACKAGE.rglob("*.py"), *BENCHMARKS.rglob("*.py")]:
        if path.name == "constants.py" and path.parent == PACKAGE:
            continue
        offenders += [f"{path.relative_to(PACKAGE.parent)}: {m.group(0)}"
                      for m in pattern.finditer(path.read_text())]  # fmt: skip
    assert offenders == []


def test_values_and_their_users_agree():
    from hand3d_tf import glue, keypoints
    from hand3d_tf.models import configs
    from hand3d_tf.training import presets

    assert constants.NETS == ("handsegnet", "posenet", "lifting")
    assert len(constants.KEYPOINT_NAMES) == keypoints.NUM_KEYPOINTS == 21
    assert keypoints.KEYPOINT_NAMES is constants.KEYPOINT_NAMES
    assert glue.CROP_SIZE == constants.CROP_SIZE == 256
    assert configs.LIFTING_VARIANTS is presets.LIFTING_VARIANTS is constants.LIFTING_VARIANTS
    assert constants.LIFTING_VARIANTS[0] == "proposed"  # the paper's net, the default


def test_constants_files_and_evaluation_import_no_tensorflow():
    modules = ("hand3d_tf.constants, hand3d_tf.files, hand3d_tf.evaluation, "
               "hand3d_tf.evaluation.protocols, hand3d_tf.evaluation.baselines, "
               "hand3d_tf.evaluation.lifting_diagnosis, hand3d_tf.evaluation.sources")  # fmt: skip
    assert tensorflow_after(f"import {modules}") == []


def test_sha256_file_reads_in_blocks(tmp_path):
    import hashlib

    from hand3d_tf.files import sha256_file

    data = bytes(range(256)) * 9000  # > 1 MiB: more than one block
    (tmp_path / "big").write_bytes(data)
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(tmp_path / "big") == hashlib.sha256(data).hexdigest()
    assert sha256_file(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()
