"""F(4x4,3x3) forward and backward over zfnet_small's four 3x3 layers (float32, padding 1, all
three gradients): winograd_4x4.py as of an earlier commit ("before") against the working tree's
("after"), alternating call by call in one process, minicnn's default threads; checks that both
give the same numbers bit for bit. Median ms of 40 rounds after 5.

    python benchmarks/results/winograd-sections-2026-12-07/layers_ab.py --before COMMIT --batch B
"""

import argparse
import os
import sys
import time

import numpy

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "winograd-runs-2026-12-07"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from before import winograd_4x4_at  # noqa: E402
from common import machine_line  # noqa: E402

from minicnn.engine.kernels import winograd_4x4  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--before", default="HEAD")
parser.add_argument("--batch", type=int, default=32)
arguments = parser.parse_args()
before = winograd_4x4_at(arguments.before)
versions = {"before": before, "after": winograd_4x4}
LAYERS = [(32, 64, 14), (64, 96, 7), (96, 96, 7), (96, 64, 7)]        # (C, F, size)

print(machine_line())
rng = numpy.random.default_rng(1)
totals = {name: numpy.zeros(2) for name in versions}
for channels, filters, size in LAYERS:
    x = rng.standard_normal((arguments.batch, channels, size, size)).astype(numpy.float32)
    weight = rng.standard_normal((filters, channels, 3, 3)).astype(numpy.float32)
    bias = rng.standard_normal(filters).astype(numpy.float32)
    grad_y = rng.standard_normal((arguments.batch, filters, size, size)).astype(numpy.float32)
    results, times = {}, {name: [] for name in versions}
    for round_ in range(45):
        for name, module in versions.items():
            start = time.perf_counter()
            y, saved = module.winograd_4x4_forward_numba(x, weight, bias, (1, 1), (size, size))
            middle = time.perf_counter()
            gradients = module.winograd_4x4_backward_numba(grad_y, saved, x.shape, (1, 1), True, True, True)
            times[name].append((middle - start, time.perf_counter() - middle))
            if round_ == 0:
                results[name] = [y.copy()] + [gradient.copy() for gradient in gradients]
            del y, saved, gradients
    assert all(numpy.array_equal(mine, theirs) for mine, theirs in zip(results["before"], results["after"]))
    line = f"batch {arguments.batch} (C, F, size) {(channels, filters, size)}"
    for name in versions:
        median = numpy.median(numpy.array(times[name][5:]), axis=0) * 1e3
        totals[name] += median
        line += f"  {name} forward {median[0]:.2f} backward {median[1]:.2f} ms"
    print(line)
old, new = totals["before"], totals["after"]
print(f"batch {arguments.batch}, four layers, the same numbers bit for bit: before ({arguments.before}) forward "
      f"{old[0]:.2f} backward {old[1]:.2f} ms, after forward {new[0]:.2f} backward {new[1]:.2f} ms; "
      f"after / before: forward {new[0] / old[0]:.3f}, backward {new[1] / old[1]:.3f}, both "
      f"{new.sum() / old.sum():.3f}")
