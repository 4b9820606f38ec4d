"""ReLU's loops on two threads from 512 KiB (SHARE_FROM_BYTES_COMPUTING) against minicnn's
rule (one thread below compiled.SHARE_FROM_BYTES, 4 MiB), alternating step by step in one
process, numba backend, default threads, nothing set.

    python benchmarks/results/sgd-and-pool-2026-12-07/relu_threads_ab.py --model keras_mnist_cnn --batch 32
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "winograd-runs-2026-12-07"))
from common import after_before, machine_line, options, setup, swapped, train_step  # noqa: E402

from minicnn.engine.kernels import compiled, relu  # noqa: E402

args = options(model="keras_mnist_cnn", steps=150)
model, x, labels, optimizer = setup(args.model, args.batch)
minicnn_share_out = relu.share_out


def shared_from_less(loops, total, *arguments, share_from_bytes=None):
    return minicnn_share_out(loops, total, *arguments, share_from_bytes=compiled.SHARE_FROM_BYTES_COMPUTING)


times = swapped(relu, "share_out", shared_from_less, lambda: train_step(model, x, labels, optimizer), args.steps)
print(machine_line())
print(f"{args.model} batch {args.batch}, {args.steps} training steps each, alternating; after: ReLU shared "
      f"out from {compiled.SHARE_FROM_BYTES_COMPUTING} bytes")
print(after_before(times["before"], times["after"]))
