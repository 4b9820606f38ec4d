"""F(4x4, 3x3) against F(2x2, 3x3), layer by layer: zfnet_small's four 3x3 layers (channels,
filters, size; padding 1), float32, forward (with what backward needs) and backward (all three
gradients), the two alternating call by call in one process, minicnn's default threads.
Median ms of 25 rounds after 5.

    python benchmarks/results/winograd-4x4-2026-12-07/layers_ab.py BATCH
"""

import sys
import time

import numpy

from minicnn.engine.kernels import winograd, winograd_4x4

batch = int(sys.argv[1]) if len(sys.argv) > 1 else 32
rng = numpy.random.default_rng(1)
LAYERS = [(32, 64, 14), (64, 96, 7), (96, 96, 7), (96, 64, 7)]
VERSIONS = {"F(2x2)": (winograd.winograd_forward_numba, winograd.winograd_backward_numba),
            "F(4x4)": (winograd_4x4.winograd_4x4_forward_numba, winograd_4x4.winograd_4x4_backward_numba)}


def forward_backward(forward, backward, x, weight, bias, grad_y):
    start = time.perf_counter()
    _, saved = forward(x, weight, bias, (1, 1), x.shape[2:])
    middle = time.perf_counter()
    backward(grad_y, saved, x.shape, (1, 1), True, True, True)
    return middle - start, time.perf_counter() - middle


totals = {name: numpy.zeros(2) for name in VERSIONS}
for channels, filters, size in LAYERS:
    x = rng.standard_normal((batch, channels, size, size)).astype(numpy.float32)
    weight = rng.standard_normal((filters, channels, 3, 3)).astype(numpy.float32)
    bias = numpy.zeros(filters, numpy.float32)
    grad_y = rng.standard_normal((batch, filters, size, size)).astype(numpy.float32)
    times = {name: [] for name in VERSIONS}
    for _ in range(30):
        for name, (forward, backward) in VERSIONS.items():
            times[name].append(forward_backward(forward, backward, x, weight, bias, grad_y))
    line = f"batch {batch} (C, F, size) {(channels, filters, size)}"
    for name in VERSIONS:
        median = numpy.median(numpy.array(times[name][5:]), axis=0) * 1e3
        totals[name] += median
        line += f"  {name} forward {median[0]:.2f} backward {median[1]:.2f} ms"
    print(line)
two, four = totals["F(2x2)"], totals["F(4x4)"]
print(f"batch {batch} four layers: F(2x2) forward {two[0]:.2f} backward {two[1]:.2f} ms, F(4x4) forward "
      f"{four[0]:.2f} backward {four[1]:.2f} ms; F(4x4) / F(2x2): forward {four[0] / two[0]:.2f}, backward "
      f"{four[1] / two[1]:.2f}, both {four.sum() / two.sum():.2f}")
