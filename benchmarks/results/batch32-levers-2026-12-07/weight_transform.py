"""Winograd's filter transform U = G w G^T with every channel of a filter at once (the channels
as vector lanes), against the engine's loop, which transforms one (filter, channel) at a time:
timed alone, one thread, alternating, at zfnet_small's four 3x3 layers; the results compared
bit for bit (float32 and float64, odd sizes, a share of the filters).

    python benchmarks/results/batch32-levers-2026-12-07/weight_transform.py

The same arithmetic on the same values in the same order: a filter's 3x3 taps gathered into
(9, C), G w down the three columns of every channel at once, then (G w) G^T along the rows,
written straight into U's runs of C.
"""

import os
import sys
import time

import numba
import numpy

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "winograd-runs-2026-12-07"))
from common import machine_line  # noqa: E402

from minicnn.engine.kernels import winograd, winograd_4x4  # noqa: E402
from minicnn.engine.kernels.compiled import ints  # noqa: E402

TWO_BY_TWO = '''
def channels_at_once(weight, filters, channels, out, first, last):
    half = numpy.full(1, 0.5, dtype=weight.dtype)[0]
    taps = numpy.empty(9 * channels, dtype=weight.dtype)
    columns = numpy.empty(12 * channels, dtype=weight.dtype)
    for f in range(first, last):
        for c in range(channels):
            for t in range(9):
                taps[t * channels + c] = weight[unsigned((f * channels + c) * 9 + t)]
        for j in range(3):
            for c in range(channels):
                store_four(columns, 4 * j * channels + c, channels,
                           _g(taps[j * channels + c], taps[(3 + j) * channels + c],
                              taps[(6 + j) * channels + c], half))
        for i in range(4):
            for c in range(channels):
                store_four(out, (4 * i * filters + f) * channels + c, filters * channels,
                           _g(columns[i * channels + c], columns[(4 + i) * channels + c],
                              columns[(8 + i) * channels + c], half))
'''
FOUR_BY_FOUR = '''
def channels_at_once(weight, filters, channels, out, first, last):
    taps = numpy.empty(9 * channels, dtype=weight.dtype)
    columns = numpy.empty(18 * channels, dtype=numpy.float64)
    for f in range(first, last):
        for c in range(channels):
            for t in range(9):
                taps[t * channels + c] = weight[unsigned((f * channels + c) * 9 + t)]
        for j in range(3):
            for c in range(channels):
                _store6(columns, 6 * j * channels + c, channels,
                        _g(taps[j * channels + c], taps[(3 + j) * channels + c], taps[(6 + j) * channels + c]))
        for i in range(6):
            for c in range(channels):
                _store6(out, (6 * i * filters + f) * channels + c, filters * channels,
                        _g(columns[i * channels + c], columns[(6 + i) * channels + c],
                           columns[(12 + i) * channels + c]))
'''


def compiled(module, source):
    namespace = dict(vars(module))
    exec(source, namespace)
    return numba.njit(nogil=True, fastmath=False)(namespace["channels_at_once"])


def main():
    print(machine_line(), "(one thread: the loops are called directly)")
    rng = numpy.random.default_rng(0)
    for module, source, values in ((winograd, TWO_BY_TWO, 16), (winograd_4x4, FOUR_BY_FOUR, 36)):
        engine, trial = module._weight_loops, compiled(module, source)
        same = True
        for filters, channels in ((5, 3), (1, 1), (7, 13), (64, 32)):
            for dtype in (numpy.float32, numpy.float64):
                weight = rng.standard_normal((filters, channels, 3, 3)).astype(dtype).reshape(-1)
                for first in (0, filters // 2):
                    a, b = (numpy.full(values * filters * channels, numpy.nan, dtype) for _ in range(2))
                    engine(weight, *ints(filters, channels), a, first, filters)
                    trial(weight, *ints(filters, channels), b, first, filters)
                    same &= numpy.array_equal(a, b, equal_nan=True)
        totals = {"engine": [], "trial": []}
        for filters, channels in ((64, 32), (96, 64), (96, 96), (64, 96)):
            weight = rng.standard_normal((filters, channels, 3, 3)).astype(numpy.float32).reshape(-1)
            out = numpy.empty(values * filters * channels, numpy.float32)
            times = {"engine": [], "trial": []}
            for _ in range(100):
                for name, loops in (("engine", engine), ("trial", trial)):
                    start = time.perf_counter()
                    loops(weight, *ints(filters, channels), out, 0, filters)
                    times[name].append(time.perf_counter() - start)
            for name in times:
                totals[name].append(numpy.median(times[name][10:]))
        engine_ms, trial_ms = sum(totals["engine"]) * 1e3, sum(totals["trial"]) * 1e3
        print(f"{module.__name__.split('.')[-1]}: the four layers' U, float32: engine {engine_ms:.3f} ms, "
              f"channels at once {trial_ms:.3f} ms ({trial_ms / engine_ms:.2f}); the same bit for bit: {same}")


if __name__ == "__main__":
    main()
