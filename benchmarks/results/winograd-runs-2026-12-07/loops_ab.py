"""Winograd's four tile transforms, one thread, alternating call by call at zfnet_small's batch-32 sizes.

    python benchmarks/results/winograd-runs-2026-12-07/loops_ab.py [--pairs 60]

For each of zfnet_small's four 3x3 layers (batch 32) and each transform,
times the engine's loop and the other version in alternating calls on the
calling thread (the whole range of planes) and prints the medians and the
median of the per-pair ratios (other / engine, or engine / before). Rows:
    output, dL/dy     the engine (along runs) against tile_by_tile.py (before)
    input, adjoint    tried_runs.py (along runs, not kept) against the engine
    input, phases     tried_runs.py's third try at the input transform
Also checks that both give the same numbers (largest difference printed).
"""

import argparse
import pathlib
import sys
import time

import numpy

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import common  # noqa: E402
import tile_by_tile  # noqa: E402
import tried_runs  # noqa: E402
from minicnn.engine.kernels import winograd  # noqa: E402
from minicnn.engine.kernels.compiled import ints  # noqa: E402

LAYERS = [(32, 32, 14, 64), (32, 64, 7, 96), (32, 96, 7, 96), (32, 96, 7, 64)]   # N, C, H=W, F


def alternate(first, second, first_args, second_args, pairs):
    """Medians (ms) of first and second, and the median of second/first over the pairs."""
    first(*first_args), second(*second_args)
    a, b = [], []
    for _ in range(pairs):
        start = time.perf_counter(); first(*first_args); a.append(time.perf_counter() - start)
        start = time.perf_counter(); second(*second_args); b.append(time.perf_counter() - start)
    a, b = numpy.array(a), numpy.array(b)
    return numpy.median(a) * 1e3, numpy.median(b) * 1e3, float(numpy.median(b / a))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=60)
    pairs = parser.parse_args().pairs
    print(common.machine_line(), "| these loops on one thread")
    rng = numpy.random.default_rng(0)
    totals = {}
    for n, c, h, f in LAYERS:
        ty, tx = winograd.tiles((h, h))
        t = n * ty * tx
        x = rng.standard_normal(n * c * h * h).astype(numpy.float32)
        grad_y = rng.standard_normal(n * f * h * h).astype(numpy.float32)
        m = rng.standard_normal(16 * f * t).astype(numpy.float32)
        grad_v = rng.standard_normal(16 * c * t).astype(numpy.float32)
        bias = rng.standard_normal(f).astype(numpy.float32)

        def two(shape):
            return numpy.empty(shape, numpy.float32), numpy.empty(shape, numpy.float32)

        ya, yb = two(n * f * h * h)
        ga, gb = two(16 * f * t)
        sa, sb = numpy.empty(n * f), numpy.empty(n * f)
        va, vb = two(16 * c * t)
        xa, xb = two(n * c * h * h)
        cases = {
            "output (engine / before)": (tile_by_tile._output_loops, winograd._output_loops,
                                         (m, *ints(n, f, h, h, ty, tx), bias, ya, 0, n * f),
                                         (m, *ints(n, f, h, h, ty, tx), bias, yb, 0, n * f),
                                         lambda: numpy.abs(ya - yb).max()),
            "dL/dy (engine / before)": (tile_by_tile._gradient_loops, winograd._gradient_loops,
                                        (grad_y, *ints(n, f, h, h, ty, tx), ga, sa, 0, n * f),
                                        (grad_y, *ints(n, f, h, h, ty, tx), gb, sb, 0, n * f),
                                        lambda: max(numpy.abs(ga - gb).max(), numpy.abs(sa - sb).max())),
            "input (tried / engine)": (winograd._input_loops, tried_runs._input_loops,
                                       (x, *ints(n, c, h, h, 1, 1, ty, tx), va, 0, n * c),
                                       (x, *ints(n, c, h, h, 1, 1, ty, tx), vb, 0, n * c),
                                       lambda: numpy.abs(va - vb).max()),
            "input, phases (tried / engine)": (winograd._input_loops, tried_runs._input_loops_from_phases,
                                               (x, *ints(n, c, h, h, 1, 1, ty, tx), va, 0, n * c),
                                               (x, *ints(n, c, h, h, 1, 1, ty, tx), vb, 0, n * c),
                                               lambda: numpy.abs(va - vb).max()),
            "adjoint (tried / engine)": (winograd._input_adjoint_loops, tried_runs._input_adjoint_loops,
                                         (grad_v, *ints(n, c, h, h, 1, 1, ty, tx), xa, 0, n * c),
                                         (grad_v, *ints(n, c, h, h, 1, 1, ty, tx), xb, 0, n * c),
                                         lambda: numpy.abs(xa - xb).max()),
        }
        print(f"layer (N, C, H, F) = {(n, c, h, f)}")
        for name, (first, second, first_args, second_args, difference) in cases.items():
            a, b, ratio = alternate(first, second, first_args, second_args, pairs)
            total = totals.setdefault(name, [0.0, 0.0])
            total[0] += a
            total[1] += b
            print(f"  {name:26s} {a:7.3f} -> {b:7.3f} ms   ratio {ratio:.3f}   "
                  f"largest difference {difference():.1e}")
    print("four layers together (sums of medians):")
    for name, (a, b) in totals.items():
        print(f"  {name:26s} {a:7.3f} -> {b:7.3f} ms   {b / a:.3f}")


if __name__ == "__main__":
    main()
