"""Whole training steps with the ReLU after a conv+pool folded into that op, against the
ReLU run as its own op after it (the engine before the fold), alternating step by step in
one process.

    python benchmarks/results/relu-fold-2026-12-07/relu_fold_ab.py --model keras_mnist_cnn --batch 32 --steps 60

Both versions give the same numbers bit for bit: the script checks the loss and every
parameter's gradient before it times anything.
"""

import os
import statistics
import sys

import numpy

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "winograd-runs-2026-12-07"))
from common import alternate, machine_line, options, setup, train_step  # noqa: E402

import minicnn as mc  # noqa: E402
from minicnn import functional as F  # noqa: E402
from minicnn import nn  # noqa: E402

folded_forward = nn.Sequential.forward


def separate_forward(self, x):
    """Sequential.forward as it was before the fold: the ReLU its own op after conv+pool."""
    layers = list(self)
    for how, positions in self.plan():
        if how == "conv+pool":
            conv, relu, pool = (layers[i] for i in positions)
            x = relu(conv.forward_then_max_pool(x, pool))
        elif how == "pool first":
            relu, pool = (layers[i] for i in positions)
            x = relu(pool(x))
        else:
            x = layers[positions[0]](x)
    return x


def gradients(model, x, labels):
    mc.manual_seed(0)                                   # dropout's draws: the same in both
    for p in model.parameters():
        p.grad = None
    loss = F.cross_entropy(model(x), labels)
    loss.backward()
    return [loss.data.copy()] + [p.grad.copy() for p in model.parameters()]


def main():
    args = options("keras_mnist_cnn", 32, 60)
    model, x, labels, optimizer = setup(args.model, args.batch)
    results = {}
    for name, forward in (("folded", folded_forward), ("separate", separate_forward)):
        nn.Sequential.forward = forward
        results[name] = gradients(model, x, labels)
    same = all(numpy.array_equal(a, b) for a, b in zip(results["folded"], results["separate"]))
    if not same:
        raise SystemExit("the two versions differ: not timed")
    versions = {"folded": lambda: setattr(nn.Sequential, "forward", folded_forward),
                "separate": lambda: setattr(nn.Sequential, "forward", separate_forward)}
    times = alternate(versions, lambda: train_step(model, x, labels, optimizer), args.steps, warm_up=5)
    nn.Sequential.forward = folded_forward
    pairs = [a / b for a, b in zip(times["folded"], times["separate"])]
    print(machine_line())
    print(f"{args.model}, batch {args.batch}, {args.steps} steps each, same bits: {same}; "
          f"folded {statistics.median(times['folded']) * 1e3:.2f} ms, separate "
          f"{statistics.median(times['separate']) * 1e3:.2f} ms; folded / separate "
          f"{statistics.median(times['folded']) / statistics.median(times['separate']):.3f} (medians), "
          f"{statistics.median(pairs):.3f} (median of step pairs)")


if __name__ == "__main__":
    main()
