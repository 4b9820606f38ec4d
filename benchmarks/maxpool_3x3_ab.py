"""3x3 max pooling with stride 2: its own loops against the loops it replaced, in one process.

    python benchmarks/maxpool_3x3_ab.py [--calls 30] [--json PATH]

minicnn/engine/kernels/pooling.py pools 3x3 windows with stride 2 (ZFNet's
and AlexNet's) with ``_maxpool_3x3_stride2_loops``; before, they took
``_maxpool_forward_loops`` (windows clipped at the edge: ceil_mode, padding)
or ``_maxpool_inside_loops`` (every tap inside). This script calls both on
the same planes, one call of each in turn, on one thread (as each of
minicnn's threads calls them), float32, checks that they agree bit for bit,
and prints the median of each and new / old. The planes: zfnet_small's two
ceil-mode pools at batch 32 and 128, and pools with every tap inside.
"""

import argparse
import json
import pathlib
import time

import numpy

from minicnn.engine.kernels import pooling
from minicnn.engine.kernels.compiled import ints
from minicnn.engine.shapes import conv_output_size

CASES = (  # (N, C, H, W), padding, ceil_mode
    ((32, 32, 28, 28), 0, True),      # zfnet_small's first pool, batch 32
    ((128, 32, 28, 28), 0, True),     # the same, batch 128
    ((32, 64, 14, 14), 0, True),      # zfnet_small's second pool, batch 32
    ((128, 64, 14, 14), 0, True),
    ((32, 64, 13, 13), 0, False),     # every tap inside (13 = 2*6 + 1)
    ((32, 64, 7, 7), 0, False),       # zfnet_small's last pool
    ((32, 32, 27, 27), 1, False),     # padding 1
)


def old_loops(x, padding, out):
    """The call the 3x3/2 windows took before: the inside loop, or the general one."""
    n, c, height, width = x.shape
    maxima = numpy.empty(n * c * out[0] * out[1], x.dtype)
    switches = numpy.empty(n * c * out[0] * out[1], numpy.int64)
    flat = x.reshape(-1)
    if all(pooling.all_taps_inside(size, 3, 2, padding, 1, o) for size, o in zip((height, width), out)):
        settings = ints(height, width, 2, 2, 1, 1, 3, 3, *out)
        return (lambda: pooling._maxpool_inside_loops(flat, *settings, maxima, switches, 0, n * c),
                (maxima, switches))
    rows = pooling._taps_inside(out[0], 3, 2, padding, 1, height)
    columns = pooling._taps_inside(out[1], 3, 2, padding, 1, width)
    settings = ints(n * c, height, width, 2, 2, padding, padding, 1, 1)
    minus_infinity = x.dtype.type(-numpy.inf)
    return (lambda: pooling._maxpool_forward_loops(flat, *settings, rows, columns, minus_infinity, maxima,
                                                   switches, 0, n * c), (maxima, switches))


def new_loops(x, padding, out):
    n, c, height, width = x.shape
    maxima = numpy.empty(n * c * out[0] * out[1], x.dtype)
    switches = numpy.empty(n * c * out[0] * out[1], numpy.int64)
    settings = ints(height, width, padding, padding, *out)
    flat = x.reshape(-1)
    return (lambda: pooling._maxpool_3x3_stride2_loops(flat, *settings, maxima, switches, 0, n * c),
            (maxima, switches))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    rng = numpy.random.default_rng(0)
    print(f"one thread, float32, {args.calls} calls each, alternating")
    print("| planes (N, C, H, W) | padding, ceil_mode | replaced loop | its ms | 3x3/2 loop ms | new / old |")
    print("|---|---|---|---:|---:|---:|")
    results = []
    for shape, padding, ceil_mode in CASES:
        out = tuple(conv_output_size(size, 3, 2, padding, ceil_mode=ceil_mode) for size in shape[2:])
        x = rng.standard_normal(shape).astype(numpy.float32)
        (old, old_out), (new, new_out) = old_loops(x, padding, out), new_loops(x, padding, out)
        old(), new()
        assert all(numpy.array_equal(a, b) for a, b in zip(old_out, new_out)), "the loops disagree"
        times = ([], [])
        for _ in range(args.calls):
            for k, call in enumerate((old, new)):
                start = time.perf_counter()
                call()
                times[k].append(time.perf_counter() - start)
        old_ms, new_ms = (float(numpy.median(t)) * 1e3 for t in times)
        name = "inside" if all(pooling.all_taps_inside(s, 3, 2, padding, 1, o)
                               for s, o in zip(shape[2:], out)) else "general (clipped)"
        results.append({"planes": list(shape), "padding": padding, "ceil_mode": ceil_mode, "replaced": name,
                        "old_ms": old_ms, "new_ms": new_ms})
        print(f"| {shape} | {padding}, {ceil_mode} | {name} | {old_ms:.3f} | {new_ms:.3f} | "
              f"{new_ms / old_ms:.2f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"calls": args.calls, "results": results}, indent=1))


if __name__ == "__main__":
    main()
