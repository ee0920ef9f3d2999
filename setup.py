"""hand3d_tf: a faithful TF2/Keras rebuild of ColorHandPose3D (Zimmermann & Brox, ICCV 2017)."""

import glob
import pathlib
import re

from setuptools import find_packages, setup

VERSION_FILE = pathlib.Path(__file__).parent / "hand3d_tf" / "version.py"

# Version ranges are the ones tested here; tf-keras must match tensorflow's minor version.
INSTALL_REQUIRES = [
    "tensorflow>=2.21,<2.22",
    "tf-keras>=2.21,<2.22",
    "tensorflow-model-optimization>=0.8.1,<0.9",
    "ai-edge-litert>=2.0,<3",
    "numpy>=1.26,<3",
    "opencv-python-headless>=4.8",
    "absl-py>=1.4",
    "matplotlib>=3.8",
    "scipy>=1.11",
    "tqdm>=4.60",
]

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

setup(
    name="hand3d_tf",
    version=re.search(r'__version__ = "(.+)"', VERSION_FILE.read_text()).group(1),
    description="ColorHandPose3D (single-image 3D hand pose) in TensorFlow 2 / Keras, to the edge",
    # benchmarks/ (command-line tools over hand3d_tf.lite) runs from the checkout: not installed.
    packages=find_packages(include=["hand3d_tf", "hand3d_tf.*"]),
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": ["pytest>=8"], "tensorboard": ["tensorboard>=2.21,<2.22"]},
    entry_points={"console_scripts": CONSOLE_SCRIPTS},
    include_package_data=True,
    data_files=DATA_FILES,
)
