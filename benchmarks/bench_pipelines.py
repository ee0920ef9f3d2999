"""Throughput (samples/s) of the three training input pipelines on this machine.

    python -m benchmarks.bench_pipelines                       # builds /tmp/hand3d_bench_rhd
    python -m benchmarks.bench_pipelines --data_dir=/tmp/synth --batches=40

Data: an RHD-layout directory (``--data_dir``; RHD itself or ``hand3d-make-synthetic``
output). Without one, the synthetic generator is run if it is installed, else a small
fixture of random-noise PNGs (a pessimistic case for PNG decoding) is written. Each
pipeline runs with its training preset (augmentation on), ``--warmup`` batches are
discarded and the next ``--batches`` are timed; the line printed last is a markdown table
row for benchmarks/RESULTS.md. Needs TensorFlow (unlike the on-device harness).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time

import numpy as np

DEFAULT_DIR = "/tmp/hand3d_bench_rhd"
# samples/s, the project's targets (docs/performance.md)
TARGETS = {"handsegnet": 100.0, "posenet": 200.0, "lifting": 200.0}


def _write_noise_fixture(data_dir: str, num: int, seed: int) -> None:
    """RHD-layout fixture: noise images, two random point clouds, masks around them."""
    import cv2

    from hand3d_tf.data.rhd import write_rhd_split

    rng = np.random.default_rng(seed)
    K = np.array([[280.0, 0, 160], [0, 280.0, 160], [0, 0, 1]], np.float32)

    def samples():
        for i in range(num):
            xyz = np.concatenate(
                [
                    np.array(
                        [rng.uniform(-0.08, 0.08), rng.uniform(-0.08, 0.08), rng.uniform(0.5, 0.8)]
                    )
                    + rng.normal(0, 0.04, (21, 3))
                    for _ in range(2)
                ]
            ).astype(np.float32)
            hom = xyz @ K.T
            uv = (hom[:, :2] / hom[:, 2:]).astype(np.float32)
            mask = np.zeros((320, 320), np.uint8)
            for p in uv[:21] if i % 2 else uv[21:]:
                cv2.circle(mask, (int(p[0]), int(p[1])), 6, 5 if i % 2 else 20, -1)
            yield dict(
                image=rng.integers(0, 255, (320, 320, 3), dtype=np.uint8),
                mask=mask,
                xyz=xyz,
                uv=uv,
                vis=rng.random(42) < 0.8,
                K=K,
                id=i,
            )

    write_rhd_split(data_dir, "training", samples())


def _ensure_data(data_dir: str | None, num: int, seed: int) -> tuple[str, str]:
    if data_dir:
        return data_dir, "given"
    if os.path.isfile(os.path.join(DEFAULT_DIR, "training", "anno_training.pickle")):
        return DEFAULT_DIR, "cached"
    try:
        import hand3d_tf.cli.make_synthetic  # noqa: F401

        subprocess.run(
            [
                sys.executable,
                "-m",
                "hand3d_tf.cli.make_synthetic",
                f"--output_dir={DEFAULT_DIR}",
                f"--num_train={num}",
                "--num_eval=64",
                f"--seed={seed}",
            ],
            check=True,
        )
        return DEFAULT_DIR, "synthetic"
    except (ImportError, subprocess.CalledProcessError) as err:
        print(f"synthetic generator unavailable ({err}); writing a noise fixture", file=sys.stderr)
    _write_noise_fixture(DEFAULT_DIR, num, seed)
    return DEFAULT_DIR, "noise fixture"


def measure(dataset, batch_size: int, warmup: int, batches: int) -> float:
    """Samples per second over ``batches`` batches after ``warmup`` batches."""
    it = iter(dataset)
    for _ in range(warmup):
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch_size / (time.perf_counter() - start)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_pipelines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data_dir", default=None, help="RHD-layout root (with training/)")
    p.add_argument("--num", type=int, default=256, help="samples to generate without --data_dir")
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from hand3d_tf.data import pipelines
    from hand3d_tf.data.rhd import RHDReader

    data_dir, origin = _ensure_data(args.data_dir, args.num, args.seed)
    source = RHDReader(data_dir, "training").to_source()
    builders = {
        "handsegnet": (pipelines.handsegnet_dataset, "handsegnet_rhd"),
        "posenet": (pipelines.posenet_dataset, "posenet_rhd"),
        "lifting": (pipelines.lifting_dataset, "lifting_rhd"),
    }
    rates = {}
    for name, (build, preset) in builders.items():
        cfg = pipelines.preset(preset, batch_size=args.batch_size, seed=args.seed)
        rates[name] = measure(build(source, cfg), args.batch_size, args.warmup, args.batches)
        verdict = "ok" if rates[name] >= TARGETS[name] else f"BELOW target {TARGETS[name]:.0f}"
        print(f"{name:10s} {rates[name]:8.1f} samples/s  ({verdict})")
    cpus = os.cpu_count()
    print(
        f"| input pipelines (tf.data, batch {args.batch_size}, {len(source)} samples, {origin}) "
        f"| {platform.machine()} {cpus} CPU cores | HandSegNet {rates['handsegnet']:.0f} / "
        f"PoseNet {rates['posenet']:.0f} / lifting {rates['lifting']:.0f} samples/s |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
