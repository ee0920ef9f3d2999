"""hand3d_tf: a faithful TF2/Keras rebuild of ColorHandPose3D (Zimmermann & Brox, ICCV 2017)."""

import glob
import pathlib
import re
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

VERSION_FILE = pathlib.Path(__file__).parent / "hand3d_tf" / "version.py"

# The runtime (`pip install hand3d_tf`): everything hand3d_tf.lite, hand3d-predict with
# the TFLite backend and the benchmark harness need, and no TensorFlow (docs/devices.md).
# matplotlib draws the prediction figure and the harness's plots. ai-edge-litert has no
# 32-bit ARM wheel: there the marker skips it and the runner falls back to tflite-runtime,
# installed by hand (docs/devices.md). Version ranges are the ones tested here.
INSTALL_REQUIRES = [
    "numpy>=1.26,<3",
    "opencv-python-headless>=4.8",
    'ai-edge-litert>=2.0,<3; platform_machine != "armv7l" and platform_machine != "armv6l"',
    "absl-py>=1.4",
    "matplotlib>=3.8",
    "tqdm>=4.60",
]

# `pip install 'hand3d_tf[tf]'`: training, conversion of the released weights, export,
# evaluation and the Keras pipeline (--backend=keras). Named after what it adds, not after
# one of the jobs it enables (docs/devices.md, "Which install"); tf-keras must match
# tensorflow's minor version.
TF_REQUIRES = [
    "tensorflow>=2.21,<2.22",
    "tf-keras>=2.21,<2.22",
    "tensorflow-model-optimization>=0.8.1,<0.9",
    "scipy>=1.11",
    # hand3d-export --format=onnx (docs/export.md, "ONNX"): tested with tf2onnx 1.17.0 and
    # onnx 1.23.2 under TensorFlow 2.21; the export also needs the [onnx] extra to check
    # each file against Keras.
    "tf2onnx>=1.17,<1.18",
    "onnx>=1.23,<1.24",
]

# `pip install 'hand3d_tf[onnx]'`: ONNX Runtime for the .onnx models (hand3d-benchmark
# --delegate=ort_*; docs/devices.md). The CPU wheel; on NVIDIA GPUs install onnxruntime-gpu
# instead, on Jetson NVIDIA's build of it (docs/devices.md). Tested with 1.32.0.
ONNX_REQUIRES = ["onnxruntime>=1.32,<2"]

# `pip install 'hand3d_tf[jax]'`: hand3d_tf.jax, the nets, losses and targets in JAX that the
# lent-GPU trainer (tools/gpu_train/, which also needs optax) runs; tested with JAX 0.10.2
# here and 0.11 on the GPU machines (docs/training.md). The test extra takes its CPU build,
# so the JAX-against-TensorFlow tests (tests/test_jax.py) run in every `make test`.
JAX_REQUIRES = ["jax>=0.10.2,<0.12"]

CONSOLE_SCRIPTS = [
    "hand3d-convert-weights=hand3d_tf.cli.convert_weights:run",
    "hand3d-predict=hand3d_tf.cli.predict:run",
    "hand3d-evaluate=hand3d_tf.cli.evaluate:run",
    "hand3d-make-synthetic=hand3d_tf.cli.make_synthetic:run",
    "hand3d-train=hand3d_tf.cli.train:run",
    "hand3d-export=hand3d_tf.cli.export:run",
    "hand3d-make-eval-set=hand3d_tf.cli.make_eval_set:run",
    "hand3d-demo=hand3d_tf.cli.demo:run",
    "hand3d-model-card=hand3d_tf.cli.model_card:run",
    "hand3d-autolabel=hand3d_tf.cli.autolabel:run",
    # The benchmark harness: TensorFlow-free, argparse (hand3d_tf/harness/cli.py says why).
    "hand3d-benchmark=hand3d_tf.harness.cli:benchmark",
    "hand3d-benchmark-compare=hand3d_tf.harness.cli:compare",
    "hand3d-benchmark-android=hand3d_tf.harness.cli:android",
    "hand3d-benchmark-trtexec=hand3d_tf.harness.cli:trtexec",
]

# The bundled default model, its card and the demo image travel with a wheel too; the
# pipeline finds them at <sys.prefix>/share/hand3d_tf/weights (pipeline.bundled_weights_root).
DATA_FILES = [
    (
        "share/hand3d_tf/weights",
        sorted(f for f in glob.glob("weights/*") if not f.endswith("default")),
    ),
    ("share/hand3d_tf/weights/default", sorted(glob.glob("weights/default/*"))),
]


class FreshBuildPy(build_py):
    """build_py into an emptied build/lib: a wheel packs everything there, so a package an
    earlier build left behind (the top-level benchmarks/ before issue 17) would ship again."""

    def run(self):
        shutil.rmtree(self.build_lib, ignore_errors=True)
        super().run()


setup(
    name="hand3d_tf",
    version=re.search(r'__version__ = "(.+)"', VERSION_FILE.read_text()).group(1),
    description="ColorHandPose3D (single-image 3D hand pose) in TensorFlow 2 / Keras, to the edge",
    # benchmarks/ (README, RESULTS.md, developer tools) runs from the checkout: not installed;
    # the harness itself is hand3d_tf.harness (the hand3d-benchmark* console scripts).
    packages=find_packages(include=["hand3d_tf", "hand3d_tf.*"]),
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "tf": TF_REQUIRES,
        "onnx": ONNX_REQUIRES,
        "jax": JAX_REQUIRES,
        "test": ["pytest>=8", "jax[cpu]>=0.10.2,<0.12"],
        "tensorboard": ["tensorboard>=2.21,<2.22"],
    },
    entry_points={"console_scripts": CONSOLE_SCRIPTS},
    cmdclass={"build_py": FreshBuildPy},
    include_package_data=True,
    data_files=DATA_FILES,
)
