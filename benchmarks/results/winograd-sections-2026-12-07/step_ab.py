"""Whole steps with winograd_4x4.py as of an earlier commit ("before") and as in the working tree
("after"), alternating step by step in one process: training and inference, zfnet_small by default.

    python benchmarks/results/winograd-sections-2026-12-07/step_ab.py --before COMMIT --batch B --steps S

The earlier file is loaded as a module of its own from git; only the route's two functions
(winograd_4x4_forward_numba, winograd_4x4_backward_numba) are swapped between steps.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "winograd-runs-2026-12-07"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from before import winograd_4x4_at  # noqa: E402
from common import after_before, alternate, infer_step, machine_line, setup, train_step  # noqa: E402

from minicnn.engine.kernels import winograd_4x4  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--before", default="HEAD")
parser.add_argument("--model", default="zfnet_small")
parser.add_argument("--batch", type=int, default=32)
parser.add_argument("--steps", type=int, default=60)
arguments = parser.parse_args()

before = winograd_4x4_at(arguments.before)

NAMES = ("winograd_4x4_forward_numba", "winograd_4x4_backward_numba")
after = {name: getattr(winograd_4x4, name) for name in NAMES}


def put(functions):
    for name in NAMES:
        setattr(winograd_4x4, name, functions[name])


versions = {"before": lambda: put({name: getattr(before, name) for name in NAMES}),
            "after": lambda: put(after)}
print(machine_line())
model, x, labels, optimizer = setup(arguments.model, arguments.batch)
try:
    times = alternate(versions, lambda: train_step(model, x, labels, optimizer), arguments.steps, 4)
    print(f"{arguments.model} batch {arguments.batch} training, winograd_4x4.py of {arguments.before} "
          f"(before) and now (after), {arguments.steps} steps each: "
          f"{after_before(times['before'], times['after'])}")
    times = alternate(versions, lambda: infer_step(model, x), arguments.steps, 4)
    print(f"{arguments.model} batch {arguments.batch} inference: {after_before(times['before'], times['after'])}")
finally:
    put(after)
