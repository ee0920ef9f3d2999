"""Continue training the default model's three nets on a lent GPU, with JAX (no TensorFlow).

    python tools/gpu_train/train.py --init=weights/default --out=$OUT --seconds=420

What it does, in one process (docs/training.md, "Training on a lent GPU"):
- CPU workers (all cores but one) render synthetic v2 samples without pause
  (hand3d_tf.data.synthetic.generate_sample, stream ``split_seed(--data_seed, "training")``,
  a stream no held-out set uses) and reduce each to what training needs
  (hand3d_tf.jax.samples.prepare). Samples are streamed into a ring buffer on the GPU.
- The GPU trains HandSegNet, PoseNet and the lifting net in turn on random batches of the
  buffer (hand3d_tf.jax.batches: the ``<net>_rhd`` augmentations drawn on the GPU), with
  the nets and the original's losses of hand3d_tf.jax (docs/original.md §9), Adam with TF
  defaults, bfloat16 compute and float32 weights. Each net is built with the config of
  ``<init>/<net>.json``; the lifting net must be the "proposed" variant without dropout
  (the samples carry its targets only; the JAX nets have no dropout).
- With ``--real=PACK`` (a hand3d_tf.data.pack file of labelled photographs,
  ``--real_fraction`` of each batch, 0.5 by default): HandSegNet batches draw that share
  from the packed samples with a trusted mask, PoseNet batches from all packed samples,
  the lifting from none (no 3D); hand3d_tf.jax.mixing. They sit on the GPU beside the
  ring and get the renders' augmentations.
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

from hand3d_tf.constants import NETS  # noqa: E402 (after the sys.path line)


# ------------------------------------------------------------------ CPU side
def _render(args):
    from hand3d_tf.data.synthetic import SyntheticConfig, generate_sample
    from hand3d_tf.jax.samples import prepare

    stream, index = args
    return prepare(generate_sample(SyntheticConfig(), stream, index))


class GpuRing:
    """Samples on the GPU: fixed-size arrays filled chunk by chunk (a ring once full).

    Only the training thread calls ``add`` (the update donates the old arrays, so no other
    reference to them may be in use).
    """

    def __init__(self, capacity: int):
        import jax
        import jax.numpy as jnp

        from hand3d_tf.jax.samples import FIELDS

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


def feed(pool, chunks, chunk: int, stream: int, stop: threading.Event) -> None:
    """Render samples with the process pool; put stacked chunks on the queue ``chunks``."""
    from hand3d_tf.jax.samples import stack

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
def load_configs(init: str, nets) -> dict:
    """{net: config dataclass} from ``<init>/<net>.json`` (the paper's config where absent)."""
    from hand3d_tf.spec.configs import HandSegNetConfig, PoseNetConfig, PosePriorConfig

    classes = {"handsegnet": HandSegNetConfig, "posenet": PoseNetConfig,
               "lifting": PosePriorConfig}  # fmt: skip
    configs = {}
    for net in nets:
        path = pathlib.Path(init) / f"{net}.json"
        values = json.loads(path.read_text()).get("config", {}) if path.exists() else {}
        configs[net] = classes[net].from_dict(values)
    lifting = configs.get("lifting")
    if lifting is not None and (lifting.variant != "proposed" or lifting.dropout):
        raise ValueError(
            f"train.py trains the 'proposed' lifting variant without dropout only (the samples "
            f"carry its targets; hand3d_tf.jax.nets has no dropout); {init}/lifting.json has "
            f"variant={lifting.variant!r}, dropout={lifting.dropout!r}"
        )
    return configs


def make_steps(configs: dict, dtype_name: str):
    """{net: jitted step(params, opt_state, ring arrays, idx, real arrays, real idx, key, lr)}
    for the nets of ``configs`` (real arrays None and real idx empty: renders only)."""
    import jax
    import jax.numpy as jnp
    import optax

    from hand3d_tf.jax import batches, losses, mixing, nets

    dtype = jnp.bfloat16 if dtype_name == "bfloat16" else jnp.float32

    def gather(arrays, idx):  # (ring arrays, real arrays), (ring idx, real idx)
        return mixing.gather(arrays[0], idx[0], arrays[1], idx[1], concat=jnp.concatenate)

    def handsegnet_loss(p, arrays, idx, key):
        image, mask = batches.handsegnet_batch(gather(arrays, idx), key)
        logits = nets.handsegnet(p, image, configs["handsegnet"], dtype)
        return losses.handsegnet_loss(logits, mask)["loss"]

    def posenet_loss(p, arrays, idx, key):
        crops, maps, vis = batches.posenet_batch(gather(arrays, idx), key)
        return losses.posenet_loss(nets.posenet(p, crops, configs["posenet"], dtype), maps, vis)[
            "loss"
        ]

    def lifting_loss(p, arrays, idx, key):
        pooled, side, targets = batches.lifting_batch(gather(arrays, idx), key)
        out = nets.lifting(p, pooled, side, configs["lifting"], dtype)
        return losses.lifting_loss("proposed", out, targets)["loss"]

    loss_fns = {"handsegnet": handsegnet_loss, "posenet": posenet_loss, "lifting": lifting_loss}
    steps = {}
    for net in configs:
        grad = jax.value_and_grad(loss_fns[net])

        def step(p, opt_state, arrays, idx, real, real_idx, key, lr, grad=grad):
            loss, g = grad(p, (arrays, real), (idx, real_idx), key)
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
    ap.add_argument("--real", default=None, help="a hand3d_tf.data.pack file of photographs")
    ap.add_argument("--real_fraction", type=float, default=None,
                    help="share of each HandSegNet and PoseNet batch from --real (0.5)")  # fmt: skip
    args = ap.parse_args()
    if args.real_fraction is not None and not args.real:
        ap.error("--real_fraction needs --real")
    fraction = 0.5 if args.real_fraction is None else args.real_fraction
    if not 0.0 <= fraction <= 1.0:
        ap.error(f"--real_fraction must be in [0, 1]; received {fraction}")
    t0 = time.time()

    import queue

    from hand3d_tf.data.pack import PackError, read_pack
    from hand3d_tf.data.synthetic import split_seed
    from hand3d_tf.jax import mixing

    # The render workers are forked before JAX starts (forking a process that runs JAX's
    # threads can deadlock).
    pool = mp.get_context("fork").Pool(args.workers)
    chunks: queue.Queue = queue.Queue(maxsize=64)
    stream = split_seed(args.data_seed, "training")
    stop = threading.Event()
    feeder = threading.Thread(target=feed, args=(pool, chunks, 64, stream, stop), daemon=True)
    feeder.start()

    real = None
    if args.real:
        # After the fork (OpenCV's threads, which decoding starts, must not be forked) and
        # while the workers render the first samples.
        try:
            real = read_pack(args.real, workers=min(8, os.cpu_count() or 1))
        except PackError as err:
            print(f"train.py: error: {err}", file=sys.stderr, flush=True)
            stop.set()
            closer = threading.Thread(target=pool.terminate, daemon=True)
            closer.start()
            closer.join(timeout=10)
            return 2
        print(f"{args.real}: {len(real)} real samples ({int(real.mask_trusted.sum())} with "
              f"trusted masks) decoded in {time.time() - t0:.1f} s", flush=True)  # fmt: skip

    import jax
    import jax.numpy as jnp
    import optax

    from hand3d_tf.jax.params import check_params, load_npz, save_npz

    nets = [n for n in args.nets.split(",") if n]
    batch = {k: int(v) for k, v in (x.split("=") for x in args.batch.split(","))}
    base_lr = {k: float(v) for k, v in (x.split("=") for x in args.lr.split(","))}
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print("devices:", jax.devices(), flush=True)

    configs = load_configs(args.init, nets)
    params = {}
    for n in nets:
        arrays = load_npz(f"{args.init}/{n}.npz")
        check_params(n, arrays, configs[n])
        params[n] = {k: jnp.asarray(v) for k, v in arrays.items()}
    opt = {n: optax.adam(1.0).init(params[n]) for n in nets}
    steps = make_steps(configs, args.dtype)
    ring = GpuRing(args.capacity)
    mixes = mixing.plan(nets, batch, fraction, None if real is None else real.mask_trusted)
    real_arrays = None if real is None else {k: jnp.asarray(v) for k, v in real.samples.items()}
    log = {"args": vars(args), "stream_seed": stream, "losses": {n: [] for n in nets},
           "steps": {n: 0 for n in nets}, "lr_changes": {n: [] for n in nets}}  # fmt: skip
    if real is not None:
        log["real"] = {"pack": args.real, "samples": len(real), "sources": real.header["sources"],
                       "quality": real.header["quality"], "subset": real.header["subset"],
                       "nets": {n: {"pool": len(m.pool), "per_batch": m.per_batch}
                                for n, m in mixes.items()}}  # fmt: skip
        print(f"real samples trained on: {mixing.describe(mixes, batch)}", flush=True)

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
            idx, real_idx = mixing.draw(rng, mixes[n], batch[n], ring.filled())
            key, sub = jax.random.split(key)
            params[n], opt[n], loss = steps[n](params[n], opt[n], ring.arrays, jnp.asarray(idx),
                                               real_arrays, jnp.asarray(real_idx), sub, lr)  # fmt: skip
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
                save_npz(out / f"mid_{n}.npz", jax.device_get(params[n]))
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
            save_npz(out / f"{n}.npz", jax.device_get(params[n]))
    log["rendered"] = ring.count
    if real is not None:  # real samples drawn per net over the run (with repeats)
        log["real"]["drawn"] = {n: log["steps"][n] * mixes[n].per_batch for n in nets}
    log["seconds"] = round(time.time() - t0, 1)
    (out / "train_log.json").write_text(json.dumps(log, indent=1))
    drawn = f" real drawn={log['real']['drawn']}" if real is not None else ""
    print(f"done: steps={log['steps']} samples={ring.count}{drawn} in {log['seconds']} s",
          flush=True)  # fmt: skip
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
