"""SyntheticConfig: every random range of the RHD-like generator in one frozen dataclass."""

from __future__ import annotations

import dataclasses

# RHD frames are 320 x 320 (docs/original.md §8.1).
RHD_IMAGE_SIZE = 320
# 1: the first generator (uniform orientations over SO(3), capsule hands), kept bit-for-bit
# reproducible; 2: hands held up in front of a person facing the camera, smooth skin.
GENERATOR_VERSIONS = (1, 2)


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Ranges and probabilities of the synthetic RHD-like scenes.

    Lengths in metres, angles in degrees, focal lengths in pixels, probabilities in [0, 1].
    (lo, hi) pairs are sampled uniformly unless a field says otherwise.
    """

    generator_version: int = 2
    image_size: int = RHD_IMAGE_SIZE
    # Camera: focal length (fx = fy) and principal-point jitter around the image centre.
    focal_range: tuple[float, float] = (240.0, 420.0)
    principal_jitter: float = 4.0
    # Apparent hand length (wrist -> middle tip, straight) as a fraction of the image side,
    # sampled log-uniformly: the hand's box then covers roughly 10-50 % of the frame side.
    hand_size_range: tuple[float, float] = (0.14, 0.6)
    # The main hand's palm centre lands in this fraction of the frame (per axis)...
    centre_margin: float = 0.18
    # ... except with this probability, when it sits on a border and is partly cut off.
    partial_probability: float = 0.12
    second_hand_probability: float = 0.35
    # An absent hand is placed behind the camera with this probability, else far off-frame.
    absent_behind_camera_probability: float = 0.3
    body_probability: float = 0.6
    sleeve_probability: float = 0.6
    # Forearm direction in camera terms: reject orientations whose forearm points at the
    # camera more steeply than this (cosine with the viewing axis, towards the camera).
    max_forearm_towards_camera: float = 0.45
    # Lighting: ambient and directional strength, specular strength and exponent.
    ambient_range: tuple[float, float] = (0.25, 0.6)
    diffuse_range: tuple[float, float] = (0.45, 0.95)
    specular_range: tuple[float, float] = (0.02, 0.25)
    shininess_range: tuple[float, float] = (6.0, 40.0)
    # Background: number of clutter shapes, chance of an image from background_files.
    clutter_range: tuple[int, int] = (2, 30)
    background_image_probability: float = 0.6
    background_files: tuple[str, ...] = ()
    skin_distractor_probability: float = 0.2
    # Image degradations: blur, sensor noise (std in 0..255 units), JPEG round trip.
    blur_probability: float = 0.5
    blur_sigma_range: tuple[float, float] = (0.3, 1.0)
    noise_std_range: tuple[float, float] = (0.0, 4.0)
    jpeg_probability: float = 1.0
    jpeg_quality_range: tuple[int, int] = (45, 95)
    # Keypoint visibility: a keypoint counts as visible when the surface seen at its pixel
    # lies no more than (its joint radius + this margin) in front of it.
    visibility_margin: float = 0.006
    # --- View distribution of generator version 2 (version 1 ignores these) ---
    # The main hand's orientation is R = Rz(roll) Rx(pitch) Ry(yaw) R0 in the camera frame,
    # where R0 shows the palm (probability palm_probability) or the back, fingers up.
    # yaw (about the image vertical) turns the hand sideways: |yaw| > 90 flips palm and
    # back. pitch tilts the fingers towards or away from the camera. roll is the image angle
    # of wrist -> middle MCP from image-up (clockwise positive): a normal with roll_sigma_deg,
    # except with roll_uniform_probability anywhere on the full circle.
    palm_probability: float = 0.5
    yaw_sigma_deg: float = 35.0
    pitch_sigma_deg: float = 25.0
    pitch_max_deg: float = 70.0
    roll_sigma_deg: float = 40.0
    roll_uniform_probability: float = 0.1
    # Angle between the optical axis and the ray to the main hand's palm centre: half-normal
    # with off_axis_sigma_deg, truncated at off_axis_max_deg (RHD-like: near the axis; frames
    # drawn with partial_probability sit at a border instead).
    off_axis_sigma_deg: float = 7.0
    off_axis_max_deg: float = 15.0
    # --- Appearance of version 2 ---
    nail_probability: float = 0.7
    # An object between the camera and the main hand hides part of it.
    occluder_probability: float = 0.25

    def __post_init__(self):
        if self.generator_version not in GENERATOR_VERSIONS:
            raise ValueError(
                f"generator_version must be one of {GENERATOR_VERSIONS}; "
                f"received {self.generator_version!r}"
            )
        if not 32 <= int(self.image_size) <= 4096:
            raise ValueError(f"image_size must lie in [32, 4096]; received {self.image_size}")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name.endswith("_probability") and not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{field.name} must lie in [0, 1]; received {value}")
            if field.name.endswith("_range"):
                if len(value) != 2 or not float(value[0]) <= float(value[1]):
                    raise ValueError(
                        f"{field.name} must be (lo, hi) with lo <= hi; received {value}"
                    )
        if self.focal_range[0] <= 0 or self.hand_size_range[0] <= 0:
            raise ValueError(
                f"focal_range and hand_size_range must be positive; received "
                f"{self.focal_range}, {self.hand_size_range}"
            )
        if not 0.0 <= self.centre_margin < 0.5:
            raise ValueError(f"centre_margin must lie in [0, 0.5); received {self.centre_margin}")
        for name in ("yaw_sigma_deg", "pitch_sigma_deg", "roll_sigma_deg", "off_axis_sigma_deg"):
            if not 0.0 <= float(getattr(self, name)) <= 360.0:
                raise ValueError(f"{name} must lie in [0, 360]; received {getattr(self, name)}")
        if not 0.0 <= self.pitch_max_deg < 90.0:
            raise ValueError(f"pitch_max_deg must lie in [0, 90); received {self.pitch_max_deg}")
        if not 0.0 < self.off_axis_max_deg < 60.0:
            raise ValueError(
                f"off_axis_max_deg must lie in (0, 60); received {self.off_axis_max_deg}"
            )
        q_lo, q_hi = self.jpeg_quality_range
        if not 1 <= q_lo <= q_hi <= 100:
            raise ValueError(f"jpeg_quality_range must lie in [1, 100]; received {(q_lo, q_hi)}")
