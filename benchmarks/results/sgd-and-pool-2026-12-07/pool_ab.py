"""3x3 max pooling with stride 2 from four phases (tried_pool_phases.py) against minicnn's loop,
alternating step by step in one process: zfnet_small's training step (its first layer's pool,
in the direct route, and its second, after Winograd, go through this loop), numba backend,
default threads, nothing set. First checks that both give the same maxima and switches.

    python benchmarks/results/sgd-and-pool-2026-12-07/pool_ab.py --batch 32 --steps 60
"""

import pathlib
import sys

import numpy

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "winograd-runs-2026-12-07"))
sys.path.insert(0, str(HERE))
from common import after_before, machine_line, options, setup, swapped, train_step  # noqa: E402
import tried_pool_phases  # noqa: E402

from minicnn.engine.kernels import pooling  # noqa: E402
from minicnn.engine.kernels.compiled import flat, ints  # noqa: E402

args = options()

minicnn_loop, phases = pooling._maxpool_3x3_stride2_loops, tried_pool_phases.maxpool_3x3_stride2_from_phases
rng = numpy.random.default_rng(0)
for (n, c, h, w, oh, ow, py, px) in [(32, 64, 14, 14, 7, 7, 0, 0), (32, 32, 28, 28, 14, 14, 0, 0),
                                     (8, 16, 13, 13, 7, 7, 1, 1), (4, 8, 11, 9, 6, 5, 1, 0)]:
    for dtype in (numpy.float32, numpy.float64):
        x = rng.integers(-2, 3, (n, c, h, w)).astype(dtype)
        x.ravel()[::37], x.ravel()[::41] = numpy.nan, -numpy.inf
        results = []
        for loops in (minicnn_loop, phases):
            y, s = numpy.empty((n, c, oh, ow), dtype), numpy.empty((n, c, oh, ow), numpy.int64)
            loops(flat(x), *ints(h, w, py, px, oh, ow), y.reshape(-1), s.reshape(-1), 0, n * c)
            results.append((y, s))
        assert numpy.array_equal(results[0][0], results[1][0], equal_nan=True), (n, c, h, w, dtype)
        assert numpy.array_equal(results[0][1], results[1][1]), (n, c, h, w, dtype)

# the loops alone, one thread, alternating call by call, at zfnet_small's two sizes (batch 32)
import time  # noqa: E402
for (n, c, h, w, oh, ow) in [(32, 32, 28, 28, 14, 14), (32, 64, 14, 14, 7, 7)]:
    x = rng.standard_normal((n, c, h, w)).astype(numpy.float32)
    y, s = numpy.empty((n, c, oh, ow), numpy.float32), numpy.empty((n, c, oh, ow), numpy.int64)
    arguments = (flat(x), *ints(h, w, 0, 0, oh, ow), y.reshape(-1), s.reshape(-1), 0, n * c)
    seconds = {minicnn_loop: [], phases: []}
    for round_ in range(42):
        for loops in seconds:
            start = time.perf_counter()
            loops(*arguments)
            if round_ >= 2:
                seconds[loops].append(time.perf_counter() - start)
    before, after = numpy.median(seconds[minicnn_loop]), numpy.median(seconds[phases])
    print(f"the loops alone, {n * c} planes {h}x{w} -> {oh}x{ow}, float32, one thread: minicnn's "
          f"{before * 1e6:.0f} us, from phases {after * 1e6:.0f} us; after / before "
          f"{numpy.median(numpy.array(seconds[phases]) / numpy.array(seconds[minicnn_loop])):.3f} "
          f"(median of pairs)")

model, x, labels, optimizer = setup(args.model, args.batch)
times = swapped(pooling, "_maxpool_3x3_stride2_loops", phases, lambda: train_step(model, x, labels, optimizer),
                args.steps)
print(machine_line())
print(f"{args.model} batch {args.batch}, {args.steps} training steps each, alternating; the same maxima "
      f"and switches on 8 drawn cases")
print(after_before(times["before"], times["after"]))
