"""The names and sizes every part of hand3d_tf shares, in one TF-free module.

Nets, lifting variants, datasets, splits, crop and frame sizes, and the keypoint names are
defined here once; every other module imports them from here (a test checks that no module
defines its own copy). Importing this module imports nothing but the standard library.
"""

from __future__ import annotations

# The three trained networks, by role (docs/original.md §1-§3).
NETS = ("handsegnet", "posenet", "lifting")

# The lifting variants of the original's PosePrior (docs/original.md §3).
LIFTING_VARIANTS = ("proposed", "direct", "bottleneck", "local", "local_w_xyz_loss")

# The datasets with a reader (docs/data.md, docs/original.md §8).
DATASETS = ("rhd", "stb", "synthetic")

# RHD's split folders (docs/original.md §8); STB and the synthetic sets use the same names.
SPLITS = ("training", "evaluation")

# How ColorHandPose3D runs its nets (docs/pipeline.md, "Backends"): auto picks tflite when
# the weights folder holds the TFLite exports, else keras.
BACKENDS = ("auto", "tflite", "keras")

# Classes of an RHD-layout mask PNG that photographs and composites write (docs/autolabel.md):
# arm, left hand, right hand (RHD's own mask has 2..17 left, 18..33 right).
CLASS_ARM, CLASS_LEFT, CLASS_RIGHT = 1, 2, 18

# PoseNet's input crop, pixels (docs/original.md §2).
CROP_SIZE = 256

# The one home of the default frame (height, width): what the released demo feeds HandSegNet
# and the frame RHD's 320x320 images are resized to at evaluation (docs/original.md §5). The
# pipeline, the exports, the eval set and the model card's timing all default to it. (Not to
# be confused with PoseNetConfig's ``input_size``, the 256 crop side: CROP_SIZE.)
DEFAULT_INPUT_SIZE = (240, 320)
EVAL_FRAME_HW = DEFAULT_INPUT_SIZE  # the same frame, named for the evaluation protocols

# RHD keypoint order (docs/original.md §6). Index 0 is named "root": the wrist or the palm
# centre depending on the data (hand3d_tf.keypoints explains the two roots).
KEYPOINT_NAMES = (
    "root",
    "thumb_tip",
    "thumb_dip",
    "thumb_pip",
    "thumb_mcp",
    "index_tip",
    "index_dip",
    "index_pip",
    "index_mcp",
    "middle_tip",
    "middle_dip",
    "middle_pip",
    "middle_mcp",
    "ring_tip",
    "ring_dip",
    "ring_pip",
    "ring_mcp",
    "little_tip",
    "little_dip",
    "little_pip",
    "little_mcp",
)

# The longest synthetic sequence hand3d-make-synthetic writes (frames; about 55 minutes at
# 30 fps). Frames are written as they are rendered, so the length costs disk, not memory;
# the bound keeps one sequence's trajectories (a few KB a frame) small.
MAX_SEQUENCE_LENGTH = 100_000

# What the [tf] extra installs (setup.py) that a command or the Keras backend imports late,
# and how a missing one is named to the user (the CLIs and ColorHandPose3D alike).
TENSORFLOW_MODULES = ("tensorflow", "tf_keras", "tensorflow_model_optimization")
TENSORFLOW_EXTRA = "pip install 'hand3d_tf[tf]'"
