"""Training step time per net and width, float32 vs mixed precision, on this machine.

    python -m benchmarks.bench_precision [--nets=handsegnet,posenet,lifting]
        [--widths=0.125,0.25] [--policies=float32,mixed_bfloat16] [--steps=5] [--batch=8]

One train step = forward, float32 loss, gradients, Adam update, as the trainer runs it
(``hand3d_tf.training.trainer``'s step on random inputs of the training shapes: HandSegNet
on 256x256 crops, PoseNet on 256x256 crops, the lifting on 32x32x21 score maps). Prints the
median over ``--steps`` timed steps after two warm-up steps (tracing), and, last, markdown
rows for benchmarks/RESULTS.md with what "auto" resolves to here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def step_time(net: str, width: float, policy: str, steps: int, batch: int) -> float:
    """Median seconds of one training step."""
    import tensorflow as tf

    from hand3d_tf.training import presets, trainer
    from hand3d_tf.training.initialization import build_model
    from hand3d_tf.training.strategy import precision_policy

    config = presets.TrainConfig(net=net, width=width, batch_size=batch, precision=policy)
    with precision_policy(policy):
        model = build_model(config)
    optimizer = trainer.make_optimizer(config, policy)
    rng = tf.random.Generator.from_seed(0)
    if net == "lifting":
        inputs = {
            "scoremap": rng.uniform((batch, 32, 32, 21)),
            "hand_side": tf.one_hot(tf.zeros(batch, tf.int32), 2),
        }
        targets = {
            "xyz_canonical": rng.uniform((batch, 21, 3)),
            "rot_mat": rng.uniform((batch, 3, 3)),
        }
    else:
        inputs = {"image": rng.uniform((batch, 256, 256, 3)) - 0.5}
        targets = {
            "hand_mask": tf.one_hot(tf.zeros((batch, 256, 256), tf.int32), 2),
            "scoremap": rng.uniform((batch, 256, 256, 21)),  # PoseNet's loss resizes to this
            "keypoint_vis": tf.ones((batch, 21), tf.bool),
        }
    mixed = policy == "mixed_float16"

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            outputs = trainer.forward(model, net, inputs, training=True)
            loss = trainer.compute_loss(config, outputs, targets, batch)["loss"]
            scaled = optimizer.get_scaled_loss(loss) if mixed else loss
        grads = tape.gradient(scaled, model.trainable_variables)
        if mixed:
            grads = optimizer.get_unscaled_gradients(grads)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    for _ in range(2):
        step().numpy()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step().numpy()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default="handsegnet,posenet,lifting")
    parser.add_argument("--widths", default="0.125,0.25")
    parser.add_argument("--lifting_widths", default="0.5")
    parser.add_argument("--policies", default="float32,mixed_bfloat16")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from hand3d_tf.training.strategy import cpu_flags, resolve_precision

    policies = args.policies.split(",")
    rows = []
    for net in args.nets.split(","):
        widths = args.lifting_widths if net == "lifting" else args.widths
        for width in (float(w) for w in widths.split(",")):
            times = {p: step_time(net, width, p, args.steps, args.batch) for p in policies}
            base = times[policies[0]]
            cells = " | ".join(
                f"{times[p] * 1000:.0f} ms ({base / times[p]:.2f}x)" for p in policies
            )
            rows.append(f"| {net} | {width} | {args.batch} | {cells} |")
            print(rows[-1], flush=True)
    bf16 = sorted({"amx_bf16", "avx512_bf16", "avx512f", "amx_tile"} & cpu_flags())
    print(
        f"\nCPU bf16-related flags: {', '.join(bf16) or 'none'}; auto -> {resolve_precision('auto')}"
    )
    print(f"| net | width | batch | {' | '.join(policies)} |")
    print("|---|---|---|" + "---|" * len(policies))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
