"""hand3d-make-synthetic: synthetic hands written in RHD's exact on-disk layout (issue 5).

  hand3d-make-synthetic --output_dir=data/synthetic --num_train=20000 --num_eval=1000 \
      --seed=0 --workers=4 --preview=data/synthetic/preview.png [--backgrounds=DIR] \
      [--generator_version=2]

writes <output_dir>/training/ and <output_dir>/evaluation/, each with color/, mask/, depth/
(%05d.png) and anno_<split>.pickle, as RHD_published_v2 does (facts §8.1). Training and
evaluation use different sample streams derived from --seed.
"""

from __future__ import annotations

import pathlib
import time

from absl import app, flags

FLAGS = flags.FLAGS
# allow_override: other CLI modules may define flags of the same name (--output_dir, --seed);
# without it importing two of them in one process (pytest) would fail.
_OVR = {"allow_override": True}
flags.DEFINE_string("output_dir", None, "dataset root to write (required)", **_OVR)
flags.DEFINE_integer("num_train", 1000, "number of training samples", lower_bound=0, **_OVR)
flags.DEFINE_integer("num_eval", 100, "number of evaluation samples", lower_bound=0, **_OVR)
flags.DEFINE_integer("seed", 0, "base seed; both splits derive their streams from it", **_OVR)
flags.DEFINE_string(
    "backgrounds",
    None,
    "optional folder of background photos (jpg/png, searched recursively)",
    **_OVR,
)
flags.DEFINE_integer("workers", 1, "processes generating samples", lower_bound=1, **_OVR)
flags.DEFINE_string("preview", None, "optional PNG contact sheet of 16 training samples", **_OVR)
flags.DEFINE_enum(
    "generator_version",
    "2",
    ["1", "2"],
    "1: the first generator (uniform orientations, capsule hands), kept reproducible; "
    "2: hands held up in front of a person facing the camera, near the optical axis",
    **_OVR,
)

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def background_files(folder: str | None) -> tuple[str, ...]:
    """Sorted image paths under ``folder`` (sorted: the same folder gives the same data)."""
    if not folder:
        return ()
    root = pathlib.Path(folder)
    if not root.is_dir():
        raise app.UsageError(f"--backgrounds={folder!r} is not a folder")
    files = sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)
    if not files:
        raise app.UsageError(f"--backgrounds={folder!r} holds no {'/'.join(_IMAGE_SUFFIXES)} files")
    return files


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not FLAGS.output_dir:
        raise app.UsageError("--output_dir is required")
    if FLAGS.seed < 0:
        raise app.UsageError(f"--seed must be non-negative; received {FLAGS.seed}")
    from hand3d_tf.data import synthetic

    config = synthetic.SyntheticConfig(
        generator_version=int(FLAGS.generator_version),
        background_files=tuple(background_files(FLAGS.backgrounds)),
    )
    for split, count in (("training", FLAGS.num_train), ("evaluation", FLAGS.num_eval)):
        start = time.perf_counter()
        path = synthetic.write_dataset(
            FLAGS.output_dir, split, config, FLAGS.seed, count, workers=FLAGS.workers
        )
        seconds = time.perf_counter() - start
        print(f"{split}: {count} samples -> {path} ({count / max(seconds, 1e-9):.1f} samples/s)")
    if FLAGS.preview:
        seed = synthetic.split_seed(FLAGS.seed, "training")
        samples = synthetic.iterate_samples(config, seed, 0, 16)
        print(f"preview -> {synthetic.write_preview(FLAGS.preview, samples)}")


def run():
    app.run(main)


if __name__ == "__main__":
    run()
