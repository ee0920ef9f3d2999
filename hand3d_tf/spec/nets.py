"""The layer tables of the three networks (docs/original.md §0-§3), read by models/ and jax/.

Every row names a layer as the released weights do (docs/original.md §4): its weights are
``<scope>/<layer>/weights`` (conv HWIO, dense [in, out]) and ``<scope>/<layer>/biases``.
Channel and unit counts are the paper's; a config's ``width`` scales the hidden ones
(``configs.scaled``), never the outputs. :func:`weight_shapes` derives every key's shape
from these tables, so a builder that strays from them is caught by comparing its weights.
"""

from __future__ import annotations

from hand3d_tf.constants import NETS
from hand3d_tf.keypoints import NUM_KEYPOINTS
from hand3d_tf.spec.configs import (
    HandSegNetConfig,
    PoseNetConfig,
    PosePriorConfig,
    ViewPointNetConfig,
    scaled,
)

__all__ = [
    "LEAKY_SLOPE",
    "BIAS_INIT",
    "THETA_EPS",
    "HANDSEGNET_SCOPE",
    "POSENET_SCOPE",
    "POSE_PRIOR_SCOPE",
    "VIEWPOINT_SCOPE",
    "NUM_CLASSES",
    "HANDSEG_LAYERS",
    "HANDSEG_OUTPUT",
    "POSENET_TRUNK",
    "POSENET_HEAD",
    "POSENET_HEAD_OUTPUT",
    "POSENET_STAGE",
    "POSENET_REFINEMENTS",
    "LIFTING_INPUT_SIZE",
    "HAND_SIDES",
    "POSE_PRIOR_CONVS",
    "POSE_PRIOR_FC",
    "BOTTLENECK",
    "POSE_PRIOR_OUTPUT",
    "POSE_PRIOR_DROPOUT_RATE",
    "POSE_PRIOR_LAYER_PREFIXES",
    "VIEWPOINT_CONVS",
    "VIEWPOINT_FC",
    "VIEWPOINT_HEADS",
    "VIEWPOINT_DROPOUT_RATE",
    "VIEWPOINT_LAYER_PREFIXES",
    "LIFTING_OUTPUT_KEYS",
    "weight_shapes",
]

# ---- primitives (docs/original.md §0): SAME convs, 2x2/2 VALID max pools
LEAKY_SLOPE = 0.01  # every hidden layer
BIAS_INIT = 1e-4  # constant bias initialiser
THETA_EPS = 1e-8  # added to |u|^2 before the square root in Rodrigues, docs/original.md §3

# Weight-key scopes (docs/original.md §4); also the Keras models' names.
HANDSEGNET_SCOPE = "HandSegNet"
POSENET_SCOPE = "PoseNet2D"
POSE_PRIOR_SCOPE = "PosePrior"
VIEWPOINT_SCOPE = "ViewpointNet"

# ---- HandSegNet (docs/original.md §1)
NUM_CLASSES = 2  # channel 0 background, channel 1 hand

# (layer name, kernel, output channels, max-pool after it?) of the trunk.
HANDSEG_LAYERS = (
    ("conv1_1", 3, 64, False),
    ("conv1_2", 3, 64, True),
    ("conv2_1", 3, 128, False),
    ("conv2_2", 3, 128, True),
    ("conv3_1", 3, 256, False),
    ("conv3_2", 3, 256, False),
    ("conv3_3", 3, 256, False),
    ("conv3_4", 3, 256, True),
    ("conv4_1", 3, 512, False),
    ("conv4_2", 3, 512, False),
    ("conv4_3", 3, 512, False),
    ("conv4_4", 3, 512, False),  # no pool after block 4: output stride 8
    ("conv5_1", 3, 512, False),
    ("conv5_2", 3, 128, False),
    ("conv6_1", 1, 512, False),
)
HANDSEG_OUTPUT = "conv6_2"  # linear 1x1 conv to NUM_CLASSES logits

