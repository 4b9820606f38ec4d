"""Max-pool's compiled loops, before and after a change, alternating in one process.

    git worktree add /tmp/before HEAD~1
    python benchmarks/maxpool_loops_ab.py /tmp/before [--calls 200]

The tree at the path is imported as a second package (``minicnn_before``,
copied to a temporary folder) beside this checkout's minicnn, so both
loops run on the same arrays, in the same process, one call each in turn:
the drift of a shared machine falls on both. One thread (the loops called
directly, as each of minicnn's threads calls them), float32, the windows
of zfnet_small's pools and keras-MNIST's. Prints the median and fastest
call of each and after / before.
"""

import argparse
import pathlib
import shutil
import sys
import tempfile
import time

import numpy

CASES = (  # (N, C, H, W), kernel, stride: every tap inside, so _maxpool_inside_loops
    ((32, 64, 7, 7), 3, 2),       # zfnet_small's last pool, batch 32
    ((128, 64, 7, 7), 3, 2),      # the same, batch 128
    ((32, 64, 13, 13), 3, 2),     # a 3x3/2 pool on 13x13 planes
    ((32, 32, 26, 26), 2, 2),     # keras-MNIST's first pool (2x2: its own loop, unchanged)
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=pathlib.Path, help="a source tree of minicnn (a git worktree)")
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args(argv)
    folder = pathlib.Path(tempfile.mkdtemp())
    shutil.copytree(args.before / "minicnn", folder / "minicnn_before",
                    ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, str(folder))
    from minicnn.engine.kernels import pooling as after
    from minicnn.engine.kernels.compiled import ints
    from minicnn_before.engine.kernels import pooling as before

    def once(function):
        start = time.perf_counter()
        function()
        return time.perf_counter() - start

    rng = numpy.random.default_rng(0)
    print("| planes (N, C, H, W) | window | before ms (fastest) | after ms (fastest) | after / before |")
    print("|---|---|---:|---:|---:|")
    for (n, c, h, w), kernel, stride in CASES:
        out = ((h - kernel) // stride + 1, (w - kernel) // stride + 1)
        x = rng.standard_normal((n, c, h, w)).astype(numpy.float32).reshape(-1)
        outputs = [(numpy.empty(n * c * out[0] * out[1], numpy.float32),
                    numpy.empty(n * c * out[0] * out[1], numpy.int64)) for _ in range(2)]
        settings = ints(h, w, stride, stride, 1, 1, kernel, kernel, *out)
        calls = [lambda module=module, y=y, s=s: module._maxpool_inside_loops(x, *settings, y, s, 0, n * c)
                 for module, (y, s) in zip((before, after), outputs)]
        for call in calls:
            call()                                               # compiled (or loaded) before timing
        assert all(numpy.array_equal(a, b) for a, b in zip(*outputs)), "the two trees disagree"
        times = ([], [])
        for _ in range(args.calls):
            for slot, call in enumerate(calls):
                times[slot].append(once(call))
        medians = [sorted(t)[len(t) // 2] * 1e3 for t in times]
        fastest = [min(t) * 1e3 for t in times]
        print(f"| {(n, c, h, w)} | {kernel}x{kernel}/{stride} | {medians[0]:.3f} ({fastest[0]:.3f}) | "
              f"{medians[1]:.3f} ({fastest[1]:.3f}) | {medians[1] / medians[0]:.2f} |")


if __name__ == "__main__":
    main()
