"""Throughput of the synthetic RHD-format generator on ONE core (target >= 25 samples/s
including PNG writing, docs/performance.md).

    python -m benchmarks.bench_synthetic [--num=200] [--seed=0] [--generator_version=1 2]

Measures samples/s of generate_sample alone (in memory) and of generate + write (the three
PNGs per sample; the annotation pickle is written once per split and not counted), after
``--warmup`` samples that fill the per-process caches, for each generator version given
(both by default, in one process, so that they share the machine's load). OpenCV is pinned
to one thread. The lines printed last are markdown table rows for benchmarks/RESULTS.md.
TF-free.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import sys
import tempfile
import time

TARGET = 25.0  # samples/s on one core, generate + write (docs/performance.md)


def measure(config, seed: int, num: int, warmup: int, write_dir=None) -> tuple[float, float]:
    """(wall, cpu) samples/s over ``num`` samples after ``warmup``, optionally writing them.

    The CPU-time rate (this process only) is what one dedicated core would give; the wall
    rate drops when other jobs share the machine.
    """
    from hand3d_tf.data.synthetic.sample import generate_sample
    from hand3d_tf.data.synthetic.writer import write_sample_files

    for i in range(warmup):
        generate_sample(config, seed, 10**6 + i)
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in range(num):
        sample = generate_sample(config, seed, i)
        if write_dir is not None:
            write_sample_files(write_dir, i, sample)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return num / wall, num / cpu


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_synthetic",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--num", type=int, default=200, help="timed samples per measurement")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--generator_version", type=int, nargs="+", default=[1, 2], choices=[1, 2])
    args = p.parse_args(argv)

    import cv2

    cv2.setNumThreads(1)
    from hand3d_tf.data.synthetic import SyntheticConfig

    rows = []
    for version in args.generator_version:
        config = SyntheticConfig(generator_version=version)
        gen = measure(config, args.seed, args.num, args.warmup)
        with tempfile.TemporaryDirectory(prefix="hand3d_bench_synthetic_") as tmp:
            split_dir = pathlib.Path(tmp)
            for sub in ("color", "mask", "depth"):
                (split_dir / sub).mkdir()
            gen_write = measure(config, args.seed, args.num, args.warmup, write_dir=split_dir)
        verdict = "ok" if gen_write[1] >= TARGET else f"BELOW target {TARGET:.0f}"
        for name, (wall, cpu) in (("generate", gen), ("generate+write", gen_write)):
            print(f"v{version} {name:15s} {cpu:7.1f} samples/s per CPU-second, {wall:7.1f} wall")
        print(f"v{version} generate+write: {verdict}")
        rows.append(
            f"| synthetic generator v{version} ({config.image_size}x{config.image_size}, "
            f"{args.num} samples, 1 core) | {platform.machine()} {os.cpu_count()} CPU cores, "
            f"load {os.getloadavg()[0]:.1f} | generate {gen[1]:.0f} / generate+write "
            f"{gen_write[1]:.0f} samples/s (CPU time; wall {gen[0]:.0f} / {gen_write[0]:.0f}) |"
        )
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
