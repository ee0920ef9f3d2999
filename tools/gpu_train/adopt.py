"""Give weights trained by tools/gpu_train/train.py their ``<net>.json`` and check them.

    .venv/bin/python tools/gpu_train/adopt.py --trained=DIR --init=weights/default \
        --output=DIR2 --note="GPU stage 7: run 1 final (14,823 steps)" [--prefix=mid_]

For each net, ``DIR/<prefix><net>.npz`` must hold exactly the names, shapes and dtypes
(float32) of ``<init>/<net>.npz`` and only finite values. It is copied to
``DIR2/<net>.npz`` with a ``<net>.json`` made from the init's (same net config), whose
provenance names this trainer, the note and the init file's sha256, and whose npz_sha256
is the new file's. The loader (hand3d_tf.weights.load_weights) then accepts the pair.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

NETS = ("handsegnet", "posenet", "lifting")


def _shown(path: pathlib.Path) -> str:
    """``path`` relative to the repository when it lies inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def adopt(trained: pathlib.Path, init: pathlib.Path, output: pathlib.Path, note: str,
          prefix: str = "") -> None:  # fmt: skip
    from hand3d_tf.files import sha256_file

    output.mkdir(parents=True, exist_ok=True)
    for net in NETS:
        src = trained / f"{prefix}{net}.npz"
        with np.load(src, allow_pickle=False) as new, np.load(init / f"{net}.npz") as old:
            if sorted(new.files) != sorted(old.files):
                raise SystemExit(f"{src}: names differ from {init / net}.npz")
            for key in old.files:
                if new[key].shape != old[key].shape or new[key].dtype != np.float32:
                    raise SystemExit(f"{src}: {key} is {new[key].shape} {new[key].dtype}, "
                                     f"expected {old[key].shape} float32")  # fmt: skip
                if not np.all(np.isfinite(new[key])):
                    raise SystemExit(f"{src}: {key} holds non-finite values")
        dst = output / f"{net}.npz"
        shutil.copyfile(src, dst)
        meta = json.loads((init / f"{net}.json").read_text())
        meta["provenance"] = {
            "trained_by": "tools/gpu_train/train.py (JAX on a lent GPU, docs/training.md)",
            "note": note,
            "init_weights": f"{_shown(init / f'{net}.npz')} (sha256 {sha256_file(init / f'{net}.npz')})",
        }
        meta["npz_sha256"] = sha256_file(dst)
        (output / f"{net}.json").write_text(json.dumps(meta, indent=2) + "\n")
        print(f"{dst}: ok")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trained", required=True, type=pathlib.Path)
    ap.add_argument("--init", default=ROOT / "weights" / "default", type=pathlib.Path)
    ap.add_argument("--output", required=True, type=pathlib.Path)
    ap.add_argument("--note", required=True)
    ap.add_argument("--prefix", default="")
    args = ap.parse_args()
    adopt(args.trained, args.init, args.output, args.note, args.prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
