"""How much of a training step the ReLU kernels take at most: whole steps with ReLU's forward
and backward as they are, and with both replaced by the identity (wrong numbers, only the
time counts), alternating step by step in one process. An upper bound on what folding ReLU
into the conv+pool routes could save.

    python benchmarks/results/switch-passes-2026-12-07/relu_bound.py --model keras_mnist_cnn --batch 32 --steps 80
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "winograd-runs-2026-12-07"))
from common import after_before, alternate, machine_line, options, setup, train_step  # noqa: E402

from minicnn.engine.functional import activation  # noqa: E402

args = options(model="keras_mnist_cnn", batch=32, steps=80)
print(machine_line())
model, x, labels, optimizer = setup(args.model, args.batch)
forward, backward = activation.ReLUFunction.forward, activation.ReLUFunction.backward


def as_they_are():
    activation.ReLUFunction.forward, activation.ReLUFunction.backward = forward, backward


def identity():
    activation.ReLUFunction.forward = lambda self, x: x
    activation.ReLUFunction.backward = lambda self, grad: grad


try:
    times = alternate({"before": as_they_are, "after": identity},
                      lambda: train_step(model, x, labels, optimizer), args.steps, warm_up=4)
finally:
    as_they_are()
print(f"{args.model}, batch {args.batch}, ReLU kernels taken out (the Python op kept):",
      after_before(times["before"], times["after"]))