# ---- PoseNet2D (docs/original.md §2)
# (layer name, kernel, output channels, max-pool after it?) up to the encoding E.
POSENET_TRUNK = (
    ("conv1_1", 3, 64, False),
    ("conv1_2", 3, 64, True),
    ("conv2_1", 3, 128, False),
    ("conv2_2", 3, 128, True),
    ("conv3_1", 3, 256, False),
    ("conv3_2", 3, 256, False),
    ("conv3_3", 3, 256, False),
    ("conv3_4", 3, 256, True),
    ("conv4_1", 3, 512, False),
    ("conv4_2", 3, 512, False),
    ("conv4_3", 3, 256, False),
    ("conv4_4", 3, 256, False),
    ("conv4_5", 3, 256, False),
    ("conv4_6", 3, 256, False),
    ("conv4_7", 3, 128, False),  # encoding E
)
# Stage 1 on E: one hidden layer (name, kernel, channels), then a linear 1x1 conv to the
# score maps.
POSENET_HEAD = ("conv5_1", 1, 512)
POSENET_HEAD_OUTPUT = "conv5_2"
# Hidden layers of a refinement stage: (suffix, kernel, output channels); the stage ends
# with a linear 1x1 conv to the score maps (suffix 7).
POSENET_STAGE = ((1, 7, 128), (2, 7, 128), (3, 7, 128), (4, 7, 128), (5, 7, 128), (6, 1, 128))
# Stages 2 and 3 use the layer prefixes conv6_ and conv7_. Their input is [previous score
# map, E] in this order: the first K input channels of convX_1 belong to the score map in
# the released weights (docs/original.md §2, §4).
POSENET_REFINEMENTS = (6, 7)

# ---- the lifting network: PosePrior + ViewpointNet (docs/original.md §3)
LIFTING_INPUT_SIZE = 32  # PoseNet's raw S3 score maps, 32 x 32 x 21 (not upsampled)
HAND_SIDES = 2  # one-hot, left = [1, 0], appended after the (h, w, c) flatten

# (layer name, output channels, stride), all 3x3 SAME convs with leaky ReLU.
POSE_PRIOR_CONVS = (
    ("conv_pose_0_1", 32, 1),
    ("conv_pose_0_2", 32, 2),
    ("conv_pose_1_1", 64, 1),
    ("conv_pose_1_2", 64, 2),
    ("conv_pose_2_1", 128, 1),
    ("conv_pose_2_2", 128, 2),
)
POSE_PRIOR_FC = (("fc_rel0", 512), ("fc_rel1", 512))  # (name, units), leaky ReLU + dropout
BOTTLENECK = ("fc_bottleneck", 30)  # linear, no dropout: the "bottleneck" variant only
POSE_PRIOR_OUTPUT = "fc_xyz"  # linear, NUM_KEYPOINTS x 3 units
POSE_PRIOR_DROPOUT_RATE = 0.2  # keep probability 0.8
# Layer-name prefixes that belong to the PosePrior scope of the released weights.
POSE_PRIOR_LAYER_PREFIXES = ("conv_pose_", "fc_rel", "fc_xyz", "fc_bottleneck")

VIEWPOINT_CONVS = (
    ("conv_vp_0_1", 64, 1),
    ("conv_vp_0_2", 64, 2),
    ("conv_vp_1_1", 128, 1),
    ("conv_vp_1_2", 128, 2),
    ("conv_vp_2_1", 256, 1),
    ("conv_vp_2_2", 256, 2),
)
VIEWPOINT_FC = (("fc_vp0", 256), ("fc_vp1", 128))
VIEWPOINT_HEADS = ("fc_vp_ux", "fc_vp_uy", "fc_vp_uz")  # linear, 1 unit each: u = (ux, uy, uz)
VIEWPOINT_DROPOUT_RATE = 0.25  # keep probability 0.75
VIEWPOINT_LAYER_PREFIXES = ("conv_vp_", "fc_vp")

# The lifting model's outputs per variant: "xyz" root-relative normalised camera-frame
# coordinates, "xyz_canonical" the PosePrior output before the right-hand flip,
# "rotation" R = Rodrigues(u), "local" bone-local (length, angle_x, angle_y).
LIFTING_OUTPUT_KEYS = {
    "proposed": ("xyz", "xyz_canonical", "rotation"),
    "direct": ("xyz",),
    "bottleneck": ("xyz",),
    "local": ("local",),
    "local_w_xyz_loss": ("local",),
}


