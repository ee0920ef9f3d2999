"""hand3d-make-synthetic: synthetic hands written in RHD's exact on-disk layout (docs/data.md).

  hand3d-make-synthetic --output_dir=data/synthetic --num_train=20000 --num_eval=1000 \
      --seed=0 --workers=4 --preview=data/synthetic/preview.png [--backgrounds=DIR] \
      [--generator_version=2]

writes <output_dir>/training/ and <output_dir>/evaluation/, each with color/, mask/, depth/
(%05d.png) and anno_<split>.pickle, as RHD_published_v2 does (docs/original.md §8.1), plus a
manifest.json (generator version, seed, counts, config). Training and evaluation use
different sample streams derived from --seed. Each split is written into a temporary folder
and renamed into place when complete; a split folder that holds another dataset is refused
unless --overwrite is given.
"""

from __future__ import annotations

import pathlib
import tempfile
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
flags.DEFINE_string(
    "preview",
    None,
    "optional PNG contact sheet of 16 training samples and the view distribution's "
    "histograms over the first --preview_views training scenes",
    **_OVR,
)
flags.DEFINE_integer(
    "preview_views", 1000, "scenes the preview's view histograms count", lower_bound=1, **_OVR
)
flags.DEFINE_bool(
    "overwrite",
    False,
    "replace split folders that hold another dataset (without it such a folder is refused)",
    **_OVR,
)
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


def check_preview_path(path: str) -> None:
    """Fail before any sample is generated when --preview cannot be written."""
    target = pathlib.Path(path)
    if target.is_dir():
        raise app.UsageError(f"--preview={path!r} is a folder; give a .png file path")
    if target.suffix.lower() != ".png":
        raise app.UsageError(f"--preview={path!r} must end in .png")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=target.parent):
            pass
    except OSError as err:
        raise app.UsageError(f"--preview={path!r} cannot be written: {err}") from None


def check_output_dir(path: str) -> None:
    root = pathlib.Path(path)
    if root.exists() and not root.is_dir():
        raise app.UsageError(f"--output_dir={path!r} exists and is not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as err:
        raise app.UsageError(f"--output_dir={path!r} cannot be written: {err}") from None


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not FLAGS.output_dir:
        raise app.UsageError("--output_dir is required")
    if FLAGS.seed < 0:
        raise app.UsageError(f"--seed must be non-negative; received {FLAGS.seed}")
    # Cheap checks first: nothing is generated when a path or an existing dataset is wrong.
    if FLAGS.preview:
        check_preview_path(FLAGS.preview)
    check_output_dir(FLAGS.output_dir)
    from hand3d_tf.data import synthetic

    config = synthetic.SyntheticConfig(
        generator_version=int(FLAGS.generator_version),
        background_files=tuple(background_files(FLAGS.backgrounds)),
    )
    splits = (("training", FLAGS.num_train), ("evaluation", FLAGS.num_eval))
    for split, count in splits:
        planned = synthetic.dataset_manifest(config, split, FLAGS.seed, count)
        try:
            synthetic.check_target(
                pathlib.Path(FLAGS.output_dir) / split, planned, overwrite=FLAGS.overwrite
            )
        except synthetic.DatasetExistsError as err:
            raise app.UsageError(str(err)) from None
    for split, count in splits:
        start = time.perf_counter()
        path = synthetic.write_dataset(
            FLAGS.output_dir,
            split,
            config,
            FLAGS.seed,
            count,
            workers=FLAGS.workers,
            overwrite=FLAGS.overwrite,
        )
        seconds = time.perf_counter() - start
        print(f"{split}: {count} samples -> {path} ({count / max(seconds, 1e-9):.1f} samples/s)")
    if FLAGS.preview:
        seed = synthetic.split_seed(FLAGS.seed, "training")
        samples = synthetic.iterate_samples(config, seed, 0, 16)
        stats = synthetic.view_statistics(config, seed, FLAGS.preview_views)
        print(f"preview -> {synthetic.write_preview(FLAGS.preview, samples, stats=stats)}")


def run():
    app.run(main)


if __name__ == "__main__":
    run()
