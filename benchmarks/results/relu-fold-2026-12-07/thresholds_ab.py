"""Two thresholds that decide when a second thread takes part, against their values in the
engine, alternating whole training steps in one process (after / before):

    split:  threads.SPLIT_FROM_MULTIPLY_ADDS, 2**23 -> 2**24: keras-MNIST's third layer at
            batch 32, (64, 576, 288) = 10.6 million multiply-adds a product, then runs whole
            on the calling thread (and zfnet_small's (128, 256, 256) dense product at 128)
    im2col: im2col and col2im shared out from 1 MB rather than half a megabyte: keras-MNIST's
            third layer at batch 32 (0.87 MB) then runs whole

    python benchmarks/results/relu-fold-2026-12-07/thresholds_ab.py --model keras_mnist_cnn --batch 32 --steps 60 --knob split
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "winograd-runs-2026-12-07"))
from common import after_before, machine_line, setup, swapped, train_step  # noqa: E402

from minicnn.engine import threads  # noqa: E402
from minicnn.engine.kernels import im2col_col2im  # noqa: E402

KNOBS = {"split": (threads, "SPLIT_FROM_MULTIPLY_ADDS", 2**24),
         "im2col": (im2col_col2im, "SHARE_FROM_BYTES_COMPUTING", 1 << 20)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="keras_mnist_cnn")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--knob", choices=sorted(KNOBS), default="split")
    args = parser.parse_args()
    model, x, labels, optimizer = setup(args.model, args.batch)
    owner, name, value = KNOBS[args.knob]
    times = swapped(owner, name, value, lambda: train_step(model, x, labels, optimizer), args.steps)
    print(machine_line())
    print(f"{args.model}, batch {args.batch}, {args.steps} steps each, {name} {getattr(owner, name)} -> "
          f"{value}: {after_before(times['before'], times['after'])}")


if __name__ == "__main__":
    main()
