"""Where F(4x4,3x3)'s time goes inside real training steps: each section of
winograd_4x4_forward_numba and winograd_4x4_backward_numba (its share_out calls, named by their
loops, and its products) wrapped in a timer, ms per step.

    python benchmarks/results/winograd-sections-2026-12-07/inside_step.py --model M --batch B --steps S
"""

import collections
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "winograd-runs-2026-12-07"))

from common import machine_line, options, setup, train_step  # noqa: E402

from minicnn.engine.kernels import winograd_4x4  # noqa: E402

arguments = options(steps=30)
seconds = collections.defaultdict(float)


def timed(name, function):
    def run(*arguments, **keywords):
        start = time.perf_counter()
        try:
            return function(*arguments, **keywords)
        finally:
            seconds[name if isinstance(name, str) else name(*arguments)] += time.perf_counter() - start
    return run


for attribute in ("products", "products_together"):
    if hasattr(winograd_4x4, attribute):
        setattr(winograd_4x4, attribute, timed("products", getattr(winograd_4x4, attribute)))
winograd_4x4.share_out = timed(lambda loops, *rest: "transform " + loops.__name__, winograd_4x4.share_out)
for name in ("forward", "backward"):
    attribute = f"winograd_4x4_{name}_numba"
    setattr(winograd_4x4, attribute, timed(f"the route's {name}, in all", getattr(winograd_4x4, attribute)))

model, x, labels, optimizer = setup(arguments.model, arguments.batch)
for _ in range(5):
    train_step(model, x, labels, optimizer)
seconds.clear()
start = time.perf_counter()
for _ in range(arguments.steps):
    train_step(model, x, labels, optimizer)
step = (time.perf_counter() - start) / arguments.steps
print(machine_line())
print(f"{arguments.model}, batch {arguments.batch}, {arguments.steps} training steps of {step * 1e3:.2f} ms")
for name, total in sorted(seconds.items()):
    print(f"{name:45s} {total / arguments.steps * 1e3:6.2f} ms a step")
