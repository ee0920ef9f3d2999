"""Continue training the default model's three nets on a lent GPU, with JAX (no TensorFlow).

    python tools/gpu_train/train.py --init=weights/default --out=$OUT --seconds=420

What it does, in one process (docs/training.md, "Training on a lent GPU"):
- CPU workers (all cores but one) render synthetic v2 samples without pause
  (hand3d_tf.data.synthetic.generate_sample, stream ``split_seed(--data_seed, "training")``,
  a stream no held-out set uses) and reduce each to what training needs: the 320x320 image,
  the binary hand mask, and the chosen hand's 21 keypoints with the pipeline's palm root,
  truncated uv, mask-chosen hand side and lifting targets (hand3d_tf.data.pipelines /
  targets, docs/original.md §8.3). Samples are streamed into a ring buffer on the GPU.
- The GPU trains HandSegNet, PoseNet and the lifting net in turn on random batches of the
  buffer, with the ``<net>_rhd`` pipeline noises drawn on the GPU, the original's losses
  (docs/original.md §9), Adam with TF defaults, bfloat16 compute and float32 weights
  (jax_port.py).
- The learning rate of each net is the net's value in ``--lr`` (``net=rate,...``) for the first 60 % of the time budget,
  a third of it until 85 %, a tenth after; the step at which each change happened is logged.
- At the end (and at 60 % of the budget, as ``mid_<net>.npz``) it writes
  ``<out>/<net>.npz`` with the same names and shapes as the init files, plus
  ``<out>/train_log.json`` (steps, samples rendered, losses every 200 steps).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import pathlib
import sys
import threading
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools" / "gpu_train"))

IMAGE = 320
NETS = ("handsegnet", "posenet", "lifting")


# ------------------------------------------------------------------ CPU side
def prepare(sample: dict) -> dict:
    """One generate_sample dict -> the fields the three nets train on (NumPy).

    Mirrors pipelines.make_target_fn's derive() before the noises: uv truncated as the RHD
    reader does, wrists replaced by palm centres, the hand side chosen from mask pixel
    counts (ties: right), that hand's 21 keypoints, and the lifting targets of
    hand3d_tf.geometry (normalised, canonical frame, right hands mirrored, R = M^T).
    """
    from hand3d_tf import geometry
    from hand3d_tf import keypoints as kp

    mask = sample["mask"]
    uvv = sample["uv_vis"]
    xyz = sample["xyz"].astype(np.float32)
    uv = np.trunc(np.clip(uvv[:, :2], -1e6, 1e6)).astype(np.float32)
    vis = uvv[:, 2] == 1
    half = kp.NUM_KEYPOINTS
    a, b = kp.PALM_FROM
    for base in (0, half):
        xyz[base] = 0.5 * (xyz[base + a] + xyz[base + b])
        uv[base] = 0.5 * (uv[base + a] + uv[base + b])
        vis[base] = vis[base + a] or vis[base + b]
    m = mask.astype(np.int32)
    left = int(np.count_nonzero((m > kp.MASK_PERSON) & (m < kp.MASK_RIGHT_FIRST)))
    right = int(np.count_nonzero(m >= kp.MASK_RIGHT_FIRST))
    side = 0 if left > right else 1
    sl = slice(0, half) if side == 0 else slice(half, 2 * half)
    xyz21, uv21, vis21 = xyz[sl], uv[sl], vis[sl]
    normed, _ = geometry.normalize(xyz21.astype(np.float64))
    canonical, rot = geometry.canonical_frame(normed)
    canonical = geometry.flip_right_hand(canonical, side == 1)
    return {
        "image": sample["color"],
        "hand": (m > kp.MASK_PERSON).astype(np.uint8),
        "uv21": uv21,
        "vis21": vis21,
        "side": np.int32(side),
        "xyz_canonical": np.asarray(canonical, np.float32),
        "rot_mat": np.asarray(geometry.canonical_rotation_target(rot), np.float32),
    }


def _render(args):
    from hand3d_tf.data.synthetic import SyntheticConfig, generate_sample

    stream, index = args
    return prepare(generate_sample(SyntheticConfig(), stream, index))


FIELDS = {
    "image": ((IMAGE, IMAGE, 3), np.uint8),
    "hand": ((IMAGE, IMAGE), np.uint8),
    "uv21": ((21, 2), np.float32),
    "vis21": ((21,), np.bool_),
    "side": ((), np.int32),
    "xyz_canonical": ((21, 3), np.float32),
    "rot_mat": ((3, 3), np.float32),
}


class GpuRing:
    """Samples on the GPU: fixed-size arrays filled chunk by chunk (a ring once full).

    Only the training thread calls ``add`` (the update donates the old arrays, so no other
    reference to them may be in use).
    """

    def __init__(self, capacity: int):
        import jax
        import jax.numpy as jnp

        self.capacity = capacity
        self.arrays = {k: jnp.zeros((capacity, *s), d) for k, (s, d) in FIELDS.items()}
        self.count = 0  # samples written so far (also past capacity)

        def put(arrays, chunk_arrays, start):
            return {
                k: jax.lax.dynamic_update_slice_in_dim(arrays[k], chunk_arrays[k], start, 0)
                for k in arrays
            }

        self._put = jax.jit(put, donate_argnums=(0,))

    def add(self, chunk: dict) -> None:
        n = len(chunk["side"])
        start = self.count % self.capacity
        if start + n > self.capacity:  # keep chunks whole: wrap to the start
            start = 0
        self.arrays = self._put(self.arrays, chunk, start)
        self.count += n

    def filled(self) -> int:
        return min(self.count, self.capacity)


def stack(samples: list[dict]) -> dict:
    return {k: np.stack([s[k] for s in samples]).astype(FIELDS[k][1]) for k in FIELDS}


def feed(pool, chunks, chunk: int, stream: int, stop: threading.Event) -> None:
    """Render samples with the process pool; put stacked chunks on the queue ``chunks``."""
    window = 16 * chunk
    start = 0
    while not stop.is_set():
        jobs = [(stream, i) for i in range(start, start + window)]
        start += window
        pending = []
        for sample in pool.imap(_render, jobs, chunksize=4):
            pending.append(sample)
            if len(pending) == chunk:
                chunks.put(stack(pending))
                pending = []
            if stop.is_set():
                return


# ------------------------------------------------------------------ GPU side
def make_steps(batch: dict, dtype_name: str):
    import jax
    import jax.numpy as jnp
    import jax_port as jp
    import optax

    dtype = jnp.bfloat16 if dtype_name == "bfloat16" else jnp.float32

    def tn(key, shape, sigma):
        return jax.random.truncated_normal(key, -2.0, 2.0, shape) * sigma

    def gather(arrays, idx):
        return {k: v[idx] for k, v in arrays.items()}

    def handseg_batch(arrays, idx, key):
        b = gather(arrays, idx)
        k1, k2, k3 = jax.random.split(key, 3)
        n = idx.shape[0]
        top = jax.random.randint(k1, (n,), 0, IMAGE - 256 + 1)
        left = jax.random.randint(k2, (n,), 0, IMAGE - 256 + 1)

        def crop(img, hand, t, lf):
            ci = jax.lax.dynamic_slice(img, (t, lf, 0), (256, 256, 3))
            cm = jax.lax.dynamic_slice(hand, (t, lf), (256, 256))
            return ci, cm

        img, hand = jax.vmap(crop)(b["image"], b["hand"], top, left)
        img = img.astype(jnp.float32) / 255.0 - 0.5
        delta = jax.random.uniform(k3, (n,), minval=-0.1, maxval=0.1)
        img = jp.adjust_hue(img, delta)
        handf = hand.astype(jnp.float32)
        return img, jnp.stack([1.0 - handf, handf], -1)

    def crop_targets(b, key, lifting: bool):
        k1, k2, k3, k4 = jax.random.split(key, 4)
        n = b["uv21"].shape[0]
        uv = b["uv21"] + tn(k1, (n, 21, 2), 2.5)
        cnoise = tn(k2, (n, 2), 20.0)
        snoise = jax.random.uniform(k3, (n,), minval=1.0, maxval=1.2) if lifting else jnp.ones(n)
        onoise = tn(k4, (n, 2), 10.0) if lifting else jnp.zeros((n, 2))
        center, scale = jp.crop_center_and_scale(
            uv, b["vis21"], (IMAGE, IMAGE), cnoise, snoise, onoise
        )
        rowcol = jp.uv_to_crop(uv, center, scale)[..., ::-1]
        return center, scale, rowcol

    def posenet_batch(arrays, idx, key):
        b = gather(arrays, idx)
        center, scale, rowcol = crop_targets(b, key, lifting=False)
        img = b["image"].astype(jnp.float32) / 255.0 - 0.5
        crops = jp.crop_images(img, center, scale)
        return crops, jp.scoremaps(rowcol, b["vis21"]), b["vis21"]

    def lifting_batch(arrays, idx, key):
        b = gather(arrays, idx)
        _, _, rowcol = crop_targets(b, key, lifting=True)
        pooled = jp.pooled_scoremaps(rowcol, b["vis21"])
        side = jax.nn.one_hot(b["side"], 2)
        return pooled, side, b["xyz_canonical"], b["rot_mat"]

    def loss_fn(net):
        if net == "handsegnet":

            def f(p, arrays, idx, key):
                img, mask = handseg_batch(arrays, idx, key)
                return jp.handsegnet_loss(jp.handsegnet(p, img, dtype), mask)
        elif net == "posenet":

            def f(p, arrays, idx, key):
                crops, maps, vis = posenet_batch(arrays, idx, key)
                return jp.posenet_loss(jp.posenet(p, crops, dtype), maps, vis)
        else:

            def f(p, arrays, idx, key):
                pooled, side, can, rot = lifting_batch(arrays, idx, key)
                return jp.lifting_loss(jp.lifting(p, pooled, side, dtype), can, rot)

        return f

    steps = {}
    for net in NETS:
        grad = jax.value_and_grad(loss_fn(net))

        def step(p, opt_state, arrays, idx, key, lr, grad=grad):
            loss, g = grad(p, arrays, idx, key)
            tx = optax.adam(lr, b1=0.9, b2=0.999, eps=1e-8)
            updates, opt_state = tx.update(g, opt_state, p)
            return optax.apply_updates(p, updates), opt_state, loss

        steps[net] = jax.jit(step, donate_argnums=(0, 1))
    return steps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", default="weights/default")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=420.0)
    ap.add_argument("--data_seed", type=int, default=100)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--capacity", type=int, default=60000)
    ap.add_argument("--min_samples", type=int, default=1024)
    ap.add_argument("--batch", default="handsegnet=16,posenet=32,lifting=64")
    ap.add_argument("--lr", default="handsegnet=3e-5,posenet=1e-4,lifting=3e-5")
    ap.add_argument("--nets", default=",".join(NETS))
    ap.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.time()

    import queue

    from hand3d_tf.data.synthetic import split_seed

    # The render workers are forked before JAX starts (forking a process that runs JAX's
    # threads can deadlock).
    pool = mp.get_context("fork").Pool(args.workers)
    chunks: queue.Queue = queue.Queue(maxsize=64)
    stream = split_seed(args.data_seed, "training")
    stop = threading.Event()
    feeder = threading.Thread(target=feed, args=(pool, chunks, 64, stream, stop), daemon=True)
    feeder.start()

    import jax
    import jax.numpy as jnp
    import jax_port as jp
    import optax

    nets = [n for n in args.nets.split(",") if n]
    batch = {k: int(v) for k, v in (x.split("=") for x in args.batch.split(","))}
    base_lr = {k: float(v) for k, v in (x.split("=") for x in args.lr.split(","))}
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print("devices:", jax.devices(), flush=True)

    params = {n: {k: jnp.asarray(v) for k, v in jp.load_npz(f"{args.init}/{n}.npz").items()}
              for n in nets}  # fmt: skip
    opt = {n: optax.adam(1.0).init(params[n]) for n in nets}
    steps = make_steps(batch, args.dtype)
    ring = GpuRing(args.capacity)
    log = {"args": vars(args), "stream_seed": stream, "losses": {n: [] for n in nets},
           "steps": {n: 0 for n in nets}, "lr_changes": {n: [] for n in nets}}  # fmt: skip

    def drain(limit: int) -> None:
        for _ in range(limit):
            try:
                ring.add(chunks.get_nowait())
            except queue.Empty:
                return

    while ring.filled() < args.min_samples:
        ring.add(chunks.get())
    print(f"{ring.filled()} samples after {time.time() - t0:.1f} s; training", flush=True)

    rng = np.random.default_rng(args.seed)
    key = jax.random.PRNGKey(args.seed)
    budget_end = t0 + args.seconds
    start_train = time.time()
    span = budget_end - start_train
    mid_written = False
    running = {n: [] for n in nets}
    last_print = time.time()
    phase = {n: 0 for n in nets}
    status = 0
    while time.time() < budget_end and not status:
        drain(4)
        frac = (time.time() - start_train) / span
        level = 0 if frac < 0.6 else (1 if frac < 0.85 else 2)
        for n in nets:
            lr = base_lr[n] / (1, 3, 10)[level]
            if level != phase[n]:
                phase[n] = level
                log["lr_changes"][n].append({"step": log["steps"][n], "lr": lr})
            idx = jnp.asarray(rng.integers(0, ring.filled(), batch[n]), jnp.int32)
            key, sub = jax.random.split(key)
            params[n], opt[n], loss = steps[n](params[n], opt[n], ring.arrays, idx, sub, lr)
            log["steps"][n] += 1
            running[n].append(loss)
            if log["steps"][n] % 200 == 0:
                value = float(jnp.mean(jnp.stack(running[n])))
                running[n] = []
                if not np.isfinite(value):
                    print(f"{n}: non-finite loss at step {log['steps'][n]}; stopping", flush=True)
                    status = 1
                    break
                log["losses"][n].append([log["steps"][n], round(time.time() - t0, 1), value])
        if not mid_written and frac >= 0.6 and not status:
            for n in nets:
                jp.save_npz(out / f"mid_{n}.npz", jax.device_get(params[n]))
            log["mid_steps"] = dict(log["steps"])
            mid_written = True
        if time.time() - last_print > 20:
            last_print = time.time()
            latest = {n: (round(log["losses"][n][-1][2], 5) if log["losses"][n] else None)
                      for n in nets}  # fmt: skip
            print(f"t={time.time() - t0:.0f}s samples={ring.count} steps={log['steps']} "
                  f"loss={latest}", flush=True)  # fmt: skip
    # Save first, then stop the renderers: a second run on the GPU once hung in the pool's
    # shutdown after its time budget and lost its final weights (docs/training.md).
    if not status:
        for n in nets:
            jp.save_npz(out / f"{n}.npz", jax.device_get(params[n]))
    log["rendered"] = ring.count
    log["seconds"] = round(time.time() - t0, 1)
    (out / "train_log.json").write_text(json.dumps(log, indent=1))
    print(f"done: steps={log['steps']} samples={ring.count} in {log['seconds']} s", flush=True)
    stop.set()
    # Stop the renderers (so none is left writing to a closed pipe), but never wait long:
    # everything is saved already.
    closer = threading.Thread(target=pool.terminate, daemon=True)
    closer.start()
    closer.join(timeout=10)
    return status


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # the render pool and its feeder thread are not joined (see above)