def _conv(shapes: dict, key: str, kernel: int, cin: int, cout: int) -> int:
    shapes[f"{key}/weights"] = (kernel, kernel, cin, cout)
    shapes[f"{key}/biases"] = (cout,)
    return cout


def _dense(shapes: dict, key: str, cin: int, cout: int) -> int:
    shapes[f"{key}/weights"] = (cin, cout)
    shapes[f"{key}/biases"] = (cout,)
    return cout


def _lifting_branch(shapes, scope, convs, fcs, width) -> int:
    """Convs and hidden FCs of one lifting branch; returns the last hidden width."""
    cin, side = NUM_KEYPOINTS, LIFTING_INPUT_SIZE
    for name, channels, stride in convs:
        cin = _conv(shapes, f"{scope}/{name}", 3, cin, scaled(channels, width))
        side = -(-side // stride)  # SAME: ceil(side / stride)
    units = side * side * cin + HAND_SIDES
    for name, hidden in fcs:
        units = _dense(shapes, f"{scope}/{name}", units, scaled(hidden, width))
    return units


def weight_shapes(net: str, config=None) -> dict[str, tuple[int, ...]]:
    """{weight key: shape} of ``net`` (one of constants.NETS) under ``config``, that net's
    config dataclass (None = the paper's). The lifting's variant decides
    which layers exist (fc_bottleneck, the ViewpointNet branch)."""
    shapes: dict[str, tuple[int, ...]] = {}
    if net == "handsegnet":
        cfg = config or HandSegNetConfig()
        cin = 3
        for name, kernel, channels, _ in HANDSEG_LAYERS:
            key = f"{HANDSEGNET_SCOPE}/{name}"
            cin = _conv(shapes, key, kernel, cin, scaled(channels, cfg.width))
        _conv(shapes, f"{HANDSEGNET_SCOPE}/{HANDSEG_OUTPUT}", 1, cin, NUM_CLASSES)
    elif net == "posenet":
        cfg = config or PoseNetConfig()
        k = cfg.num_keypoints
        cin = 3
        for name, kernel, channels, _ in POSENET_TRUNK:
            cin = _conv(shapes, f"{POSENET_SCOPE}/{name}", kernel, cin, scaled(channels, cfg.width))
        encoding = cin
        hidden, kernel, channels = POSENET_HEAD
        cin = _conv(shapes, f"{POSENET_SCOPE}/{hidden}", kernel, cin, scaled(channels, cfg.width))
        _conv(shapes, f"{POSENET_SCOPE}/{POSENET_HEAD_OUTPUT}", 1, cin, k)
        for stage in POSENET_REFINEMENTS:
            cin = k + encoding
            for suffix, kernel, channels in POSENET_STAGE:
                key = f"{POSENET_SCOPE}/conv{stage}_{suffix}"
                cin = _conv(shapes, key, kernel, cin, scaled(channels, cfg.width))
            _conv(shapes, f"{POSENET_SCOPE}/conv{stage}_7", 1, cin, k)
    elif net == "lifting":
        cfg = config or PosePriorConfig()
        units = _lifting_branch(
            shapes, POSE_PRIOR_SCOPE, POSE_PRIOR_CONVS, POSE_PRIOR_FC, cfg.width
        )
        if cfg.variant == "bottleneck":
            name, hidden = BOTTLENECK
            units = _dense(shapes, f"{POSE_PRIOR_SCOPE}/{name}", units, scaled(hidden, cfg.width))
        _dense(shapes, f"{POSE_PRIOR_SCOPE}/{POSE_PRIOR_OUTPUT}", units, NUM_KEYPOINTS * 3)
        if cfg.variant == "proposed":
            vp = ViewPointNetConfig(width=cfg.width, dropout=cfg.dropout)
            units = _lifting_branch(
                shapes, VIEWPOINT_SCOPE, VIEWPOINT_CONVS, VIEWPOINT_FC, vp.width
            )
            for head in VIEWPOINT_HEADS:
                _dense(shapes, f"{VIEWPOINT_SCOPE}/{head}", units, 1)
    else:
        raise ValueError(f"`net` must be one of {NETS}; received net={net!r}")
    return shapes
