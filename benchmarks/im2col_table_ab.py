"""im2col and col2im of whole planes: by their loops, or by a table of every tap's pixel.

    python benchmarks/im2col_table_ab.py [--calls 30] [--json PATH]

minicnn/engine/kernels/im2col_col2im.py copies a plane's windows either by
loops that set up runs of pixels (``_im2col_loops``, ``_col2im_loops``) or
through a table (``_im2col_table_loops``, ``_col2im_table_loops``), the
table below IM2COL_TABLE_BELOW (COL2IM_TABLE_BELOW) windows a plane. This
script times both on the same arrays, in one process, one call of each in turn, on one thread (the
loops called as each of minicnn's threads calls them), float32, and checks
that they agree bit for bit. The cases are the convolutions of keras-MNIST
(5x5 and 13x13 planes) and planes from 7x7 to 56x56: where the table stops
paying sets the two thresholds.
"""

import argparse
import json
import pathlib
import time

import numpy

from minicnn.engine.kernels import im2col_col2im as kernels
from minicnn.engine.kernels.compiled import ints

CASES = (  # batch, channels, plane side, kernel side, padding
    (128, 64, 5, 3, 0),      # keras-MNIST's third convolution: 3x3 windows
    (32, 64, 5, 3, 0),
    (128, 64, 9, 3, 0),      # 7x7 windows
    (128, 32, 13, 3, 0),     # keras-MNIST's second convolution: 11x11 windows
    (128, 32, 14, 3, 1),     # 14x14
    (32, 3, 32, 3, 1),       # 32x32
    (32, 16, 56, 3, 1),      # 56x56
)


def _paths(function, threshold_name, *arguments):
    """(loops, table): calls of ``function`` with its threshold set to take each path."""
    def by(threshold):
        def call():
            previous = getattr(kernels, threshold_name)
            setattr(kernels, threshold_name, threshold)
            try:
                function(*arguments)
            finally:
                setattr(kernels, threshold_name, previous)
        return call
    return by(0), by(10**9)


def time_pair(calls, pair):
    """Median seconds of each of the two calls, one of each in turn."""
    for call in pair:
        call()                                        # compile, and warm the caches
    times = ([], [])
    for _ in range(calls):
        for k, call in enumerate(pair):
            start = time.perf_counter()
            call()
            times[k].append(time.perf_counter() - start)
    return [float(numpy.median(t)) for t in times]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    rng = numpy.random.default_rng(0)
    print(f"table below {kernels.IM2COL_TABLE_BELOW} windows (im2col), {kernels.COL2IM_TABLE_BELOW} "
          f"(col2im); one thread, float32, {args.calls} calls each, alternating")
    print("| planes (N, C, H, W) | kernel, padding | windows | im2col loops ms | table ms | table / loops "
          "| col2im loops ms | table ms | table / loops |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    results = []
    for n, c, side, kernel, padding in CASES:
        out = side + 2 * padding - kernel + 1
        x = rng.standard_normal(n * c * side * side).astype(numpy.float32)
        geometry = ints(n, c, side, side, kernel, kernel, 1, 1, padding, padding, 1, 1, out, out)
        cols = [numpy.empty(c * kernel * kernel * n * out * out, numpy.float32) for _ in range(2)]
        images = [numpy.empty(n * c * side * side, numpy.float32) for _ in range(2)]
        unfold = [_paths(kernels.im2col_planes, "IM2COL_TABLE_BELOW", x, *geometry, 0.0, cols[k], 0, n * c)[k]
                  for k in range(2)]
        for call in unfold:
            call()
        assert numpy.array_equal(cols[0], cols[1])
        fold = [_paths(kernels.col2im_planes, "COL2IM_TABLE_BELOW", cols[0], *geometry, images[k], 0, n * c)[k]
                for k in range(2)]
        for call in fold:
            call()
        assert numpy.array_equal(images[0], images[1])
        im2col_ms = [t * 1e3 for t in time_pair(args.calls, unfold)]
        col2im_ms = [t * 1e3 for t in time_pair(args.calls, fold)]
        results.append({"planes": [n, c, side, side], "kernel": kernel, "padding": padding,
                        "windows": out * out, "im2col_ms": im2col_ms, "col2im_ms": col2im_ms})
        print(f"| ({n}, {c}, {side}, {side}) | {kernel}x{kernel}, {padding} | {out * out} | "
              f"{im2col_ms[0]:.3f} | {im2col_ms[1]:.3f} | {im2col_ms[1] / im2col_ms[0]:.2f} | "
              f"{col2im_ms[0]:.3f} | {col2im_ms[1]:.3f} | {col2im_ms[1] / col2im_ms[0]:.2f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"im2col_table_below": kernels.IM2COL_TABLE_BELOW,
                                         "col2im_table_below": kernels.COL2IM_TABLE_BELOW,
                                         "calls": args.calls,
                                         "results": results}, indent=1))


if __name__ == "__main__":
    main()
